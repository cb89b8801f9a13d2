"""Cloud-activity alerts through the one pipeline: loop protection, then the maps' answers.

An activity alert (see :mod:`lw_remediate.activity`) names no violation. For each one:

1. **Loop protection.** When the actor is one of the daemon's own roles (``[aws]
   role_name`` or a remediation's ``role_name``, or an ``lw-remediate-…`` session) and the
   API call is one an action of the daemon recorded (same account, same resource when
   the alert names one, applied in the last :data:`OWN_CHANGE_WINDOW` seconds), the
   alert ends in one ``resolved`` action saying so; nothing else runs.
2. **Touched resources.** Every map's ``lw_remediate_touched_resources`` hook says what
   the event touched. A resource without ``remediation_ids`` is re-evaluated with every
   installed remediation of its type that would change something with its configured
   options (one action per rule it answers; manual ones are left to the compliance
   path, or every change would repeat their runbooks); a resource with
   ``remediation_ids`` runs exactly those (a direct revert or a watch-only runbook).
   Each action goes through :meth:`Engine.run_one` (modes, approvals, exemptions,
   budgets, flap guard, audit), its violation carrying the event, and the audit trail
   gets an ``activity_cause`` entry naming the alert.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from ..activity import ActivityEvent, TouchedResource
from ..model import ActionRecord, Status, Violation, target_arn
from ..remediation import Remediation
from ..store import ActionRow

if TYPE_CHECKING:
    from .engine import Engine

log = structlog.get_logger(__name__)

#: Statuses of actions that wrote to AWS (their calls can come back as activity alerts).
_CHANGED = frozenset({"remediated", "unverified", "reverted", "failed"})
#: How far back an own change is looked for (Lacework alerts on activity within hours).
OWN_CHANGE_WINDOW = 24 * 3600.0
#: How many recent actions of each changing status are searched for the own change.
_RECENT_ACTIONS = 500
#: The session-name prefix of every role session the daemon opens.
SESSION_PREFIX = "lw-remediate-"


class ActivityResponder:
    """Answers cloud-activity alerts for one :class:`Engine`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    async def handle(self, event: ActivityEvent, *, inbox_id: int | None) -> list[ActionRecord]:
        own = await self.own_change(event)
        if own is not None:
            return [await self._own_change_resolved(event, own, inbox_id)]
        touched = self.engine.registry.touched_resources(event)
        log.info(
            "activity_alert",
            alert_id=event.alert_id,
            policy_id=event.policy_id,
            apis=list(event.apis),
            touched=len(touched),
        )
        if not touched:
            return await self._unanswered(event, inbox_id)
        records: list[ActionRecord] = []
        seen: set[tuple[str, str, str]] = set()
        for resource in touched:
            records.extend(await self._answer(event, resource, inbox_id, seen))
        return records

    # -- loop protection ---------------------------------------------------------------

    def own_roles(self) -> set[str]:
        """The role names the daemon acts as (the last path element of each)."""
        config, registry = self.engine.config, self.engine.registry
        names = {config.aws.role_name, *(config.role_for(r) for r in registry.remediations)}
        return {n.rsplit("/", 1)[-1] for n in names if n}

    def is_own_actor(self, event: ActivityEvent) -> bool:
        """True when the event's user or principal is one of the daemon's role sessions."""
        roles = self.own_roles()
        for actor in (event.user, event.principal_id):
            if not actor:
                continue
            text = actor.strip()
            if SESSION_PREFIX in text:
                return True
            for role in roles:
                if (
                    text == role
                    or text.startswith(f"{role}/")
                    or f"assumed-role/{role}/" in text
                    or text.endswith(f":role/{role}")
                ):
                    return True
        return False

    async def own_change(self, event: ActivityEvent) -> ActionRow | None:
        """The daemon's recorded action this event reports, if the actor is the daemon."""
        if not event.apis or not self.is_own_actor(event):
            return None
        apis = {a.lower() for a in event.apis}
        ids = {v for v in event.resource_values() if v}
        since = time.time() - OWN_CHANGE_WINDOW
        rows = [
            row
            for status in sorted(_CHANGED)
            for row in await self.engine.store.list_actions(limit=_RECENT_ACTIONS, status=status)
        ]
        for row in sorted(rows, key=lambda r: r.updated_at, reverse=True):
            record = row.record
            if row.updated_at < since:
                continue
            if event.account_id and record.violation.account_id != event.account_id:
                continue
            if not any(c.operation.lower() in apis and c.error is None for c in record.calls):
                continue
            where = {record.violation.resource_arn, *(c.resource for c in record.calls)}
            if ids and not any(i in w for i in ids for w in where):
                continue
            return row
        log.warning(
            "activity_own_role_unmatched",
            alert_id=event.alert_id,
            apis=list(event.apis),
            detail="the daemon's role made a change no recorded action explains; answered normally",
        )
        return None

    async def _own_change_resolved(
        self, event: ActivityEvent, own: ActionRow, inbox_id: int | None
    ) -> ActionRecord:
        done = own.record
        detail = (
            f"the daemon's own change came back: {event.describe()} is what action {done.id} "
            f"({done.remediation_id}, {done.status}) did on {done.violation.resource_arn}; "
            "nothing to do"
        )
        violation = Violation(
            rule_id=event.policy_id or event.alert_type or "ACTIVITY",
            resource_arn=done.violation.resource_arn,
            account_id=done.violation.account_id,
            region=done.violation.region,
            resource_type=done.violation.resource_type,
            source_rule_id=event.policy_id,
            alert_id=event.alert_id,
            activity=event,
        )
        record = await self.engine.record_outcome(
            violation, Status.RESOLVED, detail, inbox_id=inbox_id
        )
        await self.engine.safety.audit(
            "activity_own_change",
            detail,
            action_id=record.id,
            data={"activity": event.to_dict(), "own_action_id": done.id},
        )
        return record

    # -- answering ---------------------------------------------------------------------

    async def _unanswered(self, event: ActivityEvent, inbox_id: int | None) -> list[ActionRecord]:
        detail = f"no installed map answers {event.describe()}"
        if not event.account_id:
            log.info("activity_unanswered", alert_id=event.alert_id, detail=detail)
            return []
        violation = Violation(
            rule_id=event.policy_id or event.alert_type or "ACTIVITY",
            resource_arn=target_arn(event.account_id, event.region),
            account_id=event.account_id,
            region=event.region,
            source_rule_id=event.policy_id,
            alert_id=event.alert_id,
            activity=event,
        )
        record = await self.engine.record_outcome(
            violation, Status.NO_REMEDIATION, detail, inbox_id=inbox_id
        )
        return [record]

    def remediations_for(self, resource: TouchedResource) -> list[tuple[Remediation, bool]]:
        """(remediation, direct) pairs for a touched resource: its ``remediation_ids``
        (direct), or every remediation of its type that acts with its options."""
        registry, config = self.engine.registry, self.engine.config
        if resource.remediation_ids:
            found: list[tuple[Remediation, bool]] = []
            for rid in resource.remediation_ids:
                rem = registry.get(rid)
                if rem is None:
                    log.warning("activity_remediation_missing", remediation_id=rid)
                    continue
                found.append((rem, True))
            return found
        return [
            (rem, False)
            for rem in registry.for_resource_type(resource.resource_type)
            if not rem.is_manual(rem.parse_options(config.options_for(rem.id)))
        ]

    async def _answer(
        self,
        event: ActivityEvent,
        resource: TouchedResource,
        inbox_id: int | None,
        seen: set[tuple[str, str, str]],
    ) -> list[ActionRecord]:
        """Run the remediations for one touched resource; ``seen`` (remediation, rule,
        resource) runs once per alert, however many maps name the resource."""
        base = Violation(
            rule_id="",
            resource_arn=resource.resource_arn,
            account_id=resource.account_id,
            region=resource.region,
            resource_type=resource.resource_type,
            source_rule_id=event.policy_id,
            alert_id=event.alert_id,
            activity=event,
        )
        records: list[ActionRecord] = []
        for rem, direct in self.remediations_for(resource):
            if direct:
                rule = (
                    event.policy_id
                    if event.policy_id and rem.handles(event.policy_id, None)
                    else rem.rules[0]
                )
                rules: tuple[str, ...] = (rule,)
            else:
                rules = rem.rules
            for rule in rules:
                if (rem.id, rule, resource.resource_arn) in seen:
                    continue
                seen.add((rem.id, rule, resource.resource_arn))
                violation = replace(base, rule_id=rule)
                record = await self.engine.run_one(rem, violation, inbox_id=inbox_id)
                await self.engine.safety.audit(
                    "activity_cause",
                    f"{event.describe()}: {resource.cause}; "
                    f"{'ran' if direct else 're-evaluated with'} {rem.id} ({rule})",
                    action_id=record.id,
                    data={
                        "activity": event.to_dict(),
                        "resource_arn": resource.resource_arn,
                        "response": "direct" if direct else "re-evaluate",
                    },
                )
                records.append(record)
        return records
