"""Running one remediation on one violation: check -> plan -> apply -> verify.

This is the single code path used by the daemon, ``replay``, ``sweep``, ``demo``
and the test kit. Each state transition is handed to the :class:`Journal` before
the side effect it permits (the daemon's journal is the SQLite store), so a crash
at any point leaves a record that says how far the action got.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import structlog
from botocore.exceptions import BotoCoreError, ClientError

from ..aws.session import AwsSession
from ..errors import (
    ApplyPaused,
    ManualActionRequired,
    RemediationDeclarationError,
    RemediationError,
    RemediationRefused,
    RevertNotSupported,
)
from ..model import (
    ActionRecord,
    CheckResult,
    Mode,
    Plan,
    Status,
    Verification,
    VerifyResult,
    Violation,
)
from ..remediation import Remediation, RemediationContext, RemediationOptions

#: A concurrency slot (the engine's semaphore) held while an action works against AWS.
Slot = AbstractAsyncContextManager[Any]


class Journal(Protocol):
    """Durable record of an action's transitions (the store implements it)."""

    async def save(self, record: ActionRecord) -> None: ...


class MemoryJournal:
    """A journal that keeps (state, status) transitions in memory; for tests and replay."""

    def __init__(self) -> None:
        self.transitions: list[tuple[str, str | None]] = []

    async def save(self, record: ActionRecord) -> None:
        self.transitions.append((record.state, str(record.status) if record.status else None))


def describe_error(exc: BaseException) -> str:
    """One line for an error: the AWS operation and error code for a ClientError,
    the message of a refusal, else the exception type and message."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        op = getattr(exc, "operation_name", "")
        return f"AWS {op}: {err.get('Code', '?')}: {err.get('Message', '')}".strip().rstrip(":")
    text = str(exc) or type(exc).__name__
    return (
        text
        if isinstance(exc, RemediationRefused | RemediationError | RemediationDeclarationError)
        else f"{type(exc).__name__}: {text}"
    )


async def _close_clients(ctx: RemediationContext[Any]) -> None:
    close = getattr(ctx.aws, "close", None)
    if close is not None:
        await close()


def _conclude(
    record: ActionRecord, status: Status, detail: str, *, error: str | None = None
) -> ActionRecord:
    """End ``record`` with ``status`` (the caller saves it)."""
    record.status = status
    record.detail = detail
    record.error = error
    record.state = "done"
    return record


def _await_approval(record: ActionRecord, detail: str) -> None:
    """Park ``record`` awaiting an operator's approval (the caller saves it)."""
    record.status = Status.AWAITING_APPROVAL
    record.detail = detail
    record.state = "awaiting_approval"


