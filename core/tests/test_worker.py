"""The worker supervisor: a crashed worker loop is restarted, counted and reported."""

from __future__ import annotations

import asyncio
import time

from lw_remediate.metrics import Metrics
from lw_remediate.pipeline.worker import Worker


class CrashingEngine:
    """An engine whose worker loop crashes ``crashes`` times, then runs until stopped."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.metrics = Metrics()
        self.heartbeat: float | None = None
        self.runs = 0
        self.running = asyncio.Event()
        self.requeued = 0
        self.store = self

    async def recover(self) -> None:
        pass

    async def requeue_processing(self) -> int:
        self.requeued += 1
        return 0

    async def run_worker(self, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"bug number {self.runs}")
        self.running.set()
        await stop.wait()


async def test_a_crashed_worker_is_restarted_and_counted():
    engine = CrashingEngine(crashes=2)
    worker = Worker(engine, restart_delay=0.001)  # type: ignore[arg-type]
    await worker.start()
    await asyncio.wait_for(engine.running.wait(), timeout=10)
    assert worker.alive
    assert worker.restarts == 2 and engine.runs == 3
    assert "lw_remediate_worker_restarts_total 2.0" in engine.metrics.render().decode()
    await worker.stop(timeout=5)
    assert not worker.alive and engine.requeued == 1


async def test_a_stale_heartbeat_is_not_alive():
    engine = CrashingEngine(crashes=0)
    worker = Worker(engine, stale_after=30)  # type: ignore[arg-type]
    await worker.start()
    await asyncio.wait_for(engine.running.wait(), timeout=10)
    engine.heartbeat = time.monotonic() - 31
    assert not worker.alive
    await worker.stop(timeout=5)
