"""The safety envelope's tables in the SQLite store (mixed into :class:`SqliteStore`).

Budgets and the flap guard count *changes* (actions that reached ``apply``) in one
``BEGIN IMMEDIATE`` transaction with the insert of the new change, so neither
concurrent actions in the daemon nor a CLI process sharing the file can overshoot.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

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

SAFETY_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    action_id TEXT PRIMARY KEY,
    at REAL NOT NULL,
    remediation_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    resource_arn TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS changes_at ON changes (at);
CREATE INDEX IF NOT EXISTS changes_resource ON changes (resource_arn, rule_id, at);
CREATE TABLE IF NOT EXISTS approvals (
    action_id TEXT PRIMARY KEY,
    requested_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    decided_at REAL,
    decided_by TEXT,
    decision TEXT
);
CREATE TABLE IF NOT EXISTS exemptions (
    id TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL,
    created_by TEXT NOT NULL,
    removed_at REAL,
    removed_by TEXT
);
CREATE TABLE IF NOT EXISTS flapping (
    id INTEGER PRIMARY KEY,
    rule_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    resource_arn TEXT NOT NULL,
    flagged_at REAL NOT NULL,
    changes INTEGER NOT NULL,
    cleared_at REAL,
    cleared_by TEXT
);
CREATE INDEX IF NOT EXISTS flapping_resource ON flapping (resource_arn, rule_id);
CREATE TABLE IF NOT EXISTS notices (key TEXT PRIMARY KEY, at REAL NOT NULL);
"""


def _active_flag(
    conn: sqlite3.Connection, rule_id: str, account_id: str, resource_arn: str
) -> FlapRow | None:
    row = conn.execute(
        "SELECT * FROM flapping WHERE resource_arn = ? AND rule_id = ? AND account_id = ?"
        " AND cleared_at IS NULL ORDER BY id DESC LIMIT 1",
        (resource_arn, rule_id, account_id),
    ).fetchone()
    return None if row is None else flap_row(row)


def _resource_changes(
    conn: sqlite3.Connection, rule_id: str, account_id: str, resource_arn: str, since: float
) -> int:
    """Changes to the resource for the rule since ``since`` and since its last clear."""
    cleared = conn.execute(
        "SELECT MAX(cleared_at) AS t FROM flapping WHERE resource_arn = ? AND rule_id = ?"
        " AND account_id = ?",
        (resource_arn, rule_id, account_id),
    ).fetchone()["t"]
    start = max(since, cleared) if cleared is not None else since
    row = conn.execute(
        "SELECT COUNT(*) AS n FROM changes WHERE resource_arn = ? AND rule_id = ?"
        " AND account_id = ? AND at > ?",
        (resource_arn, rule_id, account_id, start),
    ).fetchone()
    return int(row["n"])


