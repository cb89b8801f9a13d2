"""The sweeps' table and queries in the PostgreSQL store (mixed into :class:`PostgresStore`).

Claiming a sweep holds a transaction-level advisory lock on its key, so two instances
asked for the same sweep agree on who runs it; an interrupted sweep (or one whose
owner is no longer alive) is continued by whichever instance claims it next.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg

from ..redact import redact
from .base import INTERRUPTED, RUNNING, ActionRow, SweepClaim, SweepPriorRow
from .rows import action_row, prior_row, sweep_row
from .sqlite_sweeps import OwnerAlive


class PostgresSweepTables:
    """Implements :class:`~lw_remediate.store.base.SweepTables` on the store's pool."""

    @property
    def pool(self) -> asyncpg.Pool:  # provided by PostgresStore
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
        """The sweep to run: an interrupted one with the same key, else a new one; when
        a live owner runs one with the same key, nothing is claimed and it is named."""
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"sweep:{key}")
            row = await conn.fetchrow(
                "SELECT id, state, owner, runs, updated_at FROM sweeps"
                " WHERE key = $1 AND state IN ($2, $3) ORDER BY id DESC LIMIT 1",
                key,
                RUNNING,
                INTERRUPTED,
            )
            if (
                row is not None
                and row["state"] == RUNNING
                and alive(row["owner"], row["updated_at"], now, int(row["id"]))
            ):
                return SweepClaim(int(row["id"]), 0, running_owner=row["owner"])
            if row is not None:
                await conn.execute(
                    "UPDATE sweeps SET state = $1, owner = $2, runs = runs + 1, error = NULL,"
                    " updated_at = $3, finished_at = NULL WHERE id = $4",
                    RUNNING,
                    owner,
                    now,
                    row["id"],
                )
                return SweepClaim(int(row["id"]), int(row["runs"]) + 1)
            new_id = await conn.fetchval(
                "INSERT INTO sweeps (key, request, state, owner, started_at, updated_at)"
                " VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
                key,
                json.dumps(dict(request)),
                RUNNING,
                owner,
                now,
            )
            return SweepClaim(int(new_id), 1)

    async def sweep_inbox(self, sweep_id: int, attempt: int) -> int:
        """The inbox row naming this sweep's attempt as the source of its actions."""
        now = time.time()
        key = f"sweep:{sweep_id}:{attempt}"
        body = json.dumps({"sweep_id": sweep_id, "attempt": attempt}).encode()
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO inbox (delivery_key, shape, event_id, body, body_encoding, state,"
                " received_at, next_attempt_at, updated_at)"
                " VALUES ($1, 'sweep', $2, $3, 'utf-8', 'done', $4, $4, $4)"
                " ON CONFLICT (delivery_key) DO NOTHING",
                key,
                f"sweep-{sweep_id}",
                body,
                now,
            )
            value = await conn.fetchval("SELECT id FROM inbox WHERE delivery_key = $1", key)
        return int(value)

    async def sweep_unfinished(self, sweep_id: int) -> list[ActionRow]:
        """Actions of this sweep that an interruption left half-way."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT * FROM actions WHERE inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = $1)"
                " AND state NOT IN ('done', 'awaiting_approval') ORDER BY created_at, seq",
                f"sweep-{sweep_id}",
            )
        return [action_row(r) for r in rows]

    async def sweep_priors(
        self, sweep_id: int, accounts: Sequence[str], since: float | None
    ) -> list[SweepPriorRow]:
        """Actions on these accounts that count for a sweep, oldest first: this sweep's,
        or any finished after ``since`` (the report's time)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT a.remediation_id, a.rule_id, a.resource_arn, a.account_id, a.mode,"
                " a.state, a.status, a.detail, a.calls, a.updated_at,"
                " COALESCE(v.reason, '') AS reason,"
                " COALESCE(a.inbox_id IN (SELECT id FROM inbox WHERE shape = 'sweep'"
                " AND event_id = $1), FALSE) AS this_sweep"
                " FROM actions a JOIN violations v ON v.id = a.violation_id"
                " WHERE a.account_id = ANY($2::text[])"
                " AND (a.updated_at >= $3 OR a.inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = $1))"
                " ORDER BY a.created_at, a.seq",
                f"sweep-{sweep_id}",
                list(accounts),
                since if since is not None else float("inf"),
            )
        return [prior_row(r) for r in rows]

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
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE sweeps SET state = $1, progress = $2, error = $3, updated_at = $4,"
                " finished_at = $5 WHERE id = $6",
                state,
                json.dumps(progress, default=str),
                redact(error) if error else None,
                now,
                now if finished else None,
                sweep_id,
            )

    async def get_sweep(self, sweep_id: int) -> dict[str, Any] | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM sweeps WHERE id = $1", sweep_id)
        return None if row is None else sweep_row(row)

    async def list_sweeps(self, *, limit: int = 20) -> list[dict[str, Any]]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT * FROM sweeps ORDER BY id DESC LIMIT $1", limit)
        return [sweep_row(r) for r in rows]
