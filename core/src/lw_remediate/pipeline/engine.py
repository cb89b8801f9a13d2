"""The pipeline: inbox -> enrich -> match -> gate -> execute -> record/notify.

One :class:`Engine` serves the daemon, ``replay``, ``sweep`` and ``demo``: the
same matching, gating, dispatching and recording whatever started the work.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any

import structlog

from ..aws.credentials import AwsProvider
from ..config import Config
from ..errors import RemediationRefused
from ..ingest.alerts import Alert, PayloadError, parse_payload
from ..ingest.lacework import LaceworkClient
from ..logs import action_context, alert_context
from ..metrics import Metrics
from ..model import ActionRecord, Mode, Status, Violation
from ..notify import Notifiers
from ..plugins import MapRegistry
from ..remediation import Remediation, RemediationOptions
from ..safety import Candidate, Decision, Gate, Safety, run_gates, standard_gates
from ..store import InboxRow, Store
from .activity import ActivityResponder
from .enrich import Enriched, EnrichmentPending, enrich_alert
from .inbox import mark_dead, retry_or_dead
from .locks import ResourceLocks
from .outcome import log_finished, outcome_notification
from .runner import Runner, Slot, describe_error
from .sessions import action_session
from .takeover import take_over

log = structlog.get_logger(__name__)


class Engine:
    """Runs alerts and violations through the pipeline, recording everything."""

    def __init__(
        self,
        *,
        config: Config,
        registry: MapRegistry,
        store: Store,
        aws: AwsProvider,
        lacework: LaceworkClient | None = None,
        notifiers: Notifiers | None = None,
        metrics: Metrics | None = None,
        mode_override: Mode | None = None,
        trust_payload_resources: bool = False,
    ) -> None:
        self.config = config
        self.registry = registry
        self.store = store
        self.aws = aws
        self.lacework = lacework
        self.notifiers = notifiers or Notifiers()
        self.metrics = metrics or Metrics()
        self.mode_override = mode_override
        self.trust_payload_resources = trust_payload_resources
        self.safety = Safety(config=config, store=store, aws=aws, notifiers=self.notifiers)
        self.runner = Runner(
            journal=store.journal(),
            timeout=config.remediation.timeout_seconds,
            guard=self.safety.before_apply,
        )
        self._semaphore = asyncio.Semaphore(config.remediation.concurrency)
        self.locks = ResourceLocks(store)
        self._wake = asyncio.Event()
        store.subscribe(self._wake.set)
        #: How often the worker looks for actions a dead process left (leases).
        self.takeover_seconds = config.store.lease_seconds / 2
        self._inflight: set[asyncio.Task[Any]] = set()
        #: The gates, in order (:mod:`lw_remediate.safety.gates`); others may be appended.
        self.gates: list[Gate] = standard_gates(config, self.safety)
        self._standard_gates = len(self.gates)
        #: ``time.monotonic()`` of the worker loop's last round (its liveness).
        self.heartbeat: float | None = None
        self.activity = ActivityResponder(self)

    def reconfigure(self, config: Config, registry: MapRegistry) -> None:
        """Use ``config`` and ``registry`` for every action from now on (a reload).

        Actions already running finish with what they started with. The store, the
        Lacework client and the concurrency stay as they are (they need a restart).
        """
        self.config = config
        self.registry = registry
        self.safety.reconfigure(config)
        self.gates[: self._standard_gates] = standard_gates(config, self.safety)

    # -- ingest ------------------------------------------------------------------------

    async def accept(
        self, alerts: Sequence[Alert], *, raw: bytes | None = None
    ) -> list[tuple[int, bool]]:
        """Commit alerts to the inbox (durable on return) and wake the worker.

        ``raw`` is the received body when it is exactly one alert: it is stored as the
        bytes received (with the encoding JSON detected) instead of being re-encoded.
        """
        items: list[tuple[str, str, str, Any]] = [
            (a.delivery_key, str(a.shape), a.event_id, raw if raw is not None else dict(a.raw))
            for a in alerts
        ]
        results = await self.store.enqueue(items)
        if any(created for _, created in results):
            self._wake.set()
        return results

    def wake(self) -> None:
        """Make the worker look at the inbox now (new or re-queued work)."""
        self._wake.set()

    # -- the worker --------------------------------------------------------------------

    async def recover(self) -> None:
        """After a restart: re-queue claimed alerts and finish interrupted actions."""
        requeued = await self.store.requeue_processing()
        unfinished = await self.store.unfinished_actions()
        if requeued or unfinished:
            log.info("recovering", requeued_alerts=requeued, unfinished_actions=len(unfinished))
        results = await asyncio.gather(
            *(self.resume(row.record) for row in unfinished), return_exceptions=True
        )
        for row, result in zip(unfinished, results, strict=True):
            if isinstance(result, Exception):
                log.error("resume_failed", action_id=row.record.id, error=describe_error(result))

    async def take_over(self) -> int:
        """Start finishing the actions a dead process left (:mod:`.takeover`)."""
        tasks = await take_over(self)
        for task in tasks:
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        return len(tasks)

    async def resume(self, record: ActionRecord) -> None:
        """Finish an action a crash or an interruption left half-way (verify first when
        its apply had started, else run it again from check)."""
        with action_context(record):
            await self._resume(record)

    async def _resume(self, record: ActionRecord) -> None:
        rem = self.registry.get(record.remediation_id)
        if rem is None:
            record.status, record.state = Status.FAILED, "done"
            record.detail = (
                f"remediation {record.remediation_id} is no longer installed; not resumed"
            )
            await self.store.save_action(record)
            return
        options = rem.parse_options(self.config.options_for(rem.id))

        async def run(session: Any, slot: Slot) -> ActionRecord:
            return await self.runner.resume(rem, record, aws=session, options=options, slot=slot)

        await self._dispatch(rem, record, run, options)

    @property
    def max_inflight(self) -> int:
        """Inbox entries the worker holds at once (every remediation slot busy while others
        are enriched); a backlog stays queued in the store, oldest first, not in memory."""
        return max(32, 4 * self.config.remediation.concurrency)

    async def run_worker(self, stop: asyncio.Event, *, batch: int = 32) -> None:
        """Process due inbox entries until ``stop`` is set; in-flight work is finished.

        One inbox entry can never stop the loop: :meth:`process_inbox` records any
        failure on its row. A store failure while claiming is logged and retried. At
        most :attr:`max_inflight` entries are claimed at a time.
        """
        failures = 0
        # when to take over dead instances' entries; when the queue was last counted
        next_takeover, counted = time.monotonic() + self.takeover_seconds, -1.0
        while not stop.is_set():
            self.heartbeat = time.monotonic()
            self._wake.clear()
            if self.heartbeat >= next_takeover:
                next_takeover = self.heartbeat + self.takeover_seconds
                await self.take_over()
            room = self.max_inflight - len(self._inflight)
            if room <= 0:  # full: go round again when one finishes (or at least every 5 s)
                stopping = asyncio.ensure_future(stop.wait())
                await asyncio.wait(
                    {*self._inflight, stopping}, timeout=5.0, return_when=asyncio.FIRST_COMPLETED
                )
                stopping.cancel()
                continue
            try:
                rows = await self.store.claim_due(time.time(), min(batch, room))
                for row in rows:
                    task = asyncio.create_task(self.process_inbox(row))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if time.monotonic() - counted >= 1.0:  # a count scans the inbox: once a second
                    self.metrics.set_queue(await self.store.inbox_counts())
                    counted = time.monotonic()
                next_due = None if rows else await self.store.next_due_at()
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the store may come back; keep trying
                failures += 1
                rows, next_due = [], time.time() + min(5.0, 0.1 * 2**failures)
                log.error("worker_store_failed", error=describe_error(exc), failures=failures)
            if rows:
                continue
            timeout = 5.0 if next_due is None else max(0.0, min(5.0, next_due - time.time()))
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            _, pending = await asyncio.wait(
                waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            for w in pending:
                w.cancel()
        await self.drain()

    async def drain(self) -> None:
        """Wait for in-flight inbox entries to finish."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight), return_exceptions=True)

    async def process_inbox(self, row: InboxRow) -> list[ActionRecord]:
        """Enrich one accepted alert and run every violation it names.

        Whatever goes wrong with this one entry (a body that cannot be read, a bug, a
        store error) ends it ``dead`` with the reason; it never reaches the worker.
        """
        try:
            return await self._process_inbox(row)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the row, the worker goes on
            why = f"could not process this alert: {describe_error(exc)}"
            await mark_dead(self.store, self.metrics, row, why)
            return []

    async def _process_inbox(self, row: InboxRow) -> list[ActionRecord]:
        try:
            alerts = parse_payload(row.payload())
        except (ValueError, RecursionError, PayloadError) as exc:
            why = f"the stored body cannot be read: {describe_error(exc)}"
            await mark_dead(self.store, self.metrics, row, why)
            return []
        alert = alerts[0]
        with alert_context(alert_id=alert.event_id, inbox_id=row.id):
            return await self._process(row, alert)

    async def _process(self, row: InboxRow, alert: Alert) -> list[ActionRecord]:
        try:
            enriched = await self.enrich_alert(alert)
        except EnrichmentPending as exc:
            await retry_or_dead(
                self.store,
                self.metrics,
                self.notifiers,
                self.config.remediation,
                row,
                str(exc),
                retry_after=exc.retry_after,
            )
            return []
        records: list[ActionRecord] = []
        try:
            records = await self.handle_enriched(enriched, inbox_id=row.id)
        except asyncio.CancelledError:
            await self.store.mark_inbox(row.id, "queued")
            raise
        await self.store.mark_inbox(row.id, "done")
        return records

    # -- enrich ------------------------------------------------------------------------

    async def enrich_alert(self, alert: Alert) -> Enriched:
        """What an alert is about, from the Lacework API (fail closed; see
        :func:`~lw_remediate.pipeline.enrich.enrich_alert`): its violations, or the
        cloud-activity event."""
        return await enrich_alert(
            alert,
            lacework=self.lacework,
            metrics=self.metrics,
            trust_payload_resources=self.trust_payload_resources,
        )

    async def handle_enriched(
        self, enriched: Enriched, *, inbox_id: int | None = None
    ) -> list[ActionRecord]:
        """Run what an enriched alert is about: its activity event (the maps' answers),
        then each violation."""
        records: list[ActionRecord] = []
        if enriched.activity is not None:
            records.extend(await self.activity.handle(enriched.activity, inbox_id=inbox_id))
        for violation in enriched.violations:
            records.extend(await self.handle_violation(violation, inbox_id=inbox_id))
        return records

    # -- match, gate, dispatch -----------------------------------------------------------

    def mode_for(self, remediation_id: str) -> Mode:
        return self.mode_override or self.config.mode_for(remediation_id)

    async def handle_violation(
        self, violation: Violation, *, inbox_id: int | None = None, mode: Mode | None = None
    ) -> list[ActionRecord]:
        """Match one violation to its remediations, gate and run each; return the records."""
        violation, match = self.registry.index.route(violation)
        violation_id = await self.store.add_violation(inbox_id, violation)
        if match.conflict is not None or not match.remediations:
            status = Status.REFUSED if match.conflict else Status.NO_REMEDIATION
            detail = (
                str(match.conflict)
                if match.conflict
                else match.detail or f"no installed remediation handles {violation.rule_id}"
            )
            return [await self._outcome(violation_id, violation, status, detail, inbox_id, mode)]
        results = await asyncio.gather(
            *(
                self._one(rem, violation, violation_id, inbox_id, mode or self.mode_for(rem.id))
                for rem in match.remediations
            )
        )
        return list(results)

    async def run_one(
        self, rem: Remediation, violation: Violation, *, inbox_id: int | None = None
    ) -> ActionRecord:
        """Run one given remediation on one violation (no rule lookup: a cloud-activity
        answer), through the same gates, runner, recording and notification."""
        violation_id = await self.store.add_violation(inbox_id, violation)
        return await self._one(rem, violation, violation_id, inbox_id, self.mode_for(rem.id))

    async def record_outcome(
        self, violation: Violation, status: Status, detail: str, *, inbox_id: int | None = None
    ) -> ActionRecord:
        """Record a violation that ends without running a remediation (no map answers it,
        or it is the daemon's own change coming back)."""
        violation_id = await self.store.add_violation(inbox_id, violation)
        return await self._outcome(violation_id, violation, status, detail, inbox_id, None)

    async def _outcome(
        self,
        violation_id: int,
        violation: Violation,
        status: Status,
        detail: str,
        inbox_id: int | None,
        mode: Mode | None,
    ) -> ActionRecord:
        record = ActionRecord(
            "", violation, mode or Mode.DRY_RUN, status=status, detail=detail, state="done"
        )
        record, created = await self.store.create_action(violation_id, inbox_id, record)
        if created:
            await self.store.save_action(record)
            with action_context(record):
                log_finished(self.metrics, record, 0.0)
        return record

    async def gate(
        self, violation: Violation, rem: Remediation, mode: Mode, *, action_id: str | None = None
    ) -> Decision | None:
        """Run the gates in order, before the action's own AWS calls; the first decision wins."""
        return await run_gates(self.gates, Candidate(violation, rem, mode, action_id))

    async def _one(
        self,
        rem: Remediation,
        violation: Violation,
        violation_id: int,
        inbox_id: int | None,
        mode: Mode,
    ) -> ActionRecord:
        record, created = await self.store.create_action(
            violation_id, inbox_id, ActionRecord(rem.id, violation, mode)
        )
        with action_context(record):
            if not created:
                log.info("action_duplicate", resource_arn=violation.resource_arn)
                return record
            try:
                return await self._gate_and_run(rem, record, mode)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - recorded on the action; the others go on
                record.status, record.state = Status.FAILED, "done"
                record.detail = f"the action could not run: {describe_error(exc)}"
                record.error = type(exc).__name__
                log.error("action_crashed", error=record.detail)
                await self.store.save_action(record)
                await self._report(record, 0.0)
                return record

    async def _gate_and_run(
        self, rem: Remediation, record: ActionRecord, mode: Mode
    ) -> ActionRecord:
        violation = record.violation
        decision = await self.gate(violation, rem, mode, action_id=record.id)
        if decision is not None:
            record.status, record.detail, record.state = decision.status, decision.detail, "done"
            await self.store.save_action(record)
            await self._report(record, 0.0)
            return record
        options = rem.parse_options(self.config.options_for(rem.id))

        async def run(session: Any, slot: Slot) -> ActionRecord:
            return await self.runner.run(
                rem, violation, aws=session, mode=mode, options=options, record=record, slot=slot
            )

        return await self._dispatch(rem, record, run, options)

    async def _dispatch(
        self,
        rem: Remediation,
        record: ActionRecord,
        run: Callable[[Any, Slot], Any],
        options: RemediationOptions,
    ) -> ActionRecord:
        """``run`` under the resource lock; the concurrency slot is held for the session,
        then by the runner for the AWS work (:meth:`Runner.run`), not for the record."""
        violation = record.violation
        started = time.monotonic()
        async with self.resource_lock(violation):
            try:
                async with self._semaphore:
                    session = await action_session(self.aws, self.config, rem, violation, options)
            except RemediationRefused as exc:
                record.status, record.detail, record.state = Status.REFUSED, str(exc), "done"
                await self.store.save_action(record)
            except Exception as exc:  # noqa: BLE001 - credentials failure ends this action only
                record.status, record.state = Status.FAILED, "done"
                record.detail = f"could not get AWS credentials for {violation.account_id}: {exc}"
                await self.store.save_action(record)
            else:
                record = await run(session, self._semaphore)
        await self._report(record, time.monotonic() - started)
        return record

    def resource_lock(self, violation: Violation) -> AbstractAsyncContextManager[None]:
        """One action per resource at a time, across processes too (:mod:`.locks`)."""
        return self.locks.hold(violation)

    async def approve(self, rem: Remediation, record: ActionRecord) -> ActionRecord:
        """Run an approved action now: ``check`` again, then apply (kill switch and budgets
        still apply), under the resource lock; recorded and notified like any action."""
        options = rem.parse_options(self.config.options_for(rem.id))
        approved = record.plan

        async def run(session: Any, slot: Slot) -> ActionRecord:
            done = await self.runner.approve(rem, record, aws=session, options=options, slot=slot)
            if (
                done.status is Status.AWAITING_APPROVAL
                and approved is not None
                and done.plan is not None
                and not done.plan.same_change(approved)
            ):
                await self.safety.audit(
                    "approval_superseded",
                    f"the approved plan ({approved.summary}) is no longer the change to make "
                    f"(now: {done.plan.summary}); the approval ended unused, approval asked again",
                    action_id=done.id,
                    data={"approved_plan": approved.to_dict(), "new_plan": done.plan.to_dict()},
                )
            return done

        with action_context(record):
            return await self._dispatch(rem, record, run, options)

    async def undo(self, rem: Remediation, record: ActionRecord) -> str:
        """Run ``revert`` with the stored before-image under the resource lock.

        Raises RemediationRefused (no revert, nothing applied, resource changed since)
        or the AWS error; the record is only changed (to ``reverted``) on success.
        """
        options = rem.parse_options(self.config.options_for(rem.id))
        started = time.monotonic()
        with action_context(record):
            async with self.resource_lock(record.violation), self._semaphore:
                session = await action_session(
                    self.aws, self.config, rem, record.violation, options
                )
                detail = await self.runner.revert(rem, record, aws=session, options=options)
            await self._report(record, time.monotonic() - started)
        return detail

    async def _report(self, record: ActionRecord, seconds: float) -> None:
        log_finished(self.metrics, record, seconds)
        if record.status is None:
            return
        await self.safety.after_action(record)
        notification = outcome_notification(record, console=self.config.server.public_url)
        if notification is not None:
            await self.notifiers.send(notification)
