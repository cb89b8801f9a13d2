"""Operator controls: one implementation behind both the CLI and the admin API.

Approve, reject and undo actions; turn the kill switch on and off; add, list and
remove exemptions; list and clear flapping resources; read the audit trail. Every
call names its actor and is written to the audit trail. The CLI runs these against
the configured store (shared with a running daemon: SQLite in WAL mode, and every
decision is a compare-and-set, so two operators cannot both approve one action);
the admin API runs them inside the daemon.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import pydantic

from ..config import ExemptionConfig, exemption_problem
from ..errors import RemediationRefused
from ..model import ActionRecord, Mode, Status
from ..notify import Notification, NotificationKind
from ..pipeline.engine import Engine
from ..pipeline.runner import describe_error
from ..rules import canonical_rule_id
from ..safety import SYSTEM_ACTOR, KillSwitchState
from ..safety.exemptions import iso_time
from ..store.base import ActionRow, ExemptionRow, FlapRow, InboxRow

# Re-exported: the CLI, the admin API and the console import them from here.
from .errors import BadRequest as BadRequest
from .errors import ControlError as ControlError
from .errors import NotFound as NotFound
from .queries import budget_usage, list_actions
from .queries import parse_expiry as parse_expiry

_ACTOR_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


@dataclass(frozen=True)
class Actor:
    """Who asked (``name``) and through what (``via``: ``cli`` or ``api``)."""

    name: str
    via: str

    def __post_init__(self) -> None:
        if not _ACTOR_RE.match(self.name) or not self.name.strip():
            raise BadRequest("the actor name must be 1-100 printable characters on one line")

    def __str__(self) -> str:
        return f"{self.name} ({self.via})"


INBOX_STATES = ("queued", "processing", "done", "dead")

#: Said when an exemption is added without ``expires``.
NO_EXPIRY_WARNING = (
    "no expiry: this exemption holds until it is removed (give expires, e.g. 90d, to review it)"
)


def inbox_dict(row: InboxRow) -> dict[str, Any]:
    return {
        "inbox_id": row.id,
        "shape": row.shape,
        "event_id": row.event_id,
        "state": row.state,
        "attempts": row.attempts,
        "received_at": row.received_at,
        "last_error": row.last_error,
    }


def action_dict(row: ActionRow) -> dict[str, Any]:
    """The one JSON shape of a stored action, for the admin API and ``history --json``:
    the flat fields of :meth:`ActionRecord.summary` (as in replay and sweep output:
    ``action_id``, ``rule_id``, ``resource_arn``, ..., ``status``, ``detail``), then
    ``state``, the whole ``violation``, ``plan``, the images, ``verification``, ``calls``,
    ``error``, ``approver`` and the ``created_at``/``updated_at`` times."""
    record = row.record
    full = record.to_dict()
    data = record.summary()
    data.update(
        state=record.state,
        violation=full["violation"],
        plan=full["plan"],
        before_image=full["before_image"],
        after_image=full["after_image"],
        verification=full["verification"],
        calls=full["calls"],
        error=full["error"],
        approver=row.approver,
        created_at=iso_time(row.created_at),
        updated_at=iso_time(row.updated_at),
    )
    return data


def flap_dict(row: FlapRow) -> dict[str, Any]:
    return {
        "resource_arn": row.resource_arn,
        "rule_id": row.rule_id,
        "account_id": row.account_id,
        "flagged_at": iso_time(row.flagged_at),
        "changes": row.changes,
        "cleared_at": iso_time(row.cleared_at) if row.cleared_at else None,
        "cleared_by": row.cleared_by,
    }


class Control:
    """The operations an operator can run on one engine's store, AWS access and state."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.safety = engine.safety
        self.store = engine.store

    def _now(self) -> float:
        return self.safety.clock()

    async def _audit(
        self, kind: str, detail: str, actor: Actor, *, action_id: str | None = None, **data: Any
    ) -> None:
        await self.safety.audit(
            kind, detail, actor=actor.name, action_id=action_id, data={"via": actor.via, **data}
        )

    # -- inbox -------------------------------------------------------------------------

    async def list_inbox(
        self, *, state: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        if state is not None and state not in INBOX_STATES:
            raise BadRequest(f"unknown inbox state {state!r} (one of {', '.join(INBOX_STATES)})")
        if not 1 <= limit <= 10000:
            raise BadRequest("limit must be between 1 and 10000")
        return [inbox_dict(r) for r in await self.store.list_inbox(state=state, limit=limit)]

    async def retry_inbox(self, inbox_id: int, actor: Actor) -> dict[str, Any]:
        """Queue a ``dead`` alert again (after fixing what stopped its enrichment)."""
        row = await self.store.get_inbox(inbox_id)
        if row is None:
            raise NotFound(f"no inbox entry {inbox_id}")
        if not await self.store.requeue_inbox(inbox_id):
            raise ControlError(f"inbox entry {inbox_id} is {row.state}, not dead; nothing to retry")
        await self._audit(
            "inbox_retried",
            f"dead alert {row.event_id} queued again",
            actor,
            data={"inbox_id": inbox_id},
        )
        self.engine.wake()
        return inbox_dict(await self.store.get_inbox(inbox_id) or row)

    # -- actions -----------------------------------------------------------------------

    async def _row(self, action_id: str) -> ActionRow:
        row = await self.store.get_action(action_id)
        if row is None:
            raise NotFound(f"no action {action_id!r}")
        return row

    async def list_actions(
        self,
        *,
        status: str | None = None,
        limit: int = 50,
        rule: str | None = None,
        account: str | None = None,
        remediation: str | None = None,
        since: str | None = None,
    ) -> list[dict[str, Any]]:
        """The newest actions first, filtered by status, rule (either id form), account,
        remediation and time (``since``: ``24h``, ``7d`` or a date); with a filter other
        than status, the matches among the newest 10,000 actions (:func:`.queries.list_actions`)."""
        if status is not None and status not in {s.value for s in Status}:
            raise BadRequest(f"unknown status {status!r}")
        if not 1 <= limit <= 10000:
            raise BadRequest("limit must be between 1 and 10000")
        rows = await list_actions(
            self.store,
            limit=limit,
            status=status,
            rule=rule,
            account=account,
            remediation=remediation,
            since=since,
        )
        return [action_dict(r) for r in rows]

    async def action(self, action_id: str) -> dict[str, Any]:
        """One action in the shape of :func:`action_dict`."""
        return action_dict(await self._row(action_id))

    async def show_action(self, action_id: str) -> dict[str, Any]:
        row = await self._row(action_id)
        data = action_dict(row)
        approval = await self.store.get_approval(action_id)
        data["approval"] = (
            None
            if approval is None
            else {
                "requested_at": iso_time(approval.requested_at),
                "expires_at": iso_time(approval.expires_at),
                "decided_at": iso_time(approval.decided_at) if approval.decided_at else None,
                "decided_by": approval.decided_by,
                "decision": approval.decision,
            }
        )
        data["audit"] = await self.audit_events(action_id=action_id)
        return data

    def _awaiting(self, row: ActionRow) -> ActionRecord:
        record = row.record
        if record.status is not Status.AWAITING_APPROVAL or record.state != "awaiting_approval":
            raise ControlError(
                f"action {record.id} is {record.status or record.state}; only an action "
                "awaiting approval can be approved or rejected"
            )
        return record

    async def _expires_at(self, row: ActionRow) -> float:
        approval = await self.store.get_approval(row.record.id or "")
        if approval is not None:
            return approval.expires_at
        return row.updated_at + self.engine.config.safety.approval_ttl_seconds

    async def _expire(self, record: ActionRecord, expires_at: float) -> bool:
        detail = (
            f"approval expired: not approved by {iso_time(expires_at)} "
            f"(safety.approval_ttl_seconds = {self.engine.config.safety.approval_ttl_seconds:g}); "
            "not run. The next alert for this violation plans it again."
        )
        closed = await self.store.close_awaiting(
            record.id or "",
            status=str(Status.REFUSED),
            detail=detail,
            decision="expired",
            by=SYSTEM_ACTOR,
            now=self._now(),
        )
        if closed:
            await self.safety.audit("approval_expired", detail, action_id=record.id)
            await self._notify_outcome(record, Status.REFUSED, detail)
        return closed

    async def _notify_outcome(self, record: ActionRecord, status: Status, detail: str) -> None:
        await self.safety.notifiers.send(
            Notification.about(
                NotificationKind.OUTCOME,
                record,
                status=str(status),
                detail=detail,
                data={"mode": str(record.mode)},
            )
        )

    async def expire_approvals(self) -> list[str]:
        """End every action whose approval window has passed (housekeeping)."""
        expired = []
        for action_id in await self.store.expired_approvals(self._now()):
            row = await self.store.get_action(action_id)
            if row is not None and await self._expire(row.record, await self._expires_at(row)):
                expired.append(action_id)
        return expired

    async def approve(self, action_id: str, actor: Actor) -> ActionRecord:
        """Run an action awaiting approval: ``check`` again first, then apply."""
        row = await self._row(action_id)
        record = self._awaiting(row)
        rem = self.engine.registry.get(record.remediation_id)
        if rem is None:
            raise ControlError(f"remediation {record.remediation_id} is no longer installed")
        if self.engine.mode_for(rem.id) is Mode.OFF:
            raise ControlError(f"remediation {rem.id} is off in the configuration; not run")
        expires_at = await self._expires_at(row)
        if expires_at <= self._now():
            await self._expire(record, expires_at)
            raise ControlError(
                f"the approval window of action {action_id} closed at {iso_time(expires_at)}; "
                "it was not run and is now refused"
            )
        state = await self.safety.kill_switch_state()
        if state.on:
            raise ControlError(
                f"{state.describe()}; turn it off first (lw-remediate kill-switch off)"
            )
        if not await self.store.claim_approval(action_id, by=actor.name, now=self._now()):
            raise ControlError(f"action {action_id} was decided by someone else meanwhile")
        await self._audit("approved", f"approved by {actor}", actor, action_id=action_id)
        record.state = "approved"
        return await self.engine.approve(rem, record)

    async def reject(self, action_id: str, actor: Actor, reason: str = "") -> ActionRecord:
        row = await self._row(action_id)
        record = self._awaiting(row)
        detail = f"rejected by {actor.name}" + (f": {reason}" if reason else "")
        if not await self.store.close_awaiting(
            action_id,
            status=str(Status.REFUSED),
            detail=detail,
            decision="rejected",
            by=actor.name,
            now=self._now(),
        ):
            raise ControlError(f"action {action_id} was decided by someone else meanwhile")
        await self._audit("rejected", detail, actor, action_id=action_id, reason=reason)
        await self._notify_outcome(record, Status.REFUSED, detail)
        return (await self._row(action_id)).record

    async def undo(self, action_id: str, actor: Actor) -> ActionRecord:
        """Restore the before-image; refused (with the reason) when the resource changed
        since, nothing was applied, or the remediation has no revert."""
        row = await self._row(action_id)
        record = row.record
        rem = self.engine.registry.get(record.remediation_id)
        try:
            if rem is None:
                raise RemediationRefused(f"remediation {record.remediation_id} is not installed")
            if rem.revert is None:
                raise RemediationRefused(f"{rem.id} has no revert")
            if record.status is Status.REVERTED:
                raise RemediationRefused(f"action {action_id} was already reverted")
            detail = await self.engine.undo(rem, record)
        except RemediationRefused as exc:
            await self._audit("undo_refused", str(exc), actor, action_id=action_id)
            raise ControlError(f"undo refused: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - reported to the operator, record untouched
            await self._audit("undo_failed", describe_error(exc), actor, action_id=action_id)
            raise ControlError(f"undo failed: {describe_error(exc)}") from None
        await self._audit("undone", f"undone by {actor}: {detail}", actor, action_id=action_id)
        return record

    # -- kill switch -------------------------------------------------------------------

    async def kill_switch_state(self) -> KillSwitchState:
        """The kill switch now: the local file and, on a shared store, the database."""
        return await self.safety.kill_switch_state()

    def kill_switch_status(self) -> KillSwitchState:
        """Without a store round trip: exact on SQLite; on a shared store, the shared
        switch as this process last saw it (:meth:`kill_switch_state` reads it now)."""
        return self.safety.known_kill_switch_state()

    async def paused_actions(self) -> list[str]:
        rows = await self.store.list_actions(status=str(Status.AWAITING_APPROVAL), limit=10000)
        return [
            r.record.id or ""
            for r in rows
            if r.record.detail.startswith("paused by the kill switch")
        ]

    async def kill_switch_on(self, actor: Actor, reason: str = "") -> KillSwitchState:
        state = await self.safety.turn_kill_switch_on(by=actor.name, reason=reason, now=self._now())
        await self._audit("kill_switch_on", state.describe(), actor, reason=reason)
        await self.safety.notify(
            NotificationKind.KILL_SWITCH,
            f"kill switch ON by {actor.name}: every apply is paused"
            + (f" ({reason})" if reason else ""),
            detail=state.describe(),
        )
        return state

    async def kill_switch_off(self, actor: Actor) -> KillSwitchState:
        was_on = await self.safety.turn_kill_switch_off()
        state = await self.safety.kill_switch_state()
        paused = await self.paused_actions()
        detail = (
            f"kill switch off (was {'on' if was_on else 'already off'}); "
            f"{len(paused)} paused action(s) wait for approval"
        )
        await self._audit("kill_switch_off", detail, actor, paused=paused)
        if was_on:
            await self.safety.notify(
                NotificationKind.KILL_SWITCH,
                f"kill switch OFF by {actor.name}; {len(paused)} paused action(s) wait for approval",
                detail=detail,
            )
        return state

    # -- exemptions --------------------------------------------------------------------

    async def list_exemptions(self) -> list[dict[str, Any]]:
        now = self._now()
        return [ex.to_dict(now) for ex in await self.safety.exemptions()]

    async def add_exemption(self, spec: dict[str, Any], actor: Actor) -> dict[str, Any]:
        try:
            parsed = ExemptionConfig.model_validate(spec)
        except pydantic.ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "exemption"
            raise BadRequest(f"{where}: {err['msg'].removeprefix('Value error, ')}") from None
        problem = exemption_problem(parsed, self.engine.registry.remediations)
        if problem:
            raise BadRequest(problem)
        if parsed.rule:
            parsed = parsed.model_copy(update={"rule": canonical_rule_id(parsed.rule)})
        if parsed.expires and parsed.expires.timestamp() <= self._now():
            raise BadRequest(f"expires: {parsed.expires.isoformat()} is in the past")
        existing = {ex.id for ex in await self.safety.exemptions()}
        ex_id = parsed.id or f"ex-{secrets.token_hex(4)}"
        if ex_id in existing:
            raise ControlError(f"an exemption {ex_id!r} exists already")
        body = parsed.model_dump(mode="json", exclude_none=True, exclude={"id"})
        await self.store.add_exemption(ExemptionRow(ex_id, body, self._now(), actor.name))
        added = next(ex for ex in await self.safety.exemptions() if ex.id == ex_id)
        await self._audit(
            "exemption_added", f"added by {actor}: {added.describe()}", actor, exemption=body
        )
        result = added.to_dict(self._now())
        if parsed.expires is None:
            result["warnings"] = [NO_EXPIRY_WARNING]
        return result

    async def remove_exemption(self, exemption_id: str, actor: Actor) -> None:
        for ex in await self.safety.exemptions():
            if ex.id == exemption_id and ex.source == "config":
                source = self.engine.config.source or "the configuration"
                raise ControlError(
                    f"exemption {exemption_id} is defined in {source}; remove it there"
                )
        if not await self.store.remove_exemption(exemption_id, by=actor.name, now=self._now()):
            raise NotFound(f"no exemption {exemption_id!r}")
        await self._audit(
            "exemption_removed",
            f"exemption {exemption_id} removed by {actor}",
            actor,
            exemption_id=exemption_id,
        )

    # -- budgets -----------------------------------------------------------------------

    async def budget_usage(self) -> list[dict[str, Any]]:
        """Each budget with its limit and what the rolling hour has used."""
        return await budget_usage(self.store, self.engine.config.budgets, self._now())

    # -- flapping ----------------------------------------------------------------------

    async def list_flapping(self) -> list[dict[str, Any]]:
        return [flap_dict(r) for r in await self.store.list_flapping()]

    async def clear_flapping(
        self, resource_arn: str, rule_id: str | None, actor: Actor
    ) -> list[dict[str, Any]]:
        rule = canonical_rule_id(rule_id) if rule_id else None
        cleared = await self.store.clear_flapping(
            resource_arn, rule, by=actor.name, now=self._now()
        )
        if not cleared:
            scope = f" for {rule}" if rule else ""
            raise NotFound(f"{resource_arn} is not flagged as flapping{scope}")
        for row in cleared:
            await self._audit(
                "flap_cleared",
                f"{row.resource_arn} ({row.rule_id}) cleared by {actor}; it will be remediated again",
                actor,
                resource_arn=row.resource_arn,
                rule_id=row.rule_id,
            )
        return [flap_dict(r) for r in cleared]

    # -- audit trail -------------------------------------------------------------------

    async def audit_events(
        self, *, action_id: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        if not 1 <= limit <= 10000:
            raise BadRequest("limit must be between 1 and 10000")
        events = await self.store.audit_events(action_id=action_id, limit=limit)
        return [
            {
                "at": iso_time(e.at),
                "action_id": e.action_id,
                "actor": e.actor,
                "kind": e.kind,
                "detail": e.detail,
                "data": e.data,
            }
            for e in events
        ]
