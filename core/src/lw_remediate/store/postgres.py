"""PostgreSQL store: the shared store several instances run on.

asyncpg drives it (a native asyncio driver with its own connection pool, binary
protocol, LISTEN/NOTIFY and TLS through an ``ssl.SSLContext``). The schema comes from
the versioned migrations in :mod:`.postgres_schema`, applied on :meth:`open`.

What differs from SQLite is what several processes on one database need:

* an inbox row claimed by an instance carries a *lease* (``claimed_by``,
  ``lease_until``); a live instance renews its leases every third of
  ``lease_seconds``, so only a dead instance's rows expire, and :meth:`claim_due`
  takes those over (``FOR UPDATE SKIP LOCKED``: two instances never claim one row);
* an unfinished action carries the same kind of lease (``owner``); an instance
  resumes only its own or expired ones;
* budgets and the flap guard count changes under one transaction-level advisory
  lock, so two instances cannot both take the last slot.

The tables are grouped like SQLite's: the inbox (:mod:`.postgres_inbox`), the safety
envelope (:mod:`.postgres_safety`), sweeps (:mod:`.postgres_sweeps`); violations,
actions and the audit trail are here.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import asyncpg
import structlog

from ..errors import StoreUnavailable
from ..model import ActionRecord, Violation
from ..redact import redact
from .base import ActionRow, AuditEvent, StoreJournal
from .postgres_connect import instance_id, ssl_context
from .postgres_connect import schema_status as schema_status  # where startup finds it
from .postgres_inbox import EnqueueWaiter, PostgresInboxTables
from .postgres_listen import LISTEN_CONNECT_TIMEOUT, LISTEN_PROBE_SECONDS, InboxListener
from .postgres_safety import PostgresSafetyTables
from .postgres_schema import migrate
from .postgres_sweeps import PostgresSweepTables
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

log = structlog.get_logger(__name__)

#: Seconds :meth:`PostgresStore.ping` waits for a connection and for its answer.
PING_TIMEOUT = 5.0

#: Seconds :meth:`PostgresStore.close` gives the server, in all, to answer while the
#: store closes (the deliveries being committed, the LISTEN connection, both pools);
#: then what is left is dropped (``store_close_timeout``). A server that answers closes
#: in milliseconds; one that stops answering (a silent network cut, a fail-over that
#: leaves the old primary's connections hanging) would otherwise hold the daemon's
#: stop until systemd kills it. :meth:`PostgresStore.requeue_processing`, which the
#: worker runs just before, waits as long for its answer.
CLOSE_TIMEOUT = 5.0

#: States of an action nobody needs to resume.
SETTLED = ("done", "awaiting_approval")


class PostgresStore(PostgresInboxTables, PostgresSafetyTables, PostgresSweepTables):
    """The shared :class:`~lw_remediate.store.Store` on PostgreSQL."""

    def __init__(
        self,
        url: str,
        *,
        ssl_root_cert: str | None = None,
        pool_min: int = 1,
        pool_max: int = 10,
        lease_seconds: float = 60.0,
        lock_connections: int = 8,
        owner: str | None = None,
        listen_probe_seconds: float = LISTEN_PROBE_SECONDS,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self.url = url
        self.ssl_root_cert = ssl_root_cert
        self.pool_min = pool_min
        self.pool_max = pool_max
        self.lease_seconds = lease_seconds
        self.owner = owner or instance_id()
        self._pool: asyncpg.Pool | None = None
        self._heartbeat: asyncio.Task[None] | None = None
        self.lock_connections = lock_connections
        self._lock_pool: asyncpg.Pool | None = None
        #: LISTEN for other instances' deliveries (re-established after a loss).
        self._listener: InboxListener | None = None
        #: How often the LISTEN connection is asked for an answer (a silent cut).
        self.listen_probe_seconds = listen_probe_seconds
        #: How long :meth:`close` waits for the server (see :data:`CLOSE_TIMEOUT`).
        self.close_timeout = close_timeout
        self._subscribers: list[Callable[[], None]] = []
        self._enqueue_pending: list[EnqueueWaiter] = []
        self._enqueue_task: asyncio.Task[None] | None = None
        self.commits = 0  # inbox transactions (group commit: see postgres_inbox.py)
        #: The migrations the last :meth:`open` applied.
        self.applied: list[int] = []

    # -- plumbing --------------------------------------------------------------------

    @property
    def pool(self) -> asyncpg.Pool:
        assert self._pool is not None, "store is not open"
        return self._pool

    def lease(self) -> float:
        """Until when a lease taken now holds."""
        return time.time() + self.lease_seconds

    async def open(self) -> None:
        try:
            pool = await asyncpg.create_pool(
                self.url, min_size=self.pool_min, max_size=self.pool_max, **self._ssl_args()
            )
        except (OSError, ValueError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise StoreUnavailable(
                f"cannot open the PostgreSQL store: {redact(str(exc))}"
            ) from None
        try:
            async with pool.acquire() as conn:
                applied = await migrate(conn)
        except BaseException as exc:
            await pool.close()
            if isinstance(exc, RuntimeError | asyncpg.PostgresError):
                raise StoreUnavailable(f"PostgreSQL store: {redact(str(exc))}") from None
            raise
        self._pool = pool
        self.applied = applied
        self._lock_pool = await asyncpg.create_pool(
            self.url, min_size=0, max_size=self.lock_connections, **self._ssl_args()
        )
        self._listener = InboxListener(
            self._listen_connection, self._notified, probe_seconds=self.listen_probe_seconds
        )
        await self._listener.start()  # failing, it keeps trying in the background
        if applied:
            log.info("store_migrated", applied=applied)
        self._heartbeat = asyncio.create_task(self._renew_leases(), name="lw-store-leases")

    def _ssl_args(self) -> dict[str, Any]:
        ctx = ssl_context(self.ssl_root_cert)
        return {"ssl": ctx} if ctx is not None else {}

    async def _listen_connection(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await asyncpg.connect(
            self.url, timeout=LISTEN_CONNECT_TIMEOUT, **self._ssl_args()
        )
        return conn

    async def close(self) -> None:
        """Let the deliveries being committed finish, then close the LISTEN connection
        and both pools, gracefully, within :attr:`close_timeout` seconds in all. What
        the server has not answered by then is dropped (``store_close_timeout``, a
        warning, with the ``part`` that was waited for): only connections to a server
        that does not answer are dropped, and what they carried was never committed
        (the server rolls back a transaction whose session it ends)."""
        if self._pool is None:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.close_timeout
        enqueue = self._enqueue_task
        if enqueue is not None:  # deliveries being committed finish first
            done, _ = await asyncio.wait({enqueue}, timeout=self.close_timeout)
            if not done:
                self._close_timed_out("enqueue")
        listener, self._listener = self._listener, None
        left = max(deadline - loop.time(), 0.0)
        if listener is not None and not await listener.close(timeout=left):
            self._close_timed_out("listen")
        lock_pool, self._lock_pool = self._lock_pool, None
        if lock_pool is not None:
            await self._close_pool(lock_pool, "lock_pool", deadline)
        pool, self._pool = self._pool, None  # the heartbeat renews no more
        await self._close_pool(pool, "pool", deadline)
        # Every connection is closed or dropped now, so whatever still waited on one
        # has its answer or its error. The heartbeat is cancelled only now: cancelling
        # a query it is waiting on would open a connection to ask the server to stop it.
        heartbeat, self._heartbeat = self._heartbeat, None
        for task in (heartbeat, enqueue):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _close_pool(self, pool: asyncpg.Pool, part: str, deadline: float) -> None:
        """``pool.close()`` (it waits for every connection to be released, then for the
        server to acknowledge each one's end) until ``deadline``; then ``terminate``."""
        try:
            async with asyncio.timeout_at(deadline):
                await pool.close()
        except TimeoutError:
            pool.terminate()  # closes each connection's socket without waiting
            self._close_timed_out(part)

    def _close_timed_out(self, part: str) -> None:
        log.warning("store_close_timeout", part=part, timeout=self.close_timeout)

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    async def ping(self) -> None:
        """``SELECT 1`` within :data:`PING_TIMEOUT`. After a failure on a pooled
        connection (the server may have dropped them all in a restart or a fail-over,
        before the client noticed) the pool's connections are replaced and it is tried
        once more, on a new connection, before the answer counts."""
        if self._pool is None:
            raise StoreUnavailable("the PostgreSQL store is closed")
        reason = ""
        for _ in range(2):
            try:
                async with self._pool.acquire(timeout=PING_TIMEOUT) as conn:
                    await conn.fetchval("SELECT 1", timeout=PING_TIMEOUT)
                return
            except TimeoutError:
                raise StoreUnavailable(f"PostgreSQL: no answer within {PING_TIMEOUT:g} s") from None
            except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
                reason = redact(str(exc)) or type(exc).__name__
                await self._pool.expire_connections()
        raise StoreUnavailable(f"PostgreSQL: {reason}")

    async def _renew_leases(self) -> None:
        """Keep this instance's claims alive while it runs (a dead one stops renewing)."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if self._pool is None:  # closing
                return
            try:
                await self.renew_leases()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("lease_renewal_failed", error=str(exc))

    async def renew_leases(self) -> None:
        until = self.lease()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE inbox SET lease_until = $1 WHERE claimed_by = $2 AND state = 'processing'",
                until,
                self.owner,
            )
            await conn.execute(
                "UPDATE actions SET lease_until = $1 WHERE owner = $2"
                " AND state NOT IN ('done', 'awaiting_approval')",
                until,
                self.owner,
            )

    # -- violations and actions --------------------------------------------------------

    async def add_violation(self, inbox_id: int | None, violation: Violation) -> int:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO violations (inbox_id, rule_id, source_rule_id, resource_arn, account_id,"
                " region, reason, resource_type, alert_id, created_at)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) ON CONFLICT DO NOTHING",
                *new_violation(inbox_id, violation, time.time()),
            )
            value = await conn.fetchval(
                "SELECT id FROM violations WHERE inbox_id IS NOT DISTINCT FROM $1 AND rule_id = $2"
                " AND resource_arn = $3 AND account_id = $4 AND COALESCE(reason, '') = $5",
                *violation_key(inbox_id, violation),
            )
        return int(value)

    async def create_action(
        self, violation_id: int, inbox_id: int | None, record: ActionRecord
    ) -> tuple[ActionRecord, bool]:
        async with self.pool.acquire() as conn:
            existing = await conn.fetchrow(
                "SELECT * FROM actions WHERE violation_id = $1 AND remediation_id = $2",
                violation_id,
                record.remediation_id,
            )
            if existing is not None:
                return action_record(existing), False
            action_id = record.id or new_action_id()
            now = time.time()
            inserted = await conn.fetchval(
                "INSERT INTO actions (id, violation_id, inbox_id, remediation_id, rule_id,"
                " resource_arn, account_id, mode, state, status, detail, violation, created_at,"
                " updated_at, owner, lease_until)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)"
                " ON CONFLICT (violation_id, remediation_id) DO NOTHING RETURNING id",
                action_id,
                violation_id,
                inbox_id,
                *new_action(record),
                now,
                now,
                self.owner,
                self.lease(),
            )
            if inserted is None:  # another instance created it meanwhile
                row = await conn.fetchrow(
                    "SELECT * FROM actions WHERE violation_id = $1 AND remediation_id = $2",
                    violation_id,
                    record.remediation_id,
                )
                return action_record(row), False
        record.id = action_id
        return record, True

    async def save_action(self, record: ActionRecord) -> None:
        if record.id is None:
            raise ValueError("save_action needs a record created by create_action")
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE actions SET mode = $1, state = $2, status = $3, detail = $4, plan = $5,"
                " before_image = $6, after_image = $7, verification = $8, calls = $9, error = $10,"
                " updated_at = $11, owner = $12, lease_until = $13 WHERE id = $14",
                *saved_action(record),
                time.time(),
                self.owner,
                self.lease(),
                record.id,
            )

    async def get_action(self, action_id: str) -> ActionRow | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM actions WHERE id = $1", action_id)
        return None if row is None else action_row(row)

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
        where: list[str] = ["TRUE"]
        args: list[Any] = []

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if status:
            where.append(f"status = {arg(status)}")
        if states:
            where.append(f"state = ANY({arg(list(states))}::text[])")
        if remediation_id:
            where.append(f"remediation_id = {arg(remediation_id)}")
        if resource_arn:
            where.append(f"resource_arn = {arg(resource_arn)}")
        if since is not None:
            where.append(f"updated_at >= {arg(since)}")
        # Only fixed column conditions are joined here; every value is a bound parameter.
        sql = (
            f"SELECT * FROM actions WHERE {' AND '.join(where)}"  # noqa: S608
            f" ORDER BY created_at DESC, seq DESC LIMIT {arg(limit)}"
        )
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(sql, *args)
        return [action_row(r) for r in rows]

    async def unfinished_actions(self) -> list[ActionRow]:
        """Unfinished actions nobody else holds: this instance's, unowned ones, and those
        whose owner stopped renewing its lease. They become this instance's (one
        ``UPDATE``, so two instances never both take one over)."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE actions SET owner = $1, lease_until = $2"
                " WHERE state <> ALL($3::text[])"
                " AND (owner IS NULL OR owner = $1 OR lease_until IS NULL OR lease_until < $4)"
                " RETURNING *",
                self.owner,
                self.lease(),
                list(SETTLED),
                time.time(),
            )
        ordered = sorted(rows, key=lambda r: (r["created_at"], r["seq"]))
        return [action_row(r) for r in ordered]

    async def orphaned_actions(self) -> list[ActionRow]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE actions SET owner = $1, lease_until = $2"
                " WHERE state <> ALL($3::text[]) AND lease_until < $4"
                " AND owner IS DISTINCT FROM $1 RETURNING *",
                self.owner,
                self.lease(),
                list(SETTLED),
                time.time(),
            )
        ordered = sorted(rows, key=lambda r: (r["created_at"], r["seq"]))
        return [action_row(r) for r in ordered]

    @contextlib.asynccontextmanager
    async def resource_lock(self, key: str) -> AsyncIterator[None]:
        """A session-level advisory lock on ``key`` on a connection of its own pool
        (sized to the engine's concurrency): held until the action ends, released by
        the server when this process dies."""
        assert self._lock_pool is not None, "store is not open"
        async with self._lock_pool.acquire() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtextextended($1, 0))", key)
            try:
                yield
            finally:
                await conn.execute("SELECT pg_advisory_unlock(hashtextextended($1, 0))", key)

    def subscribe(self, wake: Callable[[], None]) -> None:
        self._subscribers.append(wake)

    def _notified(self, *_: Any) -> None:
        for wake in self._subscribers:
            wake()

    async def count_actions(self, *, status: str | None = None) -> int:
        async with self.pool.acquire() as conn:
            if status:
                value = await conn.fetchval(
                    "SELECT COUNT(*) FROM actions WHERE status = $1", status
                )
            else:
                value = await conn.fetchval("SELECT COUNT(*) FROM actions")
        return int(value)

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
        async with self.pool.acquire() as conn:
            await conn.execute(
                "INSERT INTO audit (at, action_id, actor, kind, detail, data)"
                " VALUES ($1,$2,$3,$4,$5,$6)",
                time.time(),
                action_id,
                actor,
                kind,
                *audit_values(detail, data),
            )

    async def audit_events(
        self, *, action_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]:
        async with self.pool.acquire() as conn:
            if action_id:
                rows = await conn.fetch(
                    "SELECT * FROM audit WHERE action_id = $1 ORDER BY id DESC LIMIT $2",
                    action_id,
                    limit,
                )
            else:
                rows = await conn.fetch("SELECT * FROM audit ORDER BY id DESC LIMIT $1", limit)
        return [audit_event(r) for r in rows]

    # -- journal adapter ---------------------------------------------------------------

    def journal(self) -> StoreJournal:
        return StoreJournal(self)
