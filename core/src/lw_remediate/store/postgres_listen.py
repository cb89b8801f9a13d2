"""The PostgreSQL store's LISTEN connection, and getting it back after a loss.

A delivery committed by one instance sends ``NOTIFY`` on :data:`INBOX_CHANNEL`; every
instance LISTENs on a connection of its own (:class:`InboxListener`), so its worker
wakes at once rather than at its next poll. That connection can go: the server
restarts or fails over, an operator runs ``pg_terminate_backend``, the network breaks.
The worker's polling still finds the work meanwhile (a few seconds late), and the
listener LISTENs again in the background, on a new connection, trying at once and then
after :data:`RELISTEN_FIRST_DELAY` seconds, doubling up to :data:`RELISTEN_MAX_DELAY`,
until it succeeds or the store closes. Notifications sent while it was down are lost,
so once it is back every subscriber is woken once to look at the inbox.

A connection cut without a close or reset ever reaching this host (a fail-over that
leaves the old primary's connections hanging, a firewall dropping packets) would look
idle for ever, so the connection is asked ``SELECT 1`` every :data:`LISTEN_PROBE_SECONDS`;
no answer within :data:`LISTEN_PROBE_TIMEOUT` and it is dropped, which counts as a loss.
:meth:`InboxListener.close` waits as long as the store lets it for the server to
acknowledge the connection's end, then drops it.

Events: ``store_listen_failed`` (the LISTEN at open failed), ``store_listen_lost`` (the
connection went), ``store_relisten_failed`` (one attempt to get it back failed; with
``attempt``, ``retry_in`` and the redacted ``error``), ``store_listen_unanswered``
(the probe got no answer; the loss follows), all warnings; ``store_listen_restored``
(info, with ``attempts``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import structlog

from ..redact import redact
from .postgres_inbox import INBOX_CHANNEL

log = structlog.get_logger(__name__)

#: Seconds before the second attempt to LISTEN again (the first is made at once).
RELISTEN_FIRST_DELAY = 0.5
#: The longest wait between two attempts: a server down for long is tried twice a minute.
RELISTEN_MAX_DELAY = 30.0
#: Seconds one attempt to connect may take (a network cut may drop packets silently).
LISTEN_CONNECT_TIMEOUT = 10.0
#: Seconds between two probes of a live LISTEN connection.
LISTEN_PROBE_SECONDS = 30.0
#: Seconds a probe waits for its answer (at most the probe interval).
LISTEN_PROBE_TIMEOUT = 10.0


def relisten_delays() -> Iterator[float]:
    """Seconds to wait before each attempt: 0, 0.5, 1, 2, 4, 8, 16, 30, 30, ..."""
    yield 0.0
    delay = RELISTEN_FIRST_DELAY
    while True:
        yield delay
        delay = min(delay * 2, RELISTEN_MAX_DELAY)


class InboxListener:
    """LISTEN on :data:`INBOX_CHANNEL` on a connection of its own; ``notified`` is
    called for each notification, and once more whenever the LISTEN is back after
    being lost (or after failing at :meth:`start`). At most one reconnect task runs;
    one more task probes the live connection every ``probe_seconds``."""

    def __init__(
        self,
        connect: Callable[[], Awaitable[Any]],
        notified: Callable[[], None],
        *,
        probe_seconds: float = LISTEN_PROBE_SECONDS,
    ) -> None:
        self._connect = connect
        self._notified = notified
        self._probe_seconds = probe_seconds
        self._prober: asyncio.Task[None] | None = None
        #: The live LISTEN connection, or None while there is none.
        self.connection: Any = None
        self._relisten: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def reconnecting(self) -> bool:
        """Whether a task is trying to LISTEN again."""
        return self._relisten is not None and not self._relisten.done()

    async def start(self) -> None:
        """LISTEN now; if that fails, log it and keep trying in the background."""
        self._prober = asyncio.create_task(self._probe(), name="lw-store-listen-probe")
        try:
            await self._listen()
        except Exception as exc:  # noqa: BLE001 - any failure leaves polling and a retry
            log.warning("store_listen_failed", error=_reason(exc), retry="background")
            self._reconnect_later()

    async def _listen(self) -> None:
        conn = await self._connect()
        try:
            await conn.add_listener(INBOX_CHANNEL, self._on_notification)
        except BaseException:  # cancelled (a close) or failed: this connection is not kept
            conn.terminate()
            raise
        conn.add_termination_listener(self._lost)
        self.connection = conn

    def _on_notification(self, *_: Any) -> None:
        self._notified()

    def _lost(self, conn: Any) -> None:
        if conn is not self.connection:  # an older connection's late report
            return
        self.connection = None
        log.warning("store_listen_lost", fallback="polling", retry="background")
        self._reconnect_later()

    def _reconnect_later(self) -> None:
        if self._closed or self.reconnecting:
            return
        self._relisten = asyncio.create_task(self._reconnect(), name="lw-store-relisten")

    async def _reconnect(self) -> None:
        delays = relisten_delays()
        delay = next(delays)
        attempt = 0
        while True:
            await asyncio.sleep(delay)
            attempt += 1
            try:
                await self._listen()
            except Exception as exc:  # noqa: BLE001 - never escapes: log and try again
                delay = next(delays)
                log.warning(
                    "store_relisten_failed", attempt=attempt, retry_in=delay, error=_reason(exc)
                )
                continue
            log.info("store_listen_restored", attempts=attempt)
            self._notified()  # what was sent while it was down is lost: look now
            return

    async def _probe(self) -> None:
        timeout = min(self._probe_seconds, LISTEN_PROBE_TIMEOUT)
        while True:
            await asyncio.sleep(self._probe_seconds)
            conn = self.connection
            if conn is None:
                continue
            try:
                await conn.fetchval("SELECT 1", timeout=timeout)
            except Exception as exc:  # noqa: BLE001 - any failure means "not answering"
                if conn is self.connection and not conn.is_closed():
                    log.warning("store_listen_unanswered", error=_reason(exc))
                    conn.terminate()  # its termination listener reports the loss

    async def close(self, timeout: float | None = None) -> bool:
        """Stop trying and probing, then close the connection (closing is no loss):
        gracefully, or, if the server does not answer within ``timeout`` seconds,
        dropped. Whether it closed in time (or there was nothing to close)."""
        self._closed = True
        for task in (self._relisten, self._prober):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._relisten = self._prober = None
        if self.connection is not None:
            conn, self.connection = self.connection, None
            conn.remove_termination_listener(self._lost)
            try:
                await conn.close(timeout=timeout)  # no answer in time: asyncpg drops it
            except TimeoutError:
                return False
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
        return True


def _reason(exc: BaseException) -> str:
    return redact(str(exc)) or type(exc).__name__
