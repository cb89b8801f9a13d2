"""``lw-remediate store``: the store's schema (``migrate``) and moving a SQLite store
to PostgreSQL (``copy``)."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from .options import config_option, echo_json, json_option


@click.group("store")
def store_group() -> None:
    """The store: SQLite ([store] path) or PostgreSQL ([store] url)."""


@store_group.command("migrate")
@config_option
@json_option
def migrate_command(config_path: str | None, as_json: bool) -> None:
    """Bring the store's schema up to this version (the daemon also does it on start).

    Migrations are versioned and forward-only; running it again changes nothing.
    """
    from ..config import load_config
    from ..runtime import make_store

    config = load_config(config_path)
    result = asyncio.run(_migrate(make_store(config)))
    if as_json:
        echo_json(result)
        return
    applied = ", ".join(str(v) for v in result["applied"]) or "none"
    click.echo(
        f"{result['backend']} store at schema version {result['version']} (applied: {applied})"
    )


async def _migrate(store: Any) -> dict[str, Any]:
    from ..store import PostgresStore, SqliteStore
    from ..store.postgres_schema import current_version
    from ..store.sqlite import SCHEMA_VERSION

    if isinstance(store, PostgresStore):
        await store.open()  # migrates
        try:
            async with store.pool.acquire() as conn:
                version = await current_version(conn)
                rows = await conn.fetch("SELECT version FROM schema_migrations ORDER BY version")
        finally:
            await store.close()
        return {
            "backend": "postgresql",
            "version": version,
            "applied": store.applied,
            "history": [r["version"] for r in rows],
        }
    assert isinstance(store, SqliteStore)
    await store.open()
    await store.close()
    return {"backend": "sqlite", "version": SCHEMA_VERSION, "applied": [], "path": store.path}


@store_group.command("copy")
@click.option(
    "--from", "source", required=True, metavar="sqlite:PATH", help="The SQLite store to copy."
)
@click.option(
    "--to",
    "target",
    default=None,
    metavar="postgresql://...",
    help="The PostgreSQL store (default: [store] url); migrated, and it must be empty.",
)
@config_option
@json_option
def copy_command(source: str, target: str | None, config_path: str | None, as_json: bool) -> None:
    """Copy history, inbox and safety state from SQLite into an empty PostgreSQL store.

    Ids are kept; one transaction, so a failure copies nothing. Stop the daemon using
    the SQLite file first.
    """
    import os

    from ..config import load_config
    from ..redact import register
    from ..store import PostgresStore

    if not source.startswith("sqlite:") or not source[len("sqlite:") :]:
        raise click.BadParameter("use sqlite:PATH", param_hint="--from")
    path = source[len("sqlite:") :]
    if not os.path.isfile(path):
        raise click.BadParameter(f"{path}: no such file", param_hint="--from")
    url = target or load_config(config_path).store.resolved_url
    if not url or not url.startswith(("postgresql://", "postgres://")):
        raise click.BadParameter("a postgresql:// URL (or [store] url)", param_hint="--to")
    register([url])
    counts = asyncio.run(_copy(path, PostgresStore(url)))
    if as_json:
        echo_json({"copied": counts})
        return
    total = sum(counts.values())
    detail = ", ".join(f"{table} {n}" for table, n in counts.items() if n)
    click.echo(f"copied {total} rows from {path}: {detail or 'nothing to copy'}")


async def _copy(path: str, store: Any) -> dict[str, int]:
    from ..errors import LwRemediateError
    from ..store.copy import CopyRefused, copy_sqlite_to_postgres

    await store.open()
    try:
        return await copy_sqlite_to_postgres(path, store)
    except CopyRefused as exc:
        raise LwRemediateError(f"store copy: {exc}") from None
    finally:
        await store.close()
