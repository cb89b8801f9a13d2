"""SQLite store: one WAL file, one connection owned by one thread.

All statements run on a dedicated thread, so the event loop never blocks on disk.
The tables are grouped by who uses them: the inbox (:mod:`.sqlite_inbox`, with group
commit), the safety envelope (:mod:`.sqlite_safety`), sweeps (:mod:`.sqlite_sweeps`);
violations, actions and the audit trail are here.

The writes of the pipeline (violations, actions, audit, inbox states) use *group
commit* too (:meth:`SqliteStore._write`): writes that arrive while a transaction is
being committed share the next one, each in its own savepoint (one failing write
rolls back only itself). Every caller still resumes only after the commit that holds
its write, so what a caller has seen saved is durable, as before; concurrent actions
just share the fsync. Writes that need their own ``BEGIN IMMEDIATE`` (budget
reservation, approvals, claims) keep running alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from ..errors import StartupError, StoreUnavailable
from ..model import ActionRecord, Violation
from .base import ActionRow, AuditEvent, StoreJournal
from .rows import (
    action_record,
    action_row,
    audit_event,
    audit_values,
    new_action,
    new_action_id,
    new_violation,
    saved_action,
    violation_key,
)
from .sqlite_inbox import INBOX_MIGRATION, SqliteInboxTables
from .sqlite_safety import SAFETY_SCHEMA, SqliteSafetyTables
from .sqlite_sweeps import SWEEP_SCHEMA, SqliteSweepTables
from .sqlite_thread import StoreThread

T = TypeVar("T")

#: 2: inbox bodies are the received bytes, with ``body_encoding`` (1: decoded text).
SCHEMA_VERSION = 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY,
    delivery_key TEXT NOT NULL UNIQUE,
    shape TEXT NOT NULL,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL, -- the bytes received (a BLOB); text in version-1 rows
    body_encoding TEXT,
    state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS inbox_due ON inbox (state, next_attempt_at);
CREATE TABLE IF NOT EXISTS violations (
    id INTEGER PRIMARY KEY,
    inbox_id INTEGER REFERENCES inbox(id),
    rule_id TEXT NOT NULL,
    source_rule_id TEXT,
    resource_arn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    region TEXT,
    reason TEXT,
    resource_type TEXT,
    alert_id TEXT,
    created_at REAL NOT NULL
);
-- One violation per alert x rule x resource x reason (a reason-split rule may name
-- one resource twice); IFNULL because NULLs never collide in a UNIQUE index.
CREATE UNIQUE INDEX IF NOT EXISTS violations_identity
    ON violations (IFNULL(inbox_id, -1), rule_id, resource_arn, account_id, IFNULL(reason, ''));
CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    violation_id INTEGER NOT NULL REFERENCES violations(id),
    inbox_id INTEGER,
    remediation_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    resource_arn TEXT NOT NULL,
    account_id TEXT NOT NULL,
    mode TEXT NOT NULL,
    state TEXT NOT NULL,
    status TEXT,
    detail TEXT NOT NULL DEFAULT '',
    plan TEXT,
    before_image TEXT,
    after_image TEXT,
    verification TEXT,
    calls TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    approver TEXT,
    violation TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    UNIQUE (violation_id, remediation_id)
);
CREATE INDEX IF NOT EXISTS actions_status ON actions (status, updated_at);
CREATE INDEX IF NOT EXISTS actions_resource ON actions (resource_arn, rule_id, updated_at);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    action_id TEXT,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    data TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action_id, at);
"""


def _migrate(conn: sqlite3.Connection) -> None:
    """Bring a store file written by an older version up to :data:`SCHEMA_VERSION`;
    existing rows keep working as they are."""
    columns = {r["name"] for r in conn.execute("PRAGMA table_info(inbox)").fetchall()}
    if "body_encoding" not in columns:
        conn.execute(INBOX_MIGRATION)
    conn.execute(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (str(SCHEMA_VERSION),),
    )


