"""Notifications: what the core sends to notifiers (Slack, or any plugin's channel).

Part of the public contract: notifier plugins implement :class:`Notifier` and return
it from the ``lw_remediate_notifiers`` hook. The fan-out that delivers them is
:class:`lw_remediate.notify.Notifiers`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .model import ActionRecord


class NotificationKind(enum.StrEnum):
    OUTCOME = "outcome"  # an action finished (remediated, planned, manual, failed, ...)
    APPROVAL_REQUESTED = "approval_requested"
    BUDGET_EXCEEDED = "budget_exceeded"
    FLAPPING = "flapping"
    KILL_SWITCH = "kill_switch"
    EXEMPTION_EXPIRED = "exemption_expired"  # an exemption expired and no longer applies
    ALERT_DEAD = "alert_dead"  # an alert could not be enriched after every attempt


@dataclass(frozen=True)
class Notification:
    """One message: a kind, a one-line text, and the structured facts behind it."""

    kind: NotificationKind
    text: str
    status: str | None = None
    remediation_id: str | None = None
    rule_id: str | None = None
    resource_arn: str | None = None
    account_id: str | None = None
    action_id: str | None = None
    detail: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def about(
        cls,
        kind: NotificationKind,
        record: ActionRecord,
        *,
        text: str | None = None,
        status: str | None = None,
        detail: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> Notification:
        """A notification about one action, its facts taken from the record."""
        v = record.violation
        state = status if status is not None else (str(record.status) if record.status else None)
        return cls(
            kind,
            text
            or f"{state}: {record.remediation_id} on {v.resource_arn} ({v.rule_id}, account {v.account_id})",
            status=state,
            remediation_id=record.remediation_id,
            rule_id=v.rule_id,
            resource_arn=v.resource_arn,
            account_id=v.account_id,
            action_id=record.id,
            detail=record.detail if detail is None else detail,
            data=dict(data or {}),
        )


@runtime_checkable
class Notifier(Protocol):
    """A notification channel. ``name`` appears in logs; ``notify`` must not raise for
    delivery problems it can report itself, but the core guards it either way."""

    name: str

    async def notify(self, notification: Notification) -> None: ...
