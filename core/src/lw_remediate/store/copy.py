"""Copy a SQLite store into an empty PostgreSQL store (``lw-remediate store copy``):
history, inbox and safety state, ids kept, for an operator moving to several
instances."""

from __future__ import annotations

import sqlite3
from typing import Any

from .postgres import PostgresStore
from .rows import read_body

#: In dependency order (violations name inbox rows, actions name violations).
TABLES = (
    "inbox",
    "violations",
    "actions",
    "audit",
    "changes",
    "approvals",
    "exemptions",
    "flapping",
    "notices",
    "sweeps",
)


class CopyRefused(Exception):
    """The target already holds data, or the source is not a store."""


def _read(path: str, table: str, wanted: list[str]) -> tuple[list[str], list[tuple[Any, ...]]]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if not have:
            return [], []
        columns = [c for c in wanted if c in have]
        rows = conn.execute(
            f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"  # noqa: S608
        ).fetchall()
        return columns, rows
    finally:
        conn.close()


def _coerce(columns: list[str], types: dict[str, str], row: tuple[Any, ...]) -> tuple[Any, ...]:
    """One SQLite row as PostgreSQL takes it: REAL columns as floats, inbox bodies as
    the bytes received with their encoding (version-1 text bodies included)."""
    values = dict(zip(columns, row, strict=False))
    if "body" in values:
        values["body"], values["body_encoding"] = read_body(
            values["body"], values.get("body_encoding")
        )
    return tuple(
        float(values[c]) if values[c] is not None and types[c] == "double precision" else values[c]
        for c in columns
    )


async def copy_sqlite_to_postgres(path: str, target: PostgresStore) -> dict[str, int]:
    """Copy every table of the SQLite store at ``path`` into ``target`` (open, empty);
    return the rows copied per table. One transaction: all or nothing."""
    try:
        sqlite3.connect(f"file:{path}?mode=ro", uri=True).close()
    except sqlite3.Error as exc:
        raise CopyRefused(f"cannot read {path}: {exc}") from None
    counts: dict[str, int] = {}
    async with target.pool.acquire() as conn, conn.transaction():
        for table in TABLES:
            if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):  # noqa: S608
                raise CopyRefused(f"the target store is not empty (table {table} has rows)")
        for table in TABLES:
            info = await conn.fetch(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = $1 AND table_schema = current_schema()"
                " AND is_generated = 'NEVER' AND identity_generation IS DISTINCT FROM 'ALWAYS'",
                table,
            )
            types = {r["column_name"]: r["data_type"] for r in info}
            columns, rows = _read(path, table, list(types))
            if "body" in columns and "body_encoding" not in columns:
                columns = [*columns, "body_encoding"]  # a version-1 file: detected per row
            if columns and rows:
                records = [_coerce(columns, types, r) for r in rows]
                await conn.copy_records_to_table(table, records=records, columns=columns)
                if "id" in columns and types["id"] == "bigint":
                    await conn.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"  # noqa: S608
                        f" (SELECT MAX(id) FROM {table}))"
                    )
            counts[table] = len(rows)
    return counts
