"""What follows an action's end: its log line and metrics, and the notification about it."""

from __future__ import annotations

from typing import Any

import structlog

from ..metrics import Metrics
from ..model import ActionRecord, Status
from ..notify import Notification, NotificationKind

log = structlog.get_logger(__name__)

#: Outcomes logged at warning: the daemon tried and did not get there.
WARN_STATUSES = frozenset({"failed", "unverified"})


def log_finished(metrics: Metrics, record: ActionRecord, seconds: float) -> None:
    """Count the outcome and log ``action_finished`` (at warning for :data:`WARN_STATUSES`)."""
    v = record.violation
    status = str(record.status) if record.status else "unknown"
    metrics.actions.labels(status=status, remediation_id=record.remediation_id or "-").inc()
    metrics.action_latency.labels(mode=str(record.mode)).observe(seconds)
    emit = log.warning if status in WARN_STATUSES else log.info
    emit(
        "action_finished",
        rule_id=v.rule_id,
        resource_arn=v.resource_arn,
        account_id=v.account_id,
        region=v.region,
        mode=str(record.mode),
        status=status,
        detail=record.detail,
        calls=sum(not c.dependent for c in record.calls),
        duration_ms=round(seconds * 1000, 1),
    )


def outcome_notification(record: ActionRecord, *, console: str | None) -> Notification | None:
    """The notification about a finished action (``approval_requested`` links to the
    console's approvals page when ``console`` is set), or None when it is not sent."""
    if record.status is Status.RESOLVED and record.violation.activity is not None:
        return None  # a cloud-activity re-check that found nothing to fix: recorded, not sent
    kind = (
        NotificationKind.APPROVAL_REQUESTED
        if record.status is Status.AWAITING_APPROVAL
        else NotificationKind.OUTCOME
    )
    plan = record.plan.to_dict() if record.plan else None
    data: dict[str, Any] = {"plan": plan, "mode": str(record.mode)}
    if kind is NotificationKind.APPROVAL_REQUESTED and console and record.id:
        data["approval_url"] = f"{console}/ui/approvals#action-{record.id}"
    return Notification.about(kind, record, data=data)