class SqliteSafetyTables:
    """Implements :class:`~lw_remediate.store.base.SafetyStore` on the store's connection."""

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    # -- changes: budgets and the flap guard ---------------------------------------------

    async def change_usage(self, since: float) -> ChangeUsage:
        def _usage(conn: sqlite3.Connection) -> ChangeUsage:
            rows = conn.execute(
                "SELECT rule_id, account_id, COUNT(*) AS n FROM changes WHERE at > ?"
                " GROUP BY rule_id, account_id",
                (since,),
            ).fetchall()
            return ChangeUsage.from_groups((r["rule_id"], r["account_id"], r["n"]) for r in rows)

        return await self._run(_usage)

    async def reserve_change(
        self,
        change: ChangeRow,
        *,
        since: float,
        flap_since: float,
        decide: Callable[[ChangeCounts], T | None],
    ) -> T | None:
        def _reserve(conn: sqlite3.Connection) -> T | None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if conn.execute(
                    "SELECT 1 FROM changes WHERE action_id = ?", (change.action_id,)
                ).fetchone():
                    conn.execute("COMMIT")
                    return None  # counted when it first reached apply (a resumed action)

                def count(where: str, *args: Any) -> int:
                    # Only fixed column conditions are formatted in; values are bound.
                    sql = f"SELECT COUNT(*) AS n FROM changes WHERE at > ?{where}"  # noqa: S608
                    return int(conn.execute(sql, (since, *args)).fetchone()["n"])

                counts = ChangeCounts(
                    total=count(""),
                    rule=count(" AND rule_id = ?", change.rule_id),
                    account=count(" AND account_id = ?", change.account_id),
                    resource=_resource_changes(
                        conn, change.rule_id, change.account_id, change.resource_arn, flap_since
                    ),
                    flagged=_active_flag(
                        conn, change.rule_id, change.account_id, change.resource_arn
                    )
                    is not None,
                )
                refusal = decide(counts)
                if refusal is None:
                    conn.execute(
                        "INSERT INTO changes (action_id, at, remediation_id, rule_id, account_id,"
                        " resource_arn) VALUES (?,?,?,?,?,?)",
                        (
                            change.action_id,
                            change.at,
                            change.remediation_id,
                            change.rule_id,
                            change.account_id,
                            change.resource_arn,
                        ),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return refusal

        return await self._run(_reserve)

    async def flap_state(
        self, rule_id: str, account_id: str, resource_arn: str, *, since: float
    ) -> tuple[FlapRow | None, int]:
        def _state(conn: sqlite3.Connection) -> tuple[FlapRow | None, int]:
            return (
                _active_flag(conn, rule_id, account_id, resource_arn),
                _resource_changes(conn, rule_id, account_id, resource_arn, since),
            )

        return await self._run(_state)

    async def flag_flapping(
        self, rule_id: str, account_id: str, resource_arn: str, *, changes: int, now: float
    ) -> bool:
        def _flag(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if _active_flag(conn, rule_id, account_id, resource_arn) is not None:
                    conn.execute("COMMIT")
                    return False
                conn.execute(
                    "INSERT INTO flapping (rule_id, account_id, resource_arn, flagged_at, changes)"
                    " VALUES (?,?,?,?,?)",
                    (rule_id, account_id, resource_arn, now, changes),
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return True

        return await self._run(_flag)

    async def list_flapping(self, *, active_only: bool = True) -> list[FlapRow]:
        def _list(conn: sqlite3.Connection) -> list[FlapRow]:
            where = "WHERE cleared_at IS NULL" if active_only else ""
            rows = conn.execute(f"SELECT * FROM flapping {where} ORDER BY id DESC")  # noqa: S608
            return [flap_row(r) for r in rows.fetchall()]

        return await self._run(_list)

    async def clear_flapping(
        self, resource_arn: str, rule_id: str | None, *, by: str, now: float
    ) -> list[FlapRow]:
        def _clear(conn: sqlite3.Connection) -> list[FlapRow]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                args: tuple[Any, ...] = (resource_arn,)
                sql = "SELECT * FROM flapping WHERE cleared_at IS NULL AND resource_arn = ?"
                if rule_id is not None:
                    sql += " AND rule_id = ?"
                    args += (rule_id,)
                rows = [flap_row(r) for r in conn.execute(sql, args).fetchall()]
                for row in rows:
                    conn.execute(
                        "UPDATE flapping SET cleared_at = ?, cleared_by = ? WHERE id = ?",
                        (now, by, row.id),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return [dataclasses.replace(r, cleared_at=now, cleared_by=by) for r in rows]

        return await self._run(_clear)

    # -- approvals ---------------------------------------------------------------------

    async def request_approval(
        self, action_id: str, *, requested_at: float, expires_at: float
    ) -> None:
        def _request(conn: sqlite3.Connection) -> None:
            # A new request (e.g. the plan changed after an approval) is undecided again.
            conn.execute(
                "INSERT INTO approvals (action_id, requested_at, expires_at) VALUES (?,?,?)"
                " ON CONFLICT (action_id) DO UPDATE SET requested_at = excluded.requested_at,"
                " expires_at = excluded.expires_at, decided_at = NULL, decided_by = NULL,"
                " decision = NULL",
                (action_id, requested_at, expires_at),
            )
            conn.execute("UPDATE actions SET approver = NULL WHERE id = ?", (action_id,))

        await self._run(_request)

    async def get_approval(self, action_id: str) -> ApprovalRow | None:
        def _get(conn: sqlite3.Connection) -> ApprovalRow | None:
            row = conn.execute("SELECT * FROM approvals WHERE action_id = ?", (action_id,))
            r = row.fetchone()
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

        return await self._run(_get)

    async def claim_approval(self, action_id: str, *, by: str, now: float) -> bool:
        def _claim(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "UPDATE actions SET state = 'approved', approver = ?, updated_at = ?"
                    " WHERE id = ? AND state = 'awaiting_approval'",
                    (by, now, action_id),
                )
                if cur.rowcount:
                    conn.execute(
                        "UPDATE approvals SET decided_at = ?, decided_by = ?, decision = 'approved'"
                        " WHERE action_id = ?",
                        (now, by, action_id),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return bool(cur.rowcount)

        return await self._run(_claim)

    async def close_awaiting(
        self, action_id: str, *, status: str, detail: str, decision: str, by: str, now: float
    ) -> bool:
        def _close(conn: sqlite3.Connection) -> bool:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cur = conn.execute(
                    "UPDATE actions SET state = 'done', status = ?, detail = ?, updated_at = ?"
                    " WHERE id = ? AND state = 'awaiting_approval'",
                    (status, detail, now, action_id),
                )
                if cur.rowcount:
                    conn.execute(
                        "UPDATE approvals SET decided_at = ?, decided_by = ?, decision = ?"
                        " WHERE action_id = ?",
                        (now, by, decision, action_id),
                    )
                    if decision == "rejected":
                        conn.execute(
                            "UPDATE actions SET approver = ? WHERE id = ?", (by, action_id)
                        )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return bool(cur.rowcount)

        return await self._run(_close)

    async def expired_approvals(self, now: float) -> list[str]:
        def _expired(conn: sqlite3.Connection) -> list[str]:
            rows = conn.execute(
                "SELECT a.id FROM actions a JOIN approvals p ON p.action_id = a.id"
                " WHERE a.state = 'awaiting_approval' AND p.expires_at <= ? ORDER BY p.expires_at",
                (now,),
            )
            return [r["id"] for r in rows.fetchall()]

        return await self._run(_expired)

    # -- exemptions --------------------------------------------------------------------

    async def add_exemption(self, row: ExemptionRow) -> None:
        await self._run(
            lambda c: c.execute(
                "INSERT INTO exemptions (id, spec, created_at, created_by) VALUES (?,?,?,?)",
                (row.id, json.dumps(row.spec, sort_keys=True), row.created_at, row.created_by),
            )
        )

    async def list_exemptions(self, *, include_removed: bool = False) -> list[ExemptionRow]:
        def _list(conn: sqlite3.Connection) -> list[ExemptionRow]:
            where = "" if include_removed else "WHERE removed_at IS NULL"
            rows = conn.execute(f"SELECT * FROM exemptions {where} ORDER BY created_at, id")  # noqa: S608
            return [exemption_row(r) for r in rows.fetchall()]

        return await self._run(_list)

    async def remove_exemption(self, exemption_id: str, *, by: str, now: float) -> bool:
        def _remove(conn: sqlite3.Connection) -> bool:
            cur = conn.execute(
                "UPDATE exemptions SET removed_at = ?, removed_by = ?"
                " WHERE id = ? AND removed_at IS NULL",
                (now, by, exemption_id),
            )
            return bool(cur.rowcount)

        return await self._run(_remove)

    async def notice_every(self, key: str, now: float, interval: float) -> bool:
        def _notice(conn: sqlite3.Connection) -> bool:
            row = conn.execute(
                "INSERT INTO notices (key, at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE"
                " SET at = excluded.at WHERE notices.at <= excluded.at - ? RETURNING 1",
                (key, now, interval),
            ).fetchone()
            return row is not None

        return await self._run(_notice)

    # -- the kill switch is a file next to a SQLite store ---------------------------------

    shared = False

    async def get_kill_switch(self) -> KillSwitchRow | None:
        return None

    async def set_kill_switch(self, row: KillSwitchRow | None) -> bool:
        raise NotImplementedError("with SQLite the kill switch is a file (safety.KillSwitch)")

    # -- one-off notices -----------------------------------------------------------------

    async def notice_once(self, key: str, now: float) -> bool:
        def _notice(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("INSERT OR IGNORE INTO notices (key, at) VALUES (?, ?)", (key, now))
            return bool(cur.rowcount)

        return await self._run(_notice)
