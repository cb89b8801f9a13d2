"""The sweeps a long-running process (the daemon) runs in the background."""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from ...pipeline.engine import Engine
from ..control import Actor
from .bookkeeping import SweepStore
from .request import SweepRequest
from .run import Sweep

log = structlog.get_logger(__name__)


class SweepManager:
    """The sweeps running in this process, each a task the app owns."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.running: dict[int, tuple[Sweep, asyncio.Task[None]]] = {}

    async def start(self, request: SweepRequest, actor: Actor | None = None) -> Sweep:
        """Claim the sweep row now (so the caller gets its id) and run it in the background."""
        sweep = Sweep(self.engine, request, actor=actor)
        sweep_id = await sweep.open()
        task = asyncio.create_task(self._run(sweep), name=f"sweep-{sweep_id}")
        self.running[sweep_id] = (sweep, task)
        return sweep

    async def _run(self, sweep: Sweep) -> None:
        try:
            await sweep.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the sweep row; the daemon goes on
            log.error("sweep_failed", sweep_id=sweep.id, error=str(exc) or type(exc).__name__)
        finally:
            if sweep.id is not None:
                self.running.pop(sweep.id, None)

    async def snapshot(self, sweep_id: int) -> dict[str, Any] | None:
        live = self.running.get(sweep_id)
        if live is not None:
            return live[0].snapshot()
        return await SweepStore(self.engine.store).get(sweep_id)

    async def shutdown(self, timeout: float) -> None:
        """Stop every running sweep; abandon what is still running after ``timeout``."""
        if not self.running:
            return
        tasks = []
        for sweep, task in list(self.running.values()):
            sweep.stop()
            tasks.append(task)
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("sweeps_abandoned_at_shutdown", sweeps=len(pending))