class Runner:
    """Runs remediations for one account/region's AWS session, recording everything."""

    def __init__(
        self,
        *,
        journal: Journal | None = None,
        timeout: float = 300.0,
        logger: structlog.typing.FilteringBoundLogger | None = None,
        guard: Callable[[ActionRecord], Awaitable[None]] | None = None,
    ) -> None:
        self.journal: Journal = journal or MemoryJournal()
        self.timeout = timeout
        #: Awaited right before ``apply``: raises ApplyPaused (the action is parked awaiting
        #: approval) or RemediationRefused (it ends refused). The kill switch and budgets.
        self.guard = guard
        self.log = logger or structlog.get_logger(__name__)

    def _context(
        self,
        remediation: Remediation,
        record: ActionRecord,
        options: RemediationOptions,
        aws: AwsSession,
        *,
        dry_run: bool,
    ) -> RemediationContext[Any]:
        async def before_sink(image: Mapping[str, Any]) -> None:
            record.before_image = dict(image)
            record.state = "before_recorded"
            await self.journal.save(record)

        loop = asyncio.get_running_loop()
        return RemediationContext(
            violation=record.violation,
            options=options,
            aws=aws.with_sink(
                record.calls.append, reuse_clients=True, declared=remediation.aws_calls
            ),
            log=self.log.bind(
                remediation_id=remediation.id,
                rule_id=record.violation.rule_id,
                resource_arn=record.violation.resource_arn,
                account_id=record.violation.account_id,
            ),
            dry_run=dry_run,
            deadline=loop.time() + self.timeout,
            _before_sink=before_sink,
        )

    async def _finish(
        self, record: ActionRecord, status: Status, detail: str, *, error: str | None = None
    ) -> ActionRecord:
        await self.journal.save(_conclude(record, status, detail, error=error))
        return record

    async def run(
        self,
        remediation: Remediation,
        violation: Violation,
        *,
        aws: AwsSession,
        mode: Mode = Mode.DRY_RUN,
        options: RemediationOptions | None = None,
        record: ActionRecord | None = None,
        approved_plan: Plan | None = None,
        slot: Slot | None = None,
    ) -> ActionRecord:
        """Run the lifecycle up to what ``mode`` allows and return the finished record.

        With ``approved_plan``, only that exact change may be applied: when the fresh
        plan differs, the action goes back to awaiting approval with the new plan.

        ``slot`` (the daemon's ``[remediation] concurrency`` semaphore) is held while the
        remediation works against AWS, from ``check`` to ``verify`` with the saves that
        must come between them; the outcome is saved after it is let go, so the next
        action's AWS work does not wait for this one's last commit. The record returned
        has been saved either way.
        """
        options = options if options is not None else remediation.default_options()
        record = record or ActionRecord(remediation.id, violation, mode)
        record.mode = mode
        if mode is Mode.OFF:
            return await self._finish(
                record, Status.REFUSED, f"remediation {remediation.id} is off"
            )
        ctx = self._context(remediation, record, options, aws, dry_run=mode is not Mode.AUTO)
        try:
            async with slot or contextlib.nullcontext():
                await self._lifecycle(remediation, record, ctx, mode, approved_plan)
        finally:
            await _close_clients(ctx)
        await self.journal.save(record)  # the outcome (the record is not "done" before)
        return record

    async def _lifecycle(
        self,
        remediation: Remediation,
        record: ActionRecord,
        ctx: RemediationContext[Any],
        mode: Mode,
        approved_plan: Plan | None,
    ) -> None:
        """:meth:`_run` within the timeout, every way it can end turned into the
        record's outcome (not yet saved)."""
        try:
            async with asyncio.timeout(self.timeout):
                await self._run(remediation, record, ctx, mode, approved_plan)
        except TimeoutError as exc:
            if record.state == "applied":  # the change was made; verify ran out of time
                self._unverified(record, exc)
            else:
                _conclude(
                    record,
                    Status.FAILED,
                    f"timed out after {self.timeout:g}s",
                    error="TimeoutError",
                )
        except ApplyPaused as exc:
            _await_approval(record, str(exc))
        except RemediationRefused as exc:
            _conclude(record, Status.REFUSED, describe_error(exc))
        except ManualActionRequired as exc:
            _conclude(record, Status.MANUAL, str(exc))
        except (ClientError, BotoCoreError, RemediationError, Exception) as exc:  # noqa: BLE001
            self.log.warning(
                "remediation_error",
                remediation_id=remediation.id,
                resource_arn=record.violation.resource_arn,
                error=describe_error(exc),
            )
            _conclude(record, Status.FAILED, describe_error(exc), error=type(exc).__name__)

    async def _run(
        self,
        remediation: Remediation,
        record: ActionRecord,
        ctx: RemediationContext[Any],
        mode: Mode,
        approved_plan: Plan | None = None,
    ) -> None:
        """The lifecycle; it leaves the outcome on ``record`` for :meth:`run` to save."""
        violation = record.violation
        record.state = "checking"
        check = remediation.expect("check", await remediation.check(ctx, violation), CheckResult)
        ctx.checked = check
        if not check.present:
            _conclude(record, Status.RESOLVED, check.detail or "already compliant")
            return
        if remediation.is_manual(ctx.options):
            _conclude(record, Status.MANUAL, remediation.render_runbook(violation, ctx.options))
            return
        plan = remediation.expect("plan", await remediation.plan(ctx, violation), Plan)
        record.plan = plan
        if not plan.changes:
            _conclude(record, Status.RESOLVED, plan.summary or "nothing to change")
            return
        # No save of the plan on its own: every way on from here saves the record (with
        # the plan) before anything else happens (the outcome, or "applying" before the
        # first write), and a crash before that re-runs from ``check`` as it would from
        # a saved "planned" state.
        record.state = "planned"
        if approved_plan is not None and not plan.same_change(approved_plan):
            _await_approval(
                record, f"the plan changed since it was approved; approve again: {plan.summary}"
            )
        elif mode is Mode.DRY_RUN:
            _conclude(record, Status.PLANNED, plan.summary)
        elif mode is Mode.APPROVE:
            _await_approval(record, plan.summary)
        elif plan.requires_approval and approved_plan is None:
            _await_approval(
                record,
                f"this change needs an operator's approval even in auto mode: {plan.summary}",
            )
        else:
            await self._apply(remediation, record, ctx)

    async def _apply(
        self, remediation: Remediation, record: ActionRecord, ctx: RemediationContext[Any]
    ) -> None:
        if remediation.apply is None or remediation.verify is None or record.plan is None:
            raise RemediationError(f"{remediation.id} cannot apply (manual-only or no plan)")
        if self.guard is not None:
            await self.guard(record)
        record.state = "applying"
        await self.journal.save(record)  # written before the first AWS write it permits
        after = remediation.expect(
            "apply",
            await remediation.apply(ctx, record.plan),
            Mapping,  # type: ignore[type-abstract]  # any mapping is an after-image
        )
        record.after_image = dict(after)
        record.state = "applied"
        await self.journal.save(record)
        try:
            result = remediation.expect(
                "verify", await remediation.verify(ctx, record.violation), VerifyResult
            )
        except Exception as exc:  # noqa: BLE001 - the change was made; only its check failed
            self._unverified(record, exc)
            return
        record.verification = result.status
        if result.status is Verification.VERIFIED:
            _conclude(record, Status.REMEDIATED, result.detail or record.plan.summary)
        elif result.status is Verification.UNVERIFIED:
            _conclude(record, Status.UNVERIFIED, result.detail)
        else:
            _conclude(
                record,
                Status.FAILED,
                result.detail or "verify found the violation still there",
                error="VerifyFailed",
            )

    def _unverified(self, record: ActionRecord, exc: BaseException) -> None:
        """``apply`` succeeded but the verify read failed: the outcome is unknown, not a
        failure (``unverified``, with the reason; ``undo`` still has the before-image)."""
        record.verification = Verification.UNVERIFIED
        what = "timed out" if isinstance(exc, TimeoutError) else describe_error(exc)
        self.log.warning("verify_failed_after_apply", action_id=record.id, error=what)
        _conclude(
            record,
            Status.UNVERIFIED,
            f"applied, but the verify read failed ({what}); check the resource",
            error=type(exc).__name__,
        )

    async def resume(
        self,
        remediation: Remediation,
        record: ActionRecord,
        *,
        aws: AwsSession,
        options: RemediationOptions | None = None,
        slot: Slot | None = None,
    ) -> ActionRecord:
        """Finish an action a crash interrupted, without applying twice.

        If the crash came after the apply started, ``verify`` runs first: a fix that
        took is recorded ``remediated`` and nothing is written again. Otherwise (or if
        the fix did not take) the lifecycle runs again from ``check``, which re-reads
        live state, so an apply that did happen is never repeated.
        """
        options = options if options is not None else remediation.default_options()
        if (
            record.state in {"applying", "before_recorded", "applied"}
            and remediation.verify is not None
        ):
            ctx = self._context(remediation, record, options, aws, dry_run=False)
            try:
                async with slot or contextlib.nullcontext(), asyncio.timeout(self.timeout):
                    result = remediation.expect(
                        "verify", await remediation.verify(ctx, record.violation), VerifyResult
                    )
            except Exception as exc:  # noqa: BLE001 - fall through to a full re-run
                self.log.warning(
                    "resume_verify_failed", action_id=record.id, error=describe_error(exc)
                )
            else:
                if result.status is Verification.VERIFIED:
                    record.verification = result.status
                    detail = result.detail or (record.plan.summary if record.plan else "")
                    return await self._finish(
                        record, Status.REMEDIATED, f"{detail} (verified after restart)"
                    )
            finally:
                await _close_clients(ctx)
        return await self.run(
            remediation,
            record.violation,
            aws=aws,
            mode=record.mode,
            options=options,
            record=record,
            slot=slot,
        )

    async def approve(
        self,
        remediation: Remediation,
        record: ActionRecord,
        *,
        aws: AwsSession,
        options: RemediationOptions | None = None,
        slot: Slot | None = None,
    ) -> ActionRecord:
        """Run an approved action: ``check`` and ``plan`` again (the world may have changed).

        The approval binds to the plan it was given for: a fresh plan that changes
        something else is not applied; the action awaits approval again with it.

        The finished record keeps its mode (``approve``, or ``auto`` for an action the
        kill switch parked); the approver is stored by whoever approved it.
        """
        mode = record.mode
        record = await self.run(
            remediation,
            record.violation,
            aws=aws,
            mode=Mode.AUTO,
            options=options,
            record=record,
            approved_plan=record.plan,
            slot=slot,
        )
        if record.state == "done" and record.mode is not mode:
            record.mode = mode
            await self.journal.save(record)
        return record

    async def revert(
        self,
        remediation: Remediation,
        record: ActionRecord,
        *,
        aws: AwsSession,
        options: RemediationOptions | None = None,
    ) -> str:
        """Run ``revert`` with the stored before-image; raises RemediationRefused when it cannot."""
        if remediation.revert is None:
            raise RevertNotSupported(f"{remediation.id} has no revert")
        if record.status not in (Status.REMEDIATED, Status.UNVERIFIED, Status.FAILED):
            raise RevertNotSupported(f"action is {record.status}, nothing was applied")
        if record.before_image is None:
            raise RevertNotSupported("no before-image was recorded; nothing was changed")
        options = options if options is not None else remediation.default_options()
        ctx = self._context(remediation, record, options, aws, dry_run=False)
        try:
            async with asyncio.timeout(self.timeout):
                detail = remediation.expect("revert", await remediation.revert(ctx, record), str)
        finally:
            await _close_clients(ctx)
        record.status = Status.REVERTED
        record.detail = detail
        await self.journal.save(record)
        return detail
