"""The sweeps a long-running process (the daemon) runs in the background.

:meth:`SweepManager.begin`, :meth:`~SweepManager.listing` and
:meth:`~SweepManager.stop_sweep` are the one implementation behind the admin API's
``/admin/sweeps`` and the console's sweeps page: they answer a bad request, a busy
sweep or an unknown id as a :class:`~lw_remediate.operate.control.ControlError` with
its HTTP status and a one-line reason in the request's field names.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

from ...pipeline.engine import Engine
from ..control import Actor, BadRequest, ControlError, NotFound
from .bookkeeping import SweepStore
from .request import SweepBusy, SweepError, SweepRequest, build_request
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

    async def begin(
        self,
        actor: Actor,
        *,
        accounts: Iterable[str] = (),
        all_accounts: bool = False,
        rules: Iterable[str] = (),
        mode: str | None = None,
        report_types: Iterable[str] = (),
    ) -> Sweep:
        """Validate a request (admin API, console) and start it: :class:`BadRequest`
        (400) for bad arguments, :class:`ControlError` (409) without the Lacework API or
        while the same sweep runs. The same parameters as an interrupted sweep continue
        it."""
        if self.engine.lacework is None:
            raise ControlError("sweeping needs the Lacework API: set [lacework] in the config")
        try:
            request = build_request(
                self.engine.config,
                self.engine.registry,
                accounts=accounts,
                all_accounts=all_accounts,
                rules=rules,
                mode=mode,
                report_types=report_types,
            )
        except SweepError as exc:
            raise BadRequest(in_field_names(str(exc))) from None
        try:
            return await self.start(request, actor)
        except SweepBusy as exc:
            raise ControlError(str(exc)) from None

    async def listing(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """The newest sweeps first; one running here shows its live progress."""
        out = []
        for row in await SweepStore(self.engine.store).list(limit=limit):
            live = self.running.get(int(row["id"]))
            out.append(live[0].snapshot() if live is not None else row)
        return out

    async def stop_sweep(self, sweep_id: int, actor: Actor) -> dict[str, Any]:
        """Stop a sweep running here (its running actions finish), audited as
        ``sweep_stop_requested`` by ``actor``; :class:`NotFound` for an unknown id,
        :class:`ControlError` (409) for one not running here."""
        live = self.running.get(sweep_id)
        if live is None:
            snap = await self.snapshot(sweep_id)
            if snap is None:
                raise NotFound(f"no sweep {sweep_id}")
            raise ControlError(f"sweep {sweep_id} is not running here (state {snap['state']})")
        sweep = live[0]
        if not sweep.stopping:
            await self.engine.store.audit(
                "sweep_stop_requested",
                f"sweep {sweep_id} stopped by {actor}: running actions finish, no more start",
                actor=actor.name,
                data={"via": actor.via, "sweep_id": sweep_id},
            )
        sweep.stop()
        return sweep.snapshot()

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


_FIELD_NAMES = (
    ("--all-accounts", "all_accounts"),
    ("--account", "accounts"),
    ("--rule", "rules"),
    ("--report-type", "report_types"),
    ("--mode", "mode"),
    ("`lw-remediate sweep --help`", "the operating guide"),
)


def in_field_names(text: str) -> str:
    """A request error (worded for the CLI's options) in the API's and console's
    field names."""
    for cli_name, field in _FIELD_NAMES:
        text = text.replace(cli_name, field)
    return text
