"""The daemon's inbox worker under a supervisor.

:meth:`Engine.run_worker <lw_remediate.pipeline.engine.Engine.run_worker>` records
every failure of one inbox entry on that entry, so it should never end on its own. If
it does (a bug), the supervisor logs ``worker_crashed``, counts it
(``lw_remediate_worker_restarts_total``) and starts it again. :attr:`Worker.alive`
(the task runs and its loop went round recently) is what ``/readyz`` reports.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Protocol

import structlog

from ..metrics import Metrics
from ..store import Store
from .runner import describe_error

log = structlog.get_logger(__name__)


class WorkerEngine(Protocol):
    """What the supervisor needs of the engine."""

    store: Store
    metrics: Metrics
    heartbeat: float | None

    async def recover(self) -> None: ...

    async def run_worker(self, stop: asyncio.Event) -> None: ...


class Worker:
    """Runs ``engine.run_worker`` until :meth:`stop`, restarting it when it crashes.

    :param restart_delay: first wait before a restart; doubles per consecutive crash,
        capped at ``max_restart_delay``.
    :param stale_after: seconds without a round of the worker loop after which it no
        longer counts as alive (the loop goes round at least every 5 s when idle).
    """

    def __init__(
        self,
        engine: WorkerEngine,
        *,
        restart_delay: float = 0.1,
        max_restart_delay: float = 5.0,
        stale_after: float = 60.0,
    ) -> None:
        self.engine = engine
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self.stale_after = stale_after
        self.restarts = 0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Finish what a previous run left (``recover``), then start the loop."""
        await self.engine.recover()
        self._task = asyncio.create_task(self._supervise(), name="lw-remediate-worker")
        log.info("worker_started")

    @property
    def alive(self) -> bool:
        """The loop runs and went round within ``stale_after`` seconds."""
        if self._task is None or self._task.done() or self._stop.is_set():
            return False
        beat = self.engine.heartbeat
        return beat is None or time.monotonic() - beat < self.stale_after

    async def _supervise(self) -> None:
        crashes = 0
        while not self._stop.is_set():
            try:
                await self.engine.run_worker(self._stop)
                crashes = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # restarted below, counted and logged
                crashes += 1
                self.restarts += 1
                self.engine.metrics.worker_restarts.inc()
                delay = min(self.max_restart_delay, self.restart_delay * 2 ** (crashes - 1))
                log.error(
                    "worker_crashed",
                    error=describe_error(exc),
                    restarts=self.restarts,
                    restart_in_s=delay,
                    exc_info=exc,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), timeout=delay)

    async def stop(self, timeout: float) -> None:
        """Let in-flight work finish (at most ``timeout`` s), then give back any claim."""
        self._stop.set()
        task = self._task
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=timeout)
            except TimeoutError:
                task.cancel()
                log.warning("worker_stopped_with_work_in_flight")
        # Anything still claimed goes back to the queue for the next start.
        await self.engine.store.requeue_processing()
        log.info("worker_stopped")
