"""The safety envelope's tables in the PostgreSQL store (mixed into :class:`PostgresStore`).

Budgets and the flap guard count changes and insert the new one in a transaction
that holds :data:`CHANGES_LOCK` (a transaction-level advisory lock): every instance on
the database serialises there, so none can overshoot a budget another one is filling.
Approvals and awaiting actions are compare-and-set ``UPDATE``s, which PostgreSQL
re-checks after a concurrent writer commits: an action is approved once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg

from .base import (
    ApprovalRow,
    ChangeCounts,
    ChangeRow,
    ChangeUsage,
    ExemptionRow,
    FlapRow,
    KillSwitchRow,
)
from .rows import exemption_row, flap_row

T = TypeVar("T")

#: Advisory lock key serialising change reservations and flap flags across instances.
CHANGES_LOCK = 0x6C77_0002


async def _active_flag(
    conn: Any, rule_id: str, account_id: str, resource_arn: str
) -> FlapRow | None:
    row = await conn.fetchrow(
        "SELECT * FROM flapping WHERE resource_arn = $1 AND rule_id = $2 AND account_id = $3"
        " AND cleared_at IS NULL ORDER BY id DESC LIMIT 1",
        resource_arn,
        rule_id,
        account_id,
    )
    return None if row is None else flap_row(row)


async def _resource_changes(
    conn: Any, rule_id: str, account_id: str, resource_arn: str, since: float
) -> int:
    """Changes to the resource for the rule since ``since`` and since its last clear."""
    cleared = await conn.fetchval(
        "SELECT MAX(cleared_at) FROM flapping WHERE resource_arn = $1 AND rule_id = $2"
        " AND account_id = $3",
        resource_arn,
        rule_id,
        account_id,
    )
    start = max(since, cleared) if cleared is not None else since
    return int(
        await conn.fetchval(
            "SELECT COUNT(*) FROM changes WHERE resource_arn = $1 AND rule_id = $2"
            " AND account_id = $3 AND at > $4",
            resource_arn,
            rule_id,
            account_id,
            start,
        )
    )


def _count(status: str) -> int:
    return int(status.rsplit(" ", 1)[-1])


class PostgresSafetyTables:
    """Implements :class:`~lw_remediate.store.base.SafetyStore` on the store's pool."""

    owner: str

    @property
    def pool(self) -> asyncpg.Pool:  # provided by PostgresStore
        raise NotImplementedError

    def lease(self) -> float:  # provided by PostgresStore
        raise NotImplementedError

    # -- changes: budgets and the flap guard ---------------------------------------------

    async def change_usage(self, since: float) -> ChangeUsage:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT rule_id, account_id, COUNT(*) AS n FROM changes WHERE at > $1"
                " GROUP BY rule_id, account_id",
                since,
            )
        return ChangeUsage.from_groups((r["rule_id"], r["account_id"], int(r["n"])) for r in rows)

    async def reserve_change(
        self,
        change: ChangeRow,
        *,
        since: float,
        flap_since: float,
        decide: Callable[[ChangeCounts], T | None],
    ) -> T | None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CHANGES_LOCK)
            if await conn.fetchval("SELECT 1 FROM changes WHERE action_id = $1", change.action_id):
                return None  # counted when it first reached apply (a resumed action)

            async def count(where: str, *args: Any) -> int:
                # Only fixed column conditions are formatted in; values are bound.
                sql = f"SELECT COUNT(*) FROM changes WHERE at > $1{where}"  # noqa: S608
                return int(await conn.fetchval(sql, since, *args))

            counts = ChangeCounts(
                total=await count(""),
                rule=await count(" AND rule_id = $2", change.rule_id),
                account=await count(" AND account_id = $2", change.account_id),
                resource=await _resource_changes(
                    conn, change.rule_id, change.account_id, change.resource_arn, flap_since
                ),
                flagged=await _active_flag(
                    conn, change.rule_id, change.account_id, change.resource_arn
                )
                is not None,
            )
            refusal = decide(counts)
            if refusal is None:
                await conn.execute(
                    "INSERT INTO changes (action_id, at, remediation_id, rule_id, account_id,"
                    " resource_arn) VALUES ($1,$2,$3,$4,$5,$6)",
                    change.action_id,
                    change.at,
                    change.remediation_id,
                    change.rule_id,
                    change.account_id,
                    change.resource_arn,
                )
        return refusal

    async def flap_state(
        self, rule_id: str, account_id: str, resource_arn: str, *, since: float
    ) -> tuple[FlapRow | None, int]:
        async with self.pool.acquire() as conn:
            return (
                await _active_flag(conn, rule_id, account_id, resource_arn),
                await _resource_changes(conn, rule_id, account_id, resource_arn, since),
            )

    async def flag_flapping(
        self, rule_id: str, account_id: str, resource_arn: str, *, changes: int, now: float
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", CHANGES_LOCK)
            if await _active_flag(conn, rule_id, account_id, resource_arn) is not None:
                return False
            await conn.execute(
                "INSERT INTO flapping (rule_id, account_id, resource_arn, flagged_at, changes)"
                " VALUES ($1,$2,$3,$4,$5)",
                rule_id,
                account_id,
                resource_arn,
                now,
                changes,
            )
        return True

    async def list_flapping(self, *, active_only: bool = True) -> list[FlapRow]:
        where = "WHERE cleared_at IS NULL" if active_only else ""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT * FROM flapping {where} ORDER BY id DESC")  # noqa: S608
        return [flap_row(r) for r in rows]

    async def clear_flapping(
        self, resource_arn: str, rule_id: str | None, *, by: str, now: float
    ) -> list[FlapRow]:
        sql = (
            "UPDATE flapping SET cleared_at = $1, cleared_by = $2"
            " WHERE cleared_at IS NULL AND resource_arn = $3"
        )
        args: list[Any] = [now, by, resource_arn]
        if rule_id is not None:
            sql += " AND rule_id = $4"
            args.append(rule_id)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql + " RETURNING *", *args)
        return [flap_row(r) for r in sorted(rows, key=lambda r: r["id"])]

    # -- approvals ---------------------------------------------------------------------

    async def request_approval(
        self, action_id: str, *, requested_at: float, expires_at: float
    ) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            # A new request (e.g. the plan changed after an approval) is undecided again.
            await conn.execute(
                "INSERT INTO approvals (action_id, requested_at, expires_at) VALUES ($1,$2,$3)"
                " ON CONFLICT (action_id) DO UPDATE SET requested_at = excluded.requested_at,"
                " expires_at = excluded.expires_at, decided_at = NULL, decided_by = NULL,"
                " decision = NULL",
                action_id,
                requested_at,
                expires_at,
            )
            await conn.execute("UPDATE actions SET approver = NULL WHERE id = $1", action_id)

    async def get_approval(self, action_id: str) -> ApprovalRow | None:
        async with self.pool.acquire() as conn:
            r = await conn.fetchrow("SELECT * FROM approvals WHERE action_id = $1", action_id)
        if r is None:
            return None
        return ApprovalRow(
            r["action_id"],
            r["requested_at"],
            r["expires_at"],
            r["decided_at"],
            r["decided_by"],
            r["decision"],
        )

    async def claim_approval(self, action_id: str, *, by: str, now: float) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            # The approving instance runs it, so it takes the lease: the creator's ran
            # out while it waited, and another instance must not take it over now.
            status = await conn.execute(
                "UPDATE actions SET state = 'approved', approver = $1, updated_at = $2,"
                " owner = $3, lease_until = $4 WHERE id = $5 AND state = 'awaiting_approval'",
                by,
                now,
                self.owner,
                self.lease(),
                action_id,
            )
            if not _count(status):
                return False
            await conn.execute(
                "UPDATE approvals SET decided_at = $1, decided_by = $2, decision = 'approved'"
                " WHERE action_id = $3",
                now,
                by,
                action_id,
            )
        return True

    async def close_awaiting(
        self, action_id: str, *, status: str, detail: str, decision: str, by: str, now: float
    ) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            tag = await conn.execute(
                "UPDATE actions SET state = 'done', status = $1, detail = $2, updated_at = $3,"
                " approver = CASE WHEN $4 = 'rejected' THEN $5 ELSE approver END"
                " WHERE id = $6 AND state = 'awaiting_approval'",
                status,
                detail,
                now,
                decision,
                by,
                action_id,
            )
            if not _count(tag):
                return False
            await conn.execute(
                "UPDATE approvals SET decided_at = $1, decided_by = $2, decision = $3"
                " WHERE action_id = $4",
                now,
                by,
                decision,
                action_id,
            )
        return True

    async def expired_approvals(self, now: float) -> list[str]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "SELECT a.id FROM actions a JOIN approvals p ON p.action_id = a.id"
                " WHERE a.state = 'awaiting_approval' AND p.expires_at <= $1 ORDER BY p.expires_at",
                now,
            )
        return [r["id"] for r in rows]

    # -- exemptions --------------------------------------------------------------------

    async def add_exemption(self, row: ExemptionRow) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO exemptions (id, spec, created_at, created_by) VALUES ($1,$2,$3,$4)",
                row.id,
                json.dumps(row.spec, sort_keys=True),
                row.created_at,
                row.created_by,
            )

    async def list_exemptions(self, *, include_removed: bool = False) -> list[ExemptionRow]:
        where = "" if include_removed else "WHERE removed_at IS NULL"
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(f"SELECT * FROM exemptions {where} ORDER BY created_at, id")  # noqa: S608
        return [exemption_row(r) for r in rows]

    async def remove_exemption(self, exemption_id: str, *, by: str, now: float) -> bool:
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE exemptions SET removed_at = $1, removed_by = $2"
                " WHERE id = $3 AND removed_at IS NULL",
                now,
                by,
                exemption_id,
            )
        return bool(_count(status))

    async def notice_every(self, key: str, now: float, interval: float) -> bool:
        async with self.pool.acquire() as conn:
            value = await conn.fetchval(
                "INSERT INTO notices (key, at) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE"
                " SET at = excluded.at WHERE notices.at <= excluded.at - $3 RETURNING 1",
                key,
                now,
                interval,
            )
        return value is not None

    # -- the shared kill switch ------------------------------------------------------------

    shared = True

    async def get_kill_switch(self) -> KillSwitchRow | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT at, by, reason FROM kill_switch WHERE id = 1")
        return None if row is None else KillSwitchRow(row["at"], row["by"], row["reason"])

    async def set_kill_switch(self, row: KillSwitchRow | None) -> bool:
        async with self.pool.acquire() as conn, conn.transaction():
            was_on = bool(await conn.fetchval("DELETE FROM kill_switch WHERE id = 1 RETURNING 1"))
            if row is not None:
                await conn.execute(
                    "INSERT INTO kill_switch (id, at, by, reason) VALUES (1, $1, $2, $3)",
                    row.at,
                    row.by,
                    row.reason,
                )
        return was_on

    # -- one-off notices -----------------------------------------------------------------

    async def notice_once(self, key: str, now: float) -> bool:
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "INSERT INTO notices (key, at) VALUES ($1, $2) ON CONFLICT DO NOTHING", key, now
            )
        return bool(_count(status))
