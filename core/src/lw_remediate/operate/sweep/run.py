"""One sweep run: read the reports, skip what is settled, run the rest through the
engine lane by lane, record progress, resume after an interruption."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import structlog

from ...config import SweepConfig
from ...ingest.lacework import LaceworkClient
from ...model import ActionRecord, Mode, Violation
from ...pipeline.engine import Engine
from ...remediation import Remediation
from ...store import ActionRow
from ...store.base import COMPLETED, FAILED, INTERRUPTED, RUNNING
from ..control import Actor
from .bookkeeping import (
    Prior,
    PriorKey,
    SweepStore,
    mark_gone,
    mark_live,
    report_epoch,
    settled,
)
from .gate import IN_SWEEP, install_gate
from .pacing import Lane, Pacer, is_throttled
from .progress import SweepProgress
from .reports import ReportReader, one_line
from .request import SweepError, SweepRequest

log = structlog.get_logger(__name__)

#: Violations queued at once; the reports are read further only as work finishes.
MAX_PENDING: Final = 10_000


@dataclass
class _Item:
    violation: Violation
    rule: str
    attempt: int = 1


class Sweep:
    """One sweep run over the engine. ``await sweep.run()``; ``sweep.stop()`` to interrupt.

    :param engine: the daemon's engine (its store must be open).
    :param request: what to sweep (:func:`build_request`).
    :param lacework: the API client (default: ``engine.lacework``).
    :param config: pacing (default: ``engine.config.sweep``).
    :param actor: who started it (recorded in the audit trail with its start and end).
    """

    def __init__(
        self,
        engine: Engine,
        request: SweepRequest,
        *,
        lacework: LaceworkClient | None = None,
        config: SweepConfig | None = None,
        actor: Actor | None = None,
    ) -> None:
        self.engine = engine
        self.actor = actor or Actor("lw-remediate", "sweep")
        self.request = request
        self.lacework = lacework or engine.lacework
        self.config = config or engine.config.sweep
        self.sweeps = SweepStore(engine.store)
        self.id: int | None = None
        self.run_number = 0
        self.state = "new"
        self.error: str | None = None
        self.progress = SweepProgress()
        #: Records of the actions this run ran (resumed ones included), in finishing order.
        self.records: list[ActionRecord] = []
        self.started_at = time.time()
        self._stopping = asyncio.Event()
        self._lanes: dict[tuple[str, str], Lane] = {}
        self.reports = ReportReader(
            self.lacework, self.config, self.progress, self.request.rules, self._stopping
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(MAX_PENDING)
        self._passes: dict[int, int] = {}
        self._pass_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        install_gate(engine)

    # -- control ---------------------------------------------------------------------

    def stop(self) -> None:
        """Finish what is running, start nothing more (Ctrl-C, the admin API, shutdown)."""
        if not self._stopping.is_set():
            log.info("sweep_stopping", sweep_id=self.id)
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "run": self.run_number,
            "request": self.request.to_dict(),
            "started_at": self.started_at,
            "error": self.error,
            **self.progress.snapshot(),
        }

    # -- running ---------------------------------------------------------------------

    async def open(self) -> int:
        """Claim the sweep row (new, or the interrupted one with the same parameters)."""
        if self.id is None:
            if self.lacework is None:
                raise SweepError(
                    "sweeping needs the Lacework API: set [lacework] account (or api_url), "
                    "key_id and secret"
                )
            self.id, self.run_number = await self.sweeps.claim(self.request)
            mark_live(self.id)
            self.state = RUNNING
            log.info(
                "sweep_started",
                sweep_id=self.id,
                run=self.run_number,
                **self.request.to_dict(),
            )
            await self.engine.store.audit(
                "sweep_started",
                f"sweep {self.id} (run {self.run_number}) started by {self.actor}",
                actor=self.actor.name,
                data={
                    "via": self.actor.via,
                    "sweep_id": self.id,
                    "run": self.run_number,
                    **self.request.to_dict(),
                },
            )
        return self.id

    async def run(self) -> Sweep:
        """Run (or continue) the sweep to the end, or until :meth:`stop`."""
        sweep_id = await self.open()
        heartbeat = asyncio.create_task(self._heartbeat(sweep_id))
        failure: BaseException | None = None
        state = COMPLETED
        try:
            await self._resume_unfinished(sweep_id)
            await self._read_reports(sweep_id)
            await self._drain()
        except asyncio.CancelledError as exc:  # a second Ctrl-C, or the task cancelled
            failure, state = exc, INTERRUPTED
        except BaseException as exc:  # noqa: BLE001 - recorded on the sweep row, then re-raised
            failure, state = exc, FAILED
            self.error = one_line(str(exc) or type(exc).__name__)
        # The heartbeat goes first, so no progress write can land after the final one.
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        await self._cancel_children()
        if state == COMPLETED and self.stopping and self.progress.done < self.progress.total:
            state = INTERRUPTED
        try:
            await self._finish(sweep_id, state)
        finally:
            mark_gone(sweep_id)
            # Only now, with nothing left to await: whoever sees the final state (the
            # admin API polls it) also finds the sweep no longer running here.
            self.state = state
        if failure is not None:
            raise failure
        return self

    async def _finish(self, sweep_id: int, state: str) -> None:
        self.progress.not_started = max(0, self.progress.total - self.progress.done)
        await self.sweeps.save(
            sweep_id,
            state=state,
            progress=self.progress.snapshot(),
            error=self.error,
            finished=True,
        )
        p = self.progress
        await self.engine.store.audit(
            "sweep_finished",
            f"sweep {sweep_id} (run {self.run_number}) {state}: {p.done}/{p.total} violations "
            f"done, {p.skipped} done before, {p.not_started} not started"
            + (f"; {self.error}" if self.error else ""),
            actor=self.actor.name,
            data={
                "via": self.actor.via,
                "sweep_id": sweep_id,
                "run": self.run_number,
                "state": state,
                "statuses": dict(p.statuses),
            },
        )
        log.info(
            "sweep_finished",
            sweep_id=sweep_id,
            state=state,
            total=self.progress.total,
            done=self.progress.done,
            skipped=self.progress.skipped,
            statuses=dict(self.progress.statuses),
        )

    async def _heartbeat(self, sweep_id: int) -> None:
        """Write progress to the sweep row (at most every 2 s; the API of another
        process and the stale-owner check read it)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.sweeps.save(sweep_id, state=RUNNING, progress=self.progress.snapshot())
            await asyncio.sleep(2.0)

    async def _cancel_children(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- resuming ----------------------------------------------------------------------

    async def _resume_unfinished(self, sweep_id: int) -> None:
        rows = await self.sweeps.unfinished(sweep_id)
        if not rows:
            return
        log.info("sweep_resuming_actions", sweep_id=sweep_id, actions=len(rows))
        await asyncio.gather(*(self._resume_one(row) for row in rows))

    async def _resume_one(self, row: ActionRow) -> None:
        # The engine's crash-recovery path: verify first if the apply had started, else
        # run again from check (which re-reads live state). Gated when it was created.
        await self.engine.resume(row.record)
        stored = await self.engine.store.get_action(row.record.id or "")
        record = stored.record if stored is not None else row.record
        self.progress.resumed += 1
        self._tally([record], record.violation.rule_id)

    # -- reports -----------------------------------------------------------------------

    async def _read_reports(self, sweep_id: int) -> None:
        pairs = [(a, t) for a in self.request.accounts for t in self.request.report_types]
        self.progress.reports_expected = len(pairs)
        seen: set[tuple[str, str | None]] = set()
        for account, report_type in pairs:
            if self.stopping:
                break
            summary = await self.reports.fetch(account, report_type, sweep_id=sweep_id)
            if summary is None:
                continue
            report_time = report_epoch(summary)
            priors = await self.sweeps.priors(
                sweep_id,
                sorted({v.account_id for v in summary.violations} or {account}),
                report_time,
            )
            for parsed in summary.violations:
                # Routed first: a new id standing for two legacy rules becomes the one a
                # map declares, so counts, priors and the lanes see the rule that runs.
                violation, _ = self.engine.registry.index.route(parsed)
                ident = (violation.key, violation.reason)
                if ident in seen:
                    continue
                seen.add(ident)
                self.progress.total += 1
                self.progress.count(violation.rule_id, "violations")
                if self._already_done(violation, priors, report_time):
                    self.progress.skipped += 1
                    self.progress.done += 1
                    self.progress.count(violation.rule_id, "skipped")
                    continue
                await self._room.acquire()
                self._spawn(self._work(_Item(violation, violation.rule_id)))
            self._dirty.set()

    def _remediations(self, violation: Violation) -> tuple[Remediation, ...]:
        match = self.engine.registry.index.lookup(
            violation.rule_id, violation.reason, source_rule_id=violation.source_rule_id
        )
        return () if match.conflict is not None else match.remediations

    def _mode(self, rem: Remediation) -> Mode:
        return self.request.mode or self.engine.mode_for(rem.id)

    def _already_done(
        self,
        violation: Violation,
        priors: Mapping[PriorKey, Prior],
        report_time: float | None,
    ) -> bool:
        rems = self._remediations(violation)
        ids = [r.id for r in rems] or [""]
        for rid in ids:
            prior = priors.get(
                (
                    violation.rule_id,
                    violation.resource_arn,
                    violation.account_id,
                    violation.reason or "",
                    rid,
                )
            )
            if prior is None:
                return False
            rem = self.engine.registry.get(rid)
            mode = self._mode(rem) if rem is not None else Mode.DRY_RUN
            if not settled(prior, mode, report_time=report_time):
                return False
        return True

    # -- work ----------------------------------------------------------------------------

    def _lane(self, violation: Violation) -> Lane:
        key = (violation.account_id, violation.region or self.engine.config.aws.region)
        lane = self._lanes.get(key)
        if lane is None:
            lane = Lane(
                Pacer(
                    self.config.rate_per_region,
                    burst=self.config.concurrency_per_region,
                    backoff=self.config.backoff_seconds,
                    backoff_max=self.config.backoff_max_seconds,
                ),
                asyncio.Semaphore(self.config.concurrency_per_region),
            )
            self._lanes[key] = lane
        return lane

    async def _pass_inbox(self, attempt: int) -> int:
        inbox_id = self._passes.get(attempt)
        if inbox_id is None:
            async with self._pass_lock:
                inbox_id = self._passes.get(attempt)
                if inbox_id is None:
                    assert self.id is not None
                    inbox_id = await self.sweeps.pass_inbox(self.id, attempt)
                    self._passes[attempt] = inbox_id
        return inbox_id

    async def _work(self, item: _Item) -> None:
        try:
            if not self._remediations(item.violation):
                await self._record_unmatched(item)
                return
            lane = self._lane(item.violation)
            while True:
                async with lane.slots:
                    if self.stopping or not await lane.pacer.acquire(self._stopping):
                        return  # not started
                    inbox_id = await self._pass_inbox(item.attempt)
                    token = IN_SWEEP.set(self.id)
                    try:
                        records = await self.engine.handle_violation(
                            item.violation, inbox_id=inbox_id, mode=self.request.mode
                        )
                    finally:
                        IN_SWEEP.reset(token)
                if any(is_throttled(r) for r in records):
                    pause = lane.pacer.throttled()
                    if item.attempt <= self.config.max_retries and not self.stopping:
                        self.progress.retried += 1
                        log.warning(
                            "sweep_throttled",
                            sweep_id=self.id,
                            account_id=item.violation.account_id,
                            region=item.violation.region,
                            resource_arn=item.violation.resource_arn,
                            attempt=item.attempt,
                            retry_in_s=round(pause, 2),
                        )
                        item.attempt += 1
                        continue
                else:
                    lane.pacer.succeeded()
                self._tally(records, item.rule)
                self.progress.done += 1
                return
        finally:
            self._room.release()

    async def _record_unmatched(self, item: _Item) -> None:
        """A violation no remediation takes: recorded (``no_remediation``, or ``refused``
        for a rule conflict) without a lane, a start slot or pacing -- it is no AWS work."""
        if self.stopping:
            return
        inbox_id = await self._pass_inbox(item.attempt)
        token = IN_SWEEP.set(self.id)
        try:
            records = await self.engine.handle_violation(
                item.violation, inbox_id=inbox_id, mode=self.request.mode
            )
        finally:
            IN_SWEEP.reset(token)
        self.progress.unmatched += 1
        self._tally(records, item.rule)
        self.progress.done += 1

    def _tally(self, records: Sequence[ActionRecord], rule: str) -> None:
        for record in records:
            status = str(record.status) if record.status else "unknown"
            self.progress.statuses[status] += 1
            self.progress.count(rule, status)
            self.records.append(record)
        self._dirty.set()
