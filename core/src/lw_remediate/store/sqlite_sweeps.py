"""The sweeps' table and queries in the SQLite store (mixed into :class:`SqliteStore`).

A sweep is a row in ``sweeps``; its actions hang off inbox rows of shape ``sweep``
(one per attempt, state ``done`` so the worker never claims them), which is how the
store's violation and action rows name their source.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from ..redact import redact
from .base import INTERRUPTED, RUNNING, ActionRow, SweepClaim, SweepPriorRow
from .rows import prior_row, sweep_row

T = TypeVar("T")


SWEEP_SCHEMA = """
CREATE TABLE IF NOT EXISTS sweeps (
    id INTEGER PRIMARY KEY,
    key TEXT NOT NULL,
    request TEXT NOT NULL,
    state TEXT NOT NULL,
    owner TEXT NOT NULL,
    runs INTEGER NOT NULL DEFAULT 1,
    progress TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS sweeps_key ON sweeps (key, state);
"""

#: ``alive(owner, updated_at, now, sweep_id)``: is the process that claimed a sweep running it?
OwnerAlive = Callable[[str, float, float, int], bool]


class SqliteSweepTables:
    """Implements :class:`~lw_remediate.store.base.SweepTables` on the store's connection."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    def _row(self, row: sqlite3.Row) -> ActionRow:  # provided by SqliteStore
        raise NotImplementedError

    async def claim_sweep(
        self,
        key: str,
        request: Mapping[str, Any],
        *,
        owner: str,
        now: float,
        alive: OwnerAlive,
    ) -> SweepClaim:
        """The sweep to run: an interrupted one with the same key, else a new one.

        When a sweep with the same key is running in a live process nothing is claimed
        and the answer names it (``running_owner`` set).
        """

        def _claim(conn: sqlite3.Connection) -> SweepClaim:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT id, state, owner, runs, updated_at FROM sweeps"
                    " WHERE key = ? AND state IN (?, ?) ORDER BY id DESC LIMIT 1",
                    (key, RUNNING, INTERRUPTED),
                ).fetchone()
                if (
                    row is not None
                    and row["state"] == RUNNING
                    and alive(row["owner"], row["updated_at"], now, int(row["id"]))
                ):
                    result = SweepClaim(int(row["id"]), 0, running_owner=row["owner"])
                elif row is not None:
                    conn.execute(
                        "UPDATE sweeps SET state = ?, owner = ?, runs = runs + 1, error = NULL,"
                        " updated_at = ?, finished_at = NULL WHERE id = ?",
                        (RUNNING, owner, now, row["id"]),
                    )
                    result = SweepClaim(int(row["id"]), int(row["runs"]) + 1)
                else:
                    cur = conn.execute(
                        "INSERT INTO sweeps (key, request, state, owner, started_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (key, json.dumps(dict(request)), RUNNING, owner, now, now),
                    )
                    result = SweepClaim(int(cur.lastrowid or 0), 1)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return result

        return await self._run(_claim)

    async def sweep_inbox(self, sweep_id: int, attempt: int) -> int:
        """The inbox row naming this sweep's attempt as the source of its actions."""

        def _row(conn: sqlite3.Connection) -> int:
            now = time.time()
            key = f"sweep:{sweep_id}:{attempt}"
            conn.execute(
                "INSERT OR IGNORE INTO inbox (delivery_key, shape, event_id, body, state,"
                " received_at, next_attempt_at, updated_at) VALUES (?, 'sweep', ?, ?, 'done', ?, ?, ?)",
                (
                    key,
                    f"sweep-{sweep_id}",
                    json.dumps({"sweep_id": sweep_id, "attempt": attempt}),
                    now,
                    now,
                    now,
                ),
            )
            row = conn.execute("SELECT id FROM inbox WHERE delivery_key = ?", (key,)).fetchone()
            return int(row["id"])

        return await self._run(_row)

    async def sweep_unfinished(self, sweep_id: int) -> list[ActionRow]:
        """Actions of this sweep that an interruption left half-way."""

        def _rows(conn: sqlite3.Connection) -> list[ActionRow]:
            rows = conn.execute(
                "SELECT * FROM actions WHERE inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?)"
                " AND state NOT IN ('done', 'awaiting_approval') ORDER BY created_at",
                (f"sweep-{sweep_id}",),
            ).fetchall()
            return [self._row(r) for r in rows]

        return await self._run(_rows)

    async def sweep_priors(
        self, sweep_id: int, accounts: Sequence[str], since: float | None
    ) -> list[SweepPriorRow]:
        """Actions on these accounts that count for a sweep, oldest first: this sweep's,
        or any finished after ``since`` (the report's time)."""

        def _query(conn: sqlite3.Connection) -> list[SweepPriorRow]:
            marks = ",".join("?" * len(accounts))
            # Fixed SQL; the account list only adds placeholders, values are bound.
            sql = (
                "SELECT a.remediation_id, a.rule_id, a.resource_arn, a.account_id, a.mode,"  # noqa: S608
                " a.state, a.status, a.detail, a.calls, a.updated_at,"
                " IFNULL(v.reason, '') AS reason,"
                " (a.inbox_id IN (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?))"
                " AS this_sweep"
                " FROM actions a JOIN violations v ON v.id = a.violation_id"
                f" WHERE a.account_id IN ({marks})"
                " AND (a.updated_at >= ? OR a.inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?))"
                " ORDER BY a.created_at, a.rowid"
            )
            tag = f"sweep-{sweep_id}"
            rows = conn.execute(
                sql, (tag, *accounts, since if since is not None else float("inf"), tag)
            ).fetchall()
            return [prior_row(r) for r in rows]

        return await self._run(_query)

    async def save_sweep(
        self,
        sweep_id: int,
        *,
        state: str,
        progress: Mapping[str, Any],
        error: str | None = None,
        finished: bool = False,
    ) -> None:
        now = time.time()
        await self._run(
            lambda c: c.execute(
                "UPDATE sweeps SET state = ?, progress = ?, error = ?, updated_at = ?,"
                " finished_at = ? WHERE id = ?",
                (
                    state,
                    json.dumps(progress, default=str),
                    redact(error) if error else None,
                    now,
                    now if finished else None,
                    sweep_id,
                ),
            )
        )

    async def get_sweep(self, sweep_id: int) -> dict[str, Any] | None:
        def _get(conn: sqlite3.Connection) -> dict[str, Any] | None:
            row = conn.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            return None if row is None else sweep_row(row)

        return await self._run(_get)

    async def list_sweeps(self, *, limit: int = 20) -> list[dict[str, Any]]:
        def _list(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            rows = conn.execute("SELECT * FROM sweeps ORDER BY id DESC LIMIT ?", (limit,))
            return [sweep_row(r) for r in rows.fetchall()]

        return await self._run(_list)