class SqliteStore(SqliteInboxTables, SqliteSafetyTables, SqliteSweepTables):
    """The embedded default :class:`~lw_remediate.store.Store`."""

    def __init__(self, path: str, *, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._thread = StoreThread()
        self._conn: sqlite3.Connection | None = None
        self._pending: list[tuple[tuple[str, str, str, Any], asyncio.Future[tuple[int, bool]]]] = []
        self._flushing = False
        self._flush_task: asyncio.Task[None] | None = None
        self.commits = 0  # number of inbox transactions (for the group-commit benchmark and tests)
        self._writes: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._writing = False
        self._write_task: asyncio.Task[None] | None = None
        #: Transactions that committed pipeline writes (:meth:`_write`), for tests.
        self.write_commits = 0

    # -- plumbing --------------------------------------------------------------------

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        def call() -> T:
            assert self._conn is not None, "store is not open"
            return fn(self._conn)

        return await self._thread.run(call)

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` (statements only, no BEGIN/COMMIT of its own) in a transaction it
        may share with other writes queued meanwhile; return once that has committed."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._writes.append((fn, fut))
        if not self._writing:
            self._writing = True
            self._write_task = loop.create_task(self._flush_writes())
        return await fut

    async def _flush_writes(self) -> None:
        try:
            while self._writes:
                batch, self._writes = self._writes, []
                try:
                    outcomes = await self._run(
                        functools.partial(self._write_batch, fns=[fn for fn, _ in batch])
                    )
                except Exception as exc:  # noqa: BLE001 - the commit failed: every waiter hears it
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), (ok, value) in zip(batch, outcomes, strict=True):
                    if fut.done():
                        continue
                    if ok:
                        fut.set_result(value)
                    else:
                        fut.set_exception(value)
        finally:
            self._writing = False

    def _write_batch(
        self, conn: sqlite3.Connection, *, fns: list[Callable[[sqlite3.Connection], Any]]
    ) -> list[tuple[bool, Any]]:
        outcomes: list[tuple[bool, Any]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn in fns:
                conn.execute("SAVEPOINT lw_write")
                try:
                    outcomes.append((True, fn(conn)))
                except Exception as exc:  # noqa: BLE001 - this write alone is undone
                    conn.execute("ROLLBACK TO lw_write")
                    outcomes.append((False, exc))
                conn.execute("RELEASE lw_write")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        self.write_commits += 1
        return outcomes

    async def open(self) -> None:
        def _open() -> sqlite3.Connection:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=5000")
            conn.executescript(SCHEMA + SAFETY_SCHEMA + SWEEP_SCHEMA)
            _migrate(conn)
            return conn

        try:
            self._conn = await self._thread.run(_open)
        except (sqlite3.Error, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise StartupError(f"store.path: cannot open {self.path}: {reason}") from None

    async def close(self) -> None:
        if self._conn is None:
            return
        conn, self._conn = self._conn, None
        await self._thread.run(conn.close)
        self._thread.shutdown()

    @property
    def is_open(self) -> bool:
        return self._conn is not None

    async def ping(self) -> None:
        if self._conn is None:
            raise StoreUnavailable("the SQLite store is closed")
        try:
            await self._run(lambda conn: conn.execute("SELECT 1").fetchone())
        except sqlite3.Error as exc:
            raise StoreUnavailable(f"SQLite: {exc}") from None

    # -- violations and actions --------------------------------------------------------

    async def add_violation(self, inbox_id: int | None, violation: Violation) -> int:
        def _add(conn: sqlite3.Connection) -> int:
            conn.execute(
                "INSERT OR IGNORE INTO violations (inbox_id, rule_id, source_rule_id, resource_arn, account_id,"
                " region, reason, resource_type, alert_id, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                new_violation(inbox_id, violation, time.time()),
            )
            row = conn.execute(
                "SELECT id FROM violations WHERE inbox_id IS ? AND rule_id = ? AND resource_arn = ?"
                " AND account_id = ? AND IFNULL(reason, '') = ?",
                violation_key(inbox_id, violation),
            ).fetchone()
            return int(row["id"])

        return await self._write(_add)

    async def create_action(
        self, violation_id: int, inbox_id: int | None, record: ActionRecord
    ) -> tuple[ActionRecord, bool]:
        def _create(conn: sqlite3.Connection) -> tuple[ActionRecord, bool]:
            existing = conn.execute(
                "SELECT * FROM actions WHERE violation_id = ? AND remediation_id = ?",
                (violation_id, record.remediation_id),
            ).fetchone()
            if existing is not None:
                return self._record(existing), False
            record.id = record.id or new_action_id()
            now = time.time()
            conn.execute(
                "INSERT INTO actions (id, violation_id, inbox_id, remediation_id, rule_id, resource_arn, account_id,"
                " mode, state, status, detail, violation, created_at, updated_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (record.id, violation_id, inbox_id, *new_action(record), now, now),
            )
            return record, True

        return await self._write(_create)

    async def save_action(self, record: ActionRecord) -> None:
        if record.id is None:
            raise ValueError("save_action needs a record created by create_action")

        def _save(conn: sqlite3.Connection) -> None:
            conn.execute(
                "UPDATE actions SET mode = ?, state = ?, status = ?, detail = ?, plan = ?, before_image = ?,"
                " after_image = ?, verification = ?, calls = ?, error = ?, updated_at = ? WHERE id = ?",
                (*saved_action(record), time.time(), record.id),
            )

        await self._write(_save)

    _record = staticmethod(action_record)

    def _row(self, row: sqlite3.Row) -> ActionRow:
        return action_row(row)

    async def get_action(self, action_id: str) -> ActionRow | None:
        def _get(conn: sqlite3.Connection) -> ActionRow | None:
            row = conn.execute("SELECT * FROM actions WHERE id = ?", (action_id,)).fetchone()
            return None if row is None else self._row(row)

        return await self._run(_get)

    async def list_actions(
        self,
        *,
        limit: int = 50,
        status: str | None = None,
        states: Sequence[str] | None = None,
        remediation_id: str | None = None,
        resource_arn: str | None = None,
        since: float | None = None,
    ) -> list[ActionRow]:
        def _list(conn: sqlite3.Connection) -> list[ActionRow]:
            where: list[str] = ["1=1"]
            args: list[Any] = []
            if status:
                where.append("status = ?")
                args.append(status)
            if states:
                where.append(f"state IN ({','.join('?' * len(states))})")
                args.extend(states)
            if remediation_id:
                where.append("remediation_id = ?")
                args.append(remediation_id)
            if resource_arn:
                where.append("resource_arn = ?")
                args.append(resource_arn)
            if since is not None:
                where.append("updated_at >= ?")
                args.append(since)
            # Only fixed column conditions are joined here; every value is a bound parameter.
            sql = f"SELECT * FROM actions WHERE {' AND '.join(where)} ORDER BY created_at DESC, rowid DESC LIMIT ?"  # noqa: S608
            return [self._row(r) for r in conn.execute(sql, (*args, limit)).fetchall()]

        return await self._run(_list)

    async def unfinished_actions(self) -> list[ActionRow]:
        def _unfinished(conn: sqlite3.Connection) -> list[ActionRow]:
            rows = conn.execute(
                "SELECT * FROM actions WHERE state NOT IN ('done', 'awaiting_approval') ORDER BY created_at"
            ).fetchall()
            return [self._row(r) for r in rows]

        return await self._run(_unfinished)

    async def orphaned_actions(self) -> list[ActionRow]:
        return []

    def resource_lock(self, key: str) -> contextlib.AbstractAsyncContextManager[None]:
        return contextlib.nullcontext()

    def subscribe(self, wake: Callable[[], None]) -> None:
        return None

    async def count_actions(self, *, status: str | None = None) -> int:
        def _count(conn: sqlite3.Connection) -> int:
            if status:
                row = conn.execute(
                    "SELECT COUNT(*) AS n FROM actions WHERE status = ?", (status,)
                ).fetchone()
            else:
                row = conn.execute("SELECT COUNT(*) AS n FROM actions").fetchone()
            return int(row["n"])

        return await self._run(_count)

    # -- audit -------------------------------------------------------------------------

    async def audit(
        self,
        kind: str,
        detail: str,
        *,
        actor: str,
        action_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self._write(
            lambda c: c.execute(
                "INSERT INTO audit (at, action_id, actor, kind, detail, data) VALUES (?,?,?,?,?,?)",
                (time.time(), action_id, actor, kind, *audit_values(detail, data)),
            )
        )

    async def audit_events(
        self, *, action_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        def _events(conn: sqlite3.Connection) -> list[AuditEvent]:
            if action_id:
                rows = conn.execute(
                    "SELECT * FROM audit WHERE action_id = ? ORDER BY id DESC LIMIT ?",
                    (action_id, limit),
                )
            else:
                rows = conn.execute("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
            return [audit_event(r) for r in rows.fetchall()]

        return await self._run(_events)

    # -- journal adapter ---------------------------------------------------------------

    def journal(self) -> StoreJournal:
        return StoreJournal(self)
