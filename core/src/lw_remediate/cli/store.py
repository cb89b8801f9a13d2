"""``lw-remediate store``: the store's schema (``migrate``)."""

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
