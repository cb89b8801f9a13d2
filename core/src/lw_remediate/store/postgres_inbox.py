"""The inbox in the PostgreSQL store (mixed into :class:`PostgresStore`).

Deliveries are unique by ``delivery_key`` in the database, so a redelivery to another
instance is recognised as one. A claim is ``FOR UPDATE SKIP LOCKED`` with a lease:
instances claiming at once get disjoint rows, and a row whose holder died (its lease
ran out) is claimed again.

Deliveries are group-committed: webhooks that arrive while a commit is running are
written together in the next transaction, in one statement (one round trip); if that
statement fails, the batch is written again with a savepoint per caller, so one
failing delivery fails only its own webhook. Every caller resumes only after the
commit that holds its rows. The durable commit stays before the 202; concurrent webhooks just
share its fsync, as the SQLite store's do.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import asyncpg
import structlog

from ..redact import redact
from .base import InboxRow
from .rows import inbox_row, stored_body

#: The channel a new delivery is announced on (LISTEN/NOTIFY).
INBOX_CHANNEL = "lw_remediate_inbox"

Deliveries = Sequence[tuple[str, str, str, Any]]
#: One caller of :meth:`PostgresInboxTables.enqueue` waiting for its group commit.
EnqueueWaiter = tuple[Deliveries, "asyncio.Future[list[tuple[int, bool]]]"]

log = structlog.get_logger(__name__)


class PostgresInboxTables:
    """The inbox half of :class:`~lw_remediate.store.base.Store` on the store's pool."""

    owner: str
    commits: int
    close_timeout: float
    _enqueue_pending: list[EnqueueWaiter]
    _enqueue_task: asyncio.Task[None] | None

    @property
    def pool(self) -> asyncpg.Pool:  # provided by PostgresStore
        raise NotImplementedError

    def lease(self) -> float:  # provided by PostgresStore
        raise NotImplementedError

    async def enqueue(self, items: Deliveries) -> list[tuple[int, bool]]:
        done: asyncio.Future[list[tuple[int, bool]]] = asyncio.get_running_loop().create_future()
        self._enqueue_pending.append((items, done))
        if self._enqueue_task is None or self._enqueue_task.done():
            # A task of its own: a caller that goes away never strands the others' commit.
            self._enqueue_task = asyncio.create_task(
                self._commit_pending(), name="lw-store-enqueue"
            )
        return await done

    async def _commit_pending(self) -> None:
        batch: list[EnqueueWaiter] = []
        try:
            while self._enqueue_pending:
                batch, self._enqueue_pending = self._enqueue_pending, []
                results = await self._commit_batch(batch)
                for (_, done), result in zip(batch, results, strict=True):
                    if done.done():  # its caller went away
                        continue
                    if isinstance(result, BaseException):
                        done.set_exception(result)
                    else:
                        done.set_result(result)
        finally:  # cancelled at shutdown: no caller waits for ever
            for _, done in [*batch, *self._enqueue_pending]:
                if not done.done():
                    done.set_exception(ConnectionError("the store closed before the commit"))

    async def _commit_batch(
        self, batch: list[EnqueueWaiter]
    ) -> list[list[tuple[int, bool]] | BaseException]:
        results: list[list[tuple[int, bool]] | BaseException] = []
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                try:
                    async with conn.transaction():  # the whole batch in one statement
                        results = list(await _insert_batch(conn, [items for items, _ in batch]))
                except (asyncpg.PostgresError, ValueError):
                    results = []
                    for items, _ in batch:  # again, a savepoint per caller: one fails alone
                        try:
                            async with conn.transaction():
                                results.append(await _insert(conn, items))
                        except (asyncpg.PostgresError, ValueError) as exc:
                            results.append(exc)
                created = [c for r in results if not isinstance(r, BaseException) for _, c in r]
                if any(created):
                    await conn.execute(f"NOTIFY {INBOX_CHANNEL}")
        except Exception as exc:  # noqa: BLE001 - each waiter must hear the commit failed
            return [exc] * len(batch)
        self.commits += 1
        return results

    async def claim_due(self, now: float, limit: int) -> list[InboxRow]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                "UPDATE inbox SET state = 'processing', attempts = attempts + 1, updated_at = $1,"
                " claimed_by = $3, lease_until = $4 WHERE id IN ("
                " SELECT id FROM inbox WHERE (state = 'queued' AND next_attempt_at <= $1)"
                " OR (state = 'processing' AND lease_until < $5)"
                " ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *",
                now,
                limit,
                self.owner,
                self.lease(),
                time.time(),
            )
        return [inbox_row(r) for r in sorted(rows, key=lambda r: r["id"])]

    async def requeue_processing(self) -> int:
        """Give up this instance's claims (and any whose holder's lease ran out) so the
        work runs again; other live instances' claims stay theirs.

        The worker runs this as it stops: if the server does not answer within
        ``close_timeout`` seconds the connection is dropped (cancelling the query would
        wait for the server too) and the claims stay as they are, to be claimed again
        once their leases run out (``store_requeue_unanswered``, a warning); 0."""
        now = time.time()
        try:
            async with self.pool.acquire(timeout=self.close_timeout) as conn:
                query = asyncio.ensure_future(
                    conn.execute(
                        "UPDATE inbox SET state = 'queued', claimed_by = NULL,"
                        " lease_until = NULL, updated_at = $1 WHERE state = 'processing'"
                        " AND (claimed_by IS NULL OR claimed_by = $2 OR lease_until < $1)",
                        now,
                        self.owner,
                    )
                )
                if not (await asyncio.wait({query}, timeout=self.close_timeout))[0]:
                    conn.terminate()  # the query fails at once: nothing waits for the server
                    await asyncio.gather(query, return_exceptions=True)
                    raise TimeoutError
                status = query.result()
        except TimeoutError:
            log.warning("store_requeue_unanswered", timeout=self.close_timeout)
            return 0
        return _count(status)

    async def next_due_at(self) -> float | None:
        async with self.pool.acquire() as conn:
            value = await conn.fetchval(
                "SELECT MIN(next_attempt_at) FROM inbox WHERE state = 'queued'"
            )
        return None if value is None else float(value)

    async def retry_later(self, inbox_id: int, *, next_attempt_at: float, error: str) -> int:
        async with self.pool.acquire() as conn:
            attempts = await conn.fetchval(
                "UPDATE inbox SET state = 'queued', next_attempt_at = $1, last_error = $2,"
                " updated_at = $3, claimed_by = NULL, lease_until = NULL WHERE id = $4"
                " RETURNING attempts",
                next_attempt_at,
                redact(error),
                time.time(),
                inbox_id,
            )
        return int(attempts)

    async def mark_inbox(self, inbox_id: int, state: str, *, error: str | None = None) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(
                "UPDATE inbox SET state = $1, last_error = COALESCE($2, last_error),"
                " updated_at = $3 WHERE id = $4",
                state,
                redact(error) if error else None,
                time.time(),
                inbox_id,
            )

    async def inbox_counts(self) -> dict[str, int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch("SELECT state, COUNT(*) AS n FROM inbox GROUP BY state")
        return {r["state"]: int(r["n"]) for r in rows}

    async def requeue_inbox(self, inbox_id: int) -> bool:
        """Send a ``dead`` alert back to the queue with a fresh attempt count."""
        now = time.time()
        async with self.pool.acquire() as conn:
            status = await conn.execute(
                "UPDATE inbox SET state = 'queued', attempts = 0, next_attempt_at = $1,"
                " updated_at = $1 WHERE id = $2 AND state = 'dead'",
                now,
                inbox_id,
            )
        return _count(status) == 1

    async def get_inbox(self, inbox_id: int) -> InboxRow | None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow("SELECT * FROM inbox WHERE id = $1", inbox_id)
        return None if row is None else inbox_row(row)

    async def list_inbox(self, *, state: str | None = None, limit: int = 100) -> list[InboxRow]:
        async with self.pool.acquire() as conn:
            if state:
                rows = await conn.fetch(
                    "SELECT * FROM inbox WHERE state = $1 ORDER BY id DESC LIMIT $2", state, limit
                )
            else:
                rows = await conn.fetch("SELECT * FROM inbox ORDER BY id DESC LIMIT $1", limit)
        return [inbox_row(r) for r in rows]


def _count(status: str) -> int:
    """The row count of a command tag such as ``UPDATE 3``."""
    return int(status.rsplit(" ", 1)[-1])


#: Every delivery of a batch in one round trip: the new ids, and the ids of deliveries
#: already stored (in this statement's snapshot).
_INSERT_BATCH = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::text[])
        WITH ORDINALITY AS g(delivery_key, shape, event_id, body, body_encoding, n)
), inserted AS (
    INSERT INTO inbox (delivery_key, shape, event_id, body, body_encoding,
                       received_at, next_attempt_at, updated_at)
    SELECT delivery_key, shape, event_id, body, body_encoding, $6, $6, $6 FROM given ORDER BY n
    ON CONFLICT (delivery_key) DO NOTHING
    RETURNING id, delivery_key
)
SELECT g.delivery_key, i.id AS new_id, o.id AS old_id
FROM given g
LEFT JOIN inserted i ON i.delivery_key = g.delivery_key
LEFT JOIN inbox o ON o.delivery_key = g.delivery_key
ORDER BY g.n
"""


async def _insert_batch(conn: Any, callers: list[Deliveries]) -> list[list[tuple[int, bool]]]:
    """The deliveries of several callers in one statement; each caller's results in order.

    A key given twice is new only the first time (as one insert after another would
    answer). A key that another transaction committed while this statement waited on it
    is not in the statement's snapshot; it is read again afterwards.
    """
    columns: tuple[list[Any], ...] = ([], [], [], [], [])
    for items in callers:
        for key, shape, event_id, body in items:
            raw, encoding = stored_body(body)
            for column, value in zip(columns, (key, shape, event_id, raw, encoding), strict=True):
                column.append(value)
    rows = await conn.fetch(_INSERT_BATCH, *columns, time.time())
    seen: set[str] = set()
    flat: list[tuple[int, bool]] = []
    for row in rows:
        key = row["delivery_key"]
        if row["new_id"] is not None and key not in seen:
            flat.append((int(row["new_id"]), True))
        else:
            known = row["new_id"] if row["new_id"] is not None else row["old_id"]
            if known is None:
                known = await conn.fetchval("SELECT id FROM inbox WHERE delivery_key = $1", key)
            flat.append((int(known), False))
        seen.add(key)
    out: list[list[tuple[int, bool]]] = []
    for items in callers:
        out.append(flat[: len(items)])
        flat = flat[len(items) :]
    return out


async def _insert(conn: Any, items: Deliveries) -> list[tuple[int, bool]]:
    now = time.time()
    out: list[tuple[int, bool]] = []
    for key, shape, event_id, body in items:
        raw, encoding = stored_body(body)
        new_id = await conn.fetchval(
            "INSERT INTO inbox (delivery_key, shape, event_id, body, body_encoding,"
            " received_at, next_attempt_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6,$6)"
            " ON CONFLICT (delivery_key) DO NOTHING RETURNING id",
            key,
            shape,
            event_id,
            raw,
            encoding,
            now,
        )
        if new_id is not None:
            out.append((int(new_id), True))
        else:
            old = await conn.fetchval("SELECT id FROM inbox WHERE delivery_key = $1", key)
            out.append((int(old), False))
    return out
