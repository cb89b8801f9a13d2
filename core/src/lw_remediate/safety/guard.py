"""The safety envelope around every action: exemptions, the flap guard, budgets, the
kill switch, approval bookkeeping and the audit trail.

Two moments matter:

* :meth:`Safety.gate`, before any AWS call for the action: exemptions (with live
  tag reads) and resources already known to be flapping. Runs in every mode.
* :meth:`Safety.before_apply`, called by the runner right before ``apply``: the
  kill switch (the action is parked, awaiting approval) and one atomic reservation
  that counts changes for the budgets and the flap guard. Dry-run never gets here.

Safety checks fail closed: when a tag exemption cannot be evaluated, the action is
refused rather than run.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog

from ..aws.credentials import AwsProvider
from ..config import Config, ExemptionConfig
from ..errors import ApplyPaused, RemediationRefused
from ..model import ActionRecord, Mode, Status, Violation
from ..notify import Notification, NotificationKind, Notifiers
from ..remediation import Remediation
from ..store import Store
from ..store.base import ChangeCounts, ChangeRow
from .decision import Candidate, Decision
from .exemptions import (
    Exemption,
    config_exemptions,
    exemption_policy,
    iso_time,
    read_tags,
    tag_target,
    write_tag,
)
from .killswitch import KillSwitch, KillSwitchState
from .shared_switch import SharedKillSwitch

log = structlog.get_logger(__name__)

#: The actor recorded for decisions the daemon makes by itself.
SYSTEM_ACTOR = "lw-remediate"

HOUR = 3600.0


@dataclass(frozen=True)
class Refusal:
    """Why a change may not happen (``kind``: ``budget`` or ``flapping``)."""

    kind: str
    detail: str
    key: str
    data: dict[str, Any] = field(default_factory=dict)


class TagReadFailed(Exception):
    """The live tags an exemption needs could not be read."""


class Safety:
    """Owns the safety state of one engine (daemon, CLI command or test)."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        aws: AwsProvider,
        notifiers: Notifiers,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.aws = aws
        self.notifiers = notifiers
        self.clock = clock
        #: The local file; with a ``shared`` store the switch is also (and is turned
        #: on and off) in the store, so every instance sees it.
        self.kill_switch = KillSwitch(config.safety.resolved_kill_switch_file(config.store.path))
        self._semaphore = asyncio.Semaphore(config.remediation.concurrency)
        self._kill_notified: float | None = None
        self.shared_switch = SharedKillSwitch(store)

    def reconfigure(self, config: Config) -> None:
        """Use ``config`` from now on (a configuration reload)."""
        self.config = config
        path = config.safety.resolved_kill_switch_file(config.store.path)
        if path != self.kill_switch.path:
            self.kill_switch = KillSwitch(path)

    # -- audit -----------------------------------------------------------------------

    async def audit(
        self,
        kind: str,
        detail: str,
        *,
        actor: str = SYSTEM_ACTOR,
        action_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        """Write one decision to the audit trail; a failure is logged, never raised."""
        try:
            await self.store.audit(kind, detail, actor=actor, action_id=action_id, data=data)
        except Exception as exc:  # noqa: BLE001 - the action itself is recorded in actions
            log.error("audit_write_failed", kind=kind, action_id=action_id, error=str(exc))

    async def notify(self, kind: NotificationKind, text: str, **facts: Any) -> None:
        await self.notifiers.send(Notification(kind, text, **facts))

    # -- exemptions ------------------------------------------------------------------

    async def exemptions(self) -> list[Exemption]:
        """Configuration exemptions first, then those added through the CLI / admin API."""
        stored = [
            Exemption(
                row.id,
                "store",
                ExemptionConfig.model_validate({**row.spec, "id": row.id}),
                created_at=row.created_at,
                created_by=row.created_by,
            )
            for row in await self.store.list_exemptions()
        ]
        return config_exemptions(self.config.exemptions) + stored

    def _tags_session_policy(self, account: str) -> dict[str, Any] | None:
        if not (self.config.aws.session_policy and self.config.aws.role_name):
            return None
        write = bool(self.config.safety.tag_exempted_resources)
        return exemption_policy(read=True, write=write).render(
            account=account, partition=self.aws.partition
        )

    async def _session(self, violation: Violation) -> Any:
        return await self.aws.session_for(
            violation.account_id,
            violation.region,
            session_policy=self._tags_session_policy(violation.account_id),
            label="exemptions",
        )

    async def _read_tags(self, violation: Violation) -> dict[str, str] | None:
        try:
            async with self._semaphore:
                session = await self._session(violation)
                return await read_tags(session, violation)
        except Exception as exc:
            raise TagReadFailed(str(exc) or type(exc).__name__) from exc

    async def match_exemption(
        self, violation: Violation, rem: Remediation, *, action_id: str | None = None
    ) -> Exemption | None:
        """The first active exemption matching the violation; raises TagReadFailed."""
        now = self.clock()
        tags: dict[str, str] | None = None
        tags_read = False
        for ex in await self.exemptions():
            if not ex.matches_without_tag(violation, rem.id):
                continue
            if ex.expired(now):
                await self._report_expired(ex, action_id=action_id, violation=violation)
                continue
            if ex.spec.tag is not None:
                if not tags_read:
                    tags, tags_read = await self._read_tags(violation), True
                if tags is None:
                    log.info(
                        "exemption_tag_not_readable",
                        exemption_id=ex.id,
                        resource_arn=violation.resource_arn,
                    )
                    continue
                if not ex.tag_matches(tags):
                    continue
            return ex
        return None

    async def _report_expired(
        self, ex: Exemption, *, action_id: str | None = None, violation: Violation | None = None
    ) -> None:
        """Report an expiry once (log, audit event, notification), however many actions
        (or housekeeping rounds) meet it; the audit event names the first action."""
        detail = f"{ex.describe()} expired on {iso_time(ex.expires_at)} and no longer applies"
        if await self.store.notice_once(f"exemption-expired:{ex.id}:{ex.expires_at}", self.clock()):
            log.warning("exemption_expired", exemption_id=ex.id, expires_at=iso_time(ex.expires_at))
            await self.audit(
                "exemption_expired",
                detail,
                action_id=action_id,
                data={"exemption_id": ex.id, "expires_at": ex.expires_at},
            )
            await self.notify(
                NotificationKind.EXEMPTION_EXPIRED,
                f"exemption {ex.id} expired; matching violations are remediated again",
                detail=detail,
                resource_arn=violation.resource_arn if violation else None,
                account_id=violation.account_id if violation else None,
            )

    async def report_expired_exemptions(self) -> list[Exemption]:
        """Report (once each) every expired exemption; housekeeping calls this."""
        now = self.clock()
        expired = [ex for ex in await self.exemptions() if ex.expired(now)]
        for ex in expired:
            await self._report_expired(ex)
        return expired

    def tags_exempted(self, rem: Remediation) -> bool:
        wanted = self.config.safety.tag_exempted_resources
        return "*" in wanted or rem.id in wanted

    async def _tag_exempted(
        self,
        violation: Violation,
        rem: Remediation,
        mode: Mode,
        ex: Exemption,
        action_id: str | None,
    ) -> str:
        """Kaholo-style: tag the exempted resource so a Lacework suppression rule can match."""
        key, value = self.config.safety.exemption_tag_key, self.config.safety.exemption_tag_value
        if tag_target(violation) is None:
            return f"; {violation.resource_arn} cannot be tagged"
        if mode is not Mode.AUTO:
            return f"; would tag it {key}={value} in auto mode"
        if (await self.kill_switch_state()).on:
            return f"; not tagged {key}={value}: the kill switch is on"
        try:
            async with self._semaphore:
                session = await self._session(violation)
                written = await write_tag(session, violation, key, value)
        except Exception as exc:  # noqa: BLE001 - the exemption still holds
            error = str(exc) or type(exc).__name__
            log.warning("exemption_tag_failed", resource_arn=violation.resource_arn, error=error)
            await self.audit(
                "exemption_tag_failed",
                f"could not tag {violation.resource_arn} {key}={value}: {error}",
                action_id=action_id,
                data={"exemption_id": ex.id},
            )
            return f"; tagging it {key}={value} failed: {error}"
        if written:
            await self.audit(
                "exemption_tagged",
                f"tagged {violation.resource_arn} {key}={value}",
                action_id=action_id,
                data={"exemption_id": ex.id, "key": key, "value": value},
            )
            return f"; tagged {key}={value}"
        return f"; already tagged {key}={value}"

    # -- the gate --------------------------------------------------------------------

    async def exemption_gate(self, c: Candidate) -> Decision | None:
        """Gate: an exemption that matches (by ARN, account or live tags) ends the action
        as exempted; tags that cannot be read refuse it (fail closed)."""
        violation, rem, mode, action_id = c.violation, c.remediation, c.mode, c.action_id
        try:
            ex = await self.match_exemption(violation, rem, action_id=action_id)
        except TagReadFailed as exc:
            detail = (
                f"an exemption needs the tags of {violation.resource_arn} and they could not be "
                f"read ({exc}); not acting (fail closed)"
            )
            await self.audit("exemption_unreadable", detail, action_id=action_id)
            return Decision(Status.REFUSED, detail)
        if ex is not None:
            detail = f"exempted by {ex.describe()}"
            if self.tags_exempted(rem):
                detail += await self._tag_exempted(violation, rem, mode, ex, action_id)
            await self.audit(
                "exempted",
                detail,
                action_id=action_id,
                data={"exemption_id": ex.id, "source": ex.source, "owner": ex.spec.owner},
            )
            return Decision(Status.EXEMPTED, detail)
        return None

    async def flap_gate(self, c: Candidate) -> Decision | None:
        """Gate: a resource changed ``flap_max_changes`` times within the window (or
        flagged and not cleared) is refused and flagged."""
        return await self._flapping(c.violation, c.remediation, action_id=c.action_id)

    def _flap_since(self, now: float) -> float:
        return now - self.config.safety.flap_window_seconds

    async def _flapping(
        self, violation: Violation, rem: Remediation, *, action_id: str | None
    ) -> Decision | None:
        now = self.clock()
        flag, count = await self.store.flap_state(
            violation.rule_id,
            violation.account_id,
            violation.resource_arn,
            since=self._flap_since(now),
        )
        if flag is None and count < self.config.safety.flap_max_changes:
            return None
        if flag is None:
            await self._flag(violation, rem.id, count, action_id=action_id)
        detail = self._flap_detail(violation, flag.changes if flag else count)
        await self.audit("flapping", detail, action_id=action_id)
        return Decision(Status.REFUSED, detail)

    def _flap_detail(self, violation: Violation, changes: int) -> str:
        hours = self.config.safety.flap_window_seconds / HOUR
        return (
            f"flapping: {violation.resource_arn} was changed {changes} times for "
            f"{violation.rule_id} within {hours:g}h (safety.flap_max_changes = "
            f"{self.config.safety.flap_max_changes}); something keeps undoing the fix. Left "
            f"alone until cleared: lw-remediate flapping clear {violation.resource_arn} "
            f"--rule {violation.rule_id}"
        )

    async def _flag(
        self, violation: Violation, remediation_id: str, changes: int, *, action_id: str | None
    ) -> None:
        created = await self.store.flag_flapping(
            violation.rule_id,
            violation.account_id,
            violation.resource_arn,
            changes=changes,
            now=self.clock(),
        )
        if not created:
            return
        detail = self._flap_detail(violation, changes)
        log.warning(
            "resource_flapping",
            resource_arn=violation.resource_arn,
            rule_id=violation.rule_id,
            changes=changes,
        )
        await self.audit("flap_flagged", detail, action_id=action_id)
        await self.notify(
            NotificationKind.FLAPPING,
            f"flapping: {violation.resource_arn} ({violation.rule_id}) keeps coming back; "
            "left alone until an operator clears it",
            status=str(Status.REFUSED),
            remediation_id=remediation_id,
            rule_id=violation.rule_id,
            resource_arn=violation.resource_arn,
            account_id=violation.account_id,
            action_id=action_id,
            detail=detail,
        )

    # -- the kill switch (:mod:`.shared_switch`) ----------------------------------------

    async def kill_switch_state(self) -> KillSwitchState:
        """The local file and, on a shared store, the database's switch (read right
        before each apply: a switch thrown through any instance stops every one)."""
        return await self.shared_switch.state(self.kill_switch)

    def known_kill_switch_state(self) -> KillSwitchState:
        """Without a store round trip (the database's switch as last read or set)."""
        return self.shared_switch.known_state(self.kill_switch)

    async def turn_kill_switch_on(self, *, by: str, reason: str, now: float) -> KillSwitchState:
        return await self.shared_switch.turn_on(self.kill_switch, by=by, reason=reason, now=now)

    async def turn_kill_switch_off(self) -> bool:
        return await self.shared_switch.turn_off(self.kill_switch)

    # -- right before apply (the runner's guard) -----------------------------------------

    async def before_apply(self, record: ActionRecord) -> None:
        """Raise ApplyPaused (kill switch) or RemediationRefused (budget, flapping)."""
        state = await self.kill_switch_state()
        if state.on:
            detail = (
                f"paused by the kill switch before apply ({state.describe()}); plan: "
                f"{record.plan.summary if record.plan else '-'}. To run it: lw-remediate "
                f"kill-switch off, then lw-remediate approve {record.id}"
            )
            await self.audit(
                "paused", detail, action_id=record.id, data={"kill_switch": state.to_dict()}
            )
            if state.by is None and self._kill_notified != state.since:
                # Turned on by hand (the CLI and the admin API notify themselves).
                self._kill_notified = state.since
                await self.notify(NotificationKind.KILL_SWITCH, f"{state.describe()}: apply paused")
            raise ApplyPaused(detail)
        v = record.violation
        now = self.clock()
        change = ChangeRow(
            record.id or "", now, record.remediation_id, v.rule_id, v.account_id, v.resource_arn
        )
        refusal = await self.store.reserve_change(
            change,
            since=now - HOUR,
            flap_since=self._flap_since(now),
            decide=lambda counts: self._decide(v, counts),
        )
        if refusal is None:
            return
        await self.audit(refusal.kind, refusal.detail, action_id=record.id, data=refusal.data)
        if refusal.kind == "flapping":
            await self._flag(v, record.remediation_id, refusal.data["changes"], action_id=record.id)
        else:
            await self._notify_budget(refusal, record)
        raise RemediationRefused(refusal.detail)

    def _decide(self, v: Violation, c: ChangeCounts) -> Refusal | None:
        """Runs inside the store's transaction: no I/O here."""
        safety, budgets = self.config.safety, self.config.budgets
        if c.flagged or c.resource >= safety.flap_max_changes:
            detail = self._flap_detail(v, c.resource)
            return Refusal("flapping", detail, "flapping", {"changes": c.resource})
        limits = (
            ("per_rule_per_hour", budgets.per_rule_per_hour, c.rule, f"for rule {v.rule_id}"),
            (
                "per_account_per_hour",
                budgets.per_account_per_hour,
                c.account,
                f"in account {v.account_id}",
            ),
            ("global_per_hour", budgets.global_per_hour, c.total, "in total"),
        )
        for name, limit, used, scope in limits:
            if limit is not None and used >= limit:
                key = {
                    "per_rule_per_hour": f"rule:{v.rule_id}",
                    "per_account_per_hour": f"account:{v.account_id}",
                    "global_per_hour": "global",
                }[name]
                detail = (
                    f"budget exceeded: {used} changes {scope} in the last hour "
                    f"(budgets.{name} = {limit}); not applied"
                )
                return Refusal(
                    "budget", detail, key, {"budget": name, "limit": limit, "used": used}
                )
        return None

    async def _notify_budget(self, refusal: Refusal, record: ActionRecord) -> None:
        # One message per budget per hour, whichever process (or instance) refuses;
        # every refusal is still recorded.
        if not await self.store.notice_every(f"budget:{refusal.key}", self.clock(), HOUR):
            return
        log.warning("budget_exceeded", budget=refusal.key, action_id=record.id)
        await self.notifiers.send(
            Notification.about(
                NotificationKind.BUDGET_EXCEEDED,
                record,
                text=f"budget exceeded ({refusal.key}): further changes are refused for now",
                status=str(Status.REFUSED),
                detail=refusal.detail,
                data=refusal.data,
            )
        )

    # -- after every action ----------------------------------------------------------

    async def after_action(self, record: ActionRecord) -> None:
        """Audit the outcome; start the approval clock of an action that now waits."""
        if record.status is None:
            return
        v = record.violation
        if record.status is Status.AWAITING_APPROVAL and record.id:
            now = self.clock()
            expires = now + self.config.safety.approval_ttl_seconds
            await self.store.request_approval(record.id, requested_at=now, expires_at=expires)
            await self.audit(
                "approval_requested",
                f"awaiting approval until {iso_time(expires)}: {record.detail}",
                action_id=record.id,
                data={
                    "expires_at": expires,
                    "plan": record.plan.to_dict() if record.plan else None,
                },
            )
            return
        await self.audit(
            "outcome",
            f"{record.status}: {record.detail}",
            action_id=record.id,
            data={
                "status": str(record.status),
                "mode": str(record.mode),
                "remediation_id": record.remediation_id,
                "rule_id": v.rule_id,
                "resource_arn": v.resource_arn,
                "account_id": v.account_id,
            },
        )
