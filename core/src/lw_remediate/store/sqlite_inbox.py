"""The inbox in the SQLite store (mixed into :class:`SqliteStore`): alerts as received.

Inserts use *group commit*: while one transaction is being committed, new deliveries
queue up and are committed together in the next transaction. There is no fixed wait,
so a lone delivery is committed at once and a burst shares fsyncs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import sqlite3
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from ..redact import redact
from .base import InboxRow
from .rows import inbox_row, stored_body

T = TypeVar("T")

#: Migration of schema version 1 (bodies stored as decoded text) to 2.
INBOX_MIGRATION = "ALTER TABLE inbox ADD COLUMN body_encoding TEXT"


class SqliteInboxTables:
    """The inbox half of :class:`~lw_remediate.store.base.Store` on the store's connection."""

    _pending: list[tuple[tuple[str, str, str, Any], asyncio.Future[tuple[int, bool]]]]
    _flushing: bool
    _flush_task: asyncio.Task[None] | None
    commits: int

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    async def _write(self, fn: Callable[[sqlite3.Connection], T]) -> T:  # provided by SqliteStore
        raise NotImplementedError

    async def enqueue(self, items: Sequence[tuple[str, str, str, Any]]) -> list[tuple[int, bool]]:
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[tuple[int, bool]]] = []
        for item in items:
            fut: asyncio.Future[tuple[int, bool]] = loop.create_future()
            self._pending.append((item, fut))
            futures.append(fut)
        if not self._flushing:
            self._flushing = True
            self._flush_task = loop.create_task(self._flush())
        if len(futures) == 1:  # the common case: one webhook, one row
            return [await futures[0]]
        return list(await asyncio.gather(*futures))

    async def _flush(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    items = [item for item, _ in batch]
                    results = await self._run(functools.partial(self._insert_batch, items=items))
                except Exception as exc:  # noqa: BLE001 - hand the failure to every waiter
                    for _, fut in batch:
                        if not fut.done():
                            fut.set_exception(exc)
                    continue
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
        finally:
            self._flushing = False

    def _insert_batch(
        self, conn: sqlite3.Connection, *, items: list[tuple[str, str, str, Any]]
    ) -> list[tuple[int, bool]]:
        now = time.time()
        out: list[tuple[int, bool]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for key, shape, event_id, body in items:
                raw, encoding = stored_body(body)
                cur = conn.execute(
                    "INSERT OR IGNORE INTO inbox (delivery_key, shape, event_id, body, body_encoding,"
                    " received_at, next_attempt_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (key, shape, event_id, raw, encoding, now, now, now),
                )
                if cur.rowcount:
                    out.append((int(cur.lastrowid or 0), True))
                else:
                    row = conn.execute(
                        "SELECT id FROM inbox WHERE delivery_key = ?", (key,)
                    ).fetchone()
                    out.append((int(row["id"]), False))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.commits += 1
        return out

    _inbox = staticmethod(inbox_row)

    async def claim_due(self, now: float, limit: int) -> list[InboxRow]:
        def _claim(conn: sqlite3.Connection) -> list[InboxRow]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                rows = conn.execute(
                    "SELECT * FROM inbox WHERE state = 'queued' AND next_attempt_at <= ? ORDER BY id LIMIT ?",
                    (now, limit),
                ).fetchall()
                for row in rows:
                    conn.execute(
                        "UPDATE inbox SET state = 'processing', attempts = attempts + 1, updated_at = ? WHERE id = ?",
                        (now, row["id"]),
                    )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return [
                dataclasses.replace(self._inbox(r), state="processing", attempts=r["attempts"] + 1)
                for r in rows
            ]

        return await self._run(_claim)

    async def requeue_processing(self) -> int:
        """After a crash or shutdown: give up claims so the work runs again."""

        def _requeue(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "UPDATE inbox SET state = 'queued', updated_at = ? WHERE state = 'processing'",
                (time.time(),),
            )
            return cur.rowcount

        return await self._run(_requeue)

    async def next_due_at(self) -> float | None:
        def _next(conn: sqlite3.Connection) -> float | None:
            row = conn.execute(
                "SELECT MIN(next_attempt_at) AS t FROM inbox WHERE state = 'queued'"
            ).fetchone()
            return None if row["t"] is None else float(row["t"])

        return await self._run(_next)

    async def retry_later(self, inbox_id: int, *, next_attempt_at: float, error: str) -> int:
        def _retry(conn: sqlite3.Connection) -> int:
            conn.execute(
                "UPDATE inbox SET state = 'queued', next_attempt_at = ?, last_error = ?, updated_at = ? WHERE id = ?",
                (next_attempt_at, redact(error), time.time(), inbox_id),
            )
            row = conn.execute("SELECT attempts FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
            return int(row["attempts"])

        return await self._run(_retry)

    async def mark_inbox(self, inbox_id: int, state: str, *, error: str | None = None) -> None:
        await self._write(
            lambda c: c.execute(
                "UPDATE inbox SET state = ?, last_error = COALESCE(?, last_error), updated_at = ? WHERE id = ?",
                (state, redact(error) if error else None, time.time(), inbox_id),
            )
        )

    async def inbox_counts(self) -> dict[str, int]:
        def _counts(conn: sqlite3.Connection) -> dict[str, int]:
            rows = conn.execute("SELECT state, COUNT(*) AS n FROM inbox GROUP BY state").fetchall()
            return {r["state"]: int(r["n"]) for r in rows}

        return await self._run(_counts)

    async def requeue_inbox(self, inbox_id: int) -> bool:
        """Send a ``dead`` alert back to the queue with a fresh attempt count."""

        def _requeue(conn: sqlite3.Connection) -> bool:
            now = time.time()
            cur = conn.execute(
                "UPDATE inbox SET state = 'queued', attempts = 0, next_attempt_at = ?, updated_at = ?"
                " WHERE id = ? AND state = 'dead'",
                (now, now, inbox_id),
            )
            return cur.rowcount == 1

        return await self._run(_requeue)

    async def get_inbox(self, inbox_id: int) -> InboxRow | None:
        def _get(conn: sqlite3.Connection) -> InboxRow | None:
            row = conn.execute("SELECT * FROM inbox WHERE id = ?", (inbox_id,)).fetchone()
            return None if row is None else self._inbox(row)

        return await self._run(_get)

    async def list_inbox(self, *, state: str | None = None, limit: int = 100) -> list[InboxRow]:
        def _list(conn: sqlite3.Connection) -> list[InboxRow]:
            if state:
                rows = conn.execute(
                    "SELECT * FROM inbox WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit)
                )
            else:
                rows = conn.execute("SELECT * FROM inbox ORDER BY id DESC LIMIT ?", (limit,))
            return [self._inbox(r) for r in rows.fetchall()]

        return await self._run(_list)
