"""What becomes of an inbox entry that cannot be processed now: ``dead`` with the reason,
or queued again with a backoff (honouring Lacework's ``Retry-After``)."""

from __future__ import annotations

import random
import time

import structlog

from ..config import RemediationDefaults
from ..metrics import Metrics
from ..notify import Notification, NotificationKind, Notifiers
from ..store import InboxRow, Store
from .enrich import MAX_RETRY_DELAY
from .runner import describe_error

log = structlog.get_logger(__name__)


async def mark_dead(store: Store, metrics: Metrics, row: InboxRow, error: str) -> None:
    """End an inbox entry ``dead`` with the reason (listed by ``inbox list``)."""
    metrics.inbox_dead.inc()
    log.error(
        "alert_dead",
        inbox_id=row.id,
        event_id=row.event_id,
        attempts=row.attempts,
        error=error,
    )
    try:
        await store.mark_inbox(row.id, "dead", error=error)
    except Exception as exc:  # noqa: BLE001 - re-queued by the next start's recover()
        log.error("alert_dead_not_recorded", inbox_id=row.id, error=describe_error(exc))


async def retry_or_dead(
    store: Store,
    metrics: Metrics,
    notifiers: Notifiers,
    settings: RemediationDefaults,
    row: InboxRow,
    error: str,
    *,
    retry_after: float | None = None,
) -> None:
    """Queue the entry again after a jittered exponential backoff, or, after
    ``enrich_max_attempts``, end it dead and send an ``alert_dead`` notification."""
    max_attempts = settings.enrich_max_attempts
    if row.attempts >= max_attempts:
        await mark_dead(store, metrics, row, error)
        await notifiers.send(
            Notification(
                NotificationKind.ALERT_DEAD,
                f"alert {row.event_id} could not be enriched after {row.attempts} attempts: {error}",
                detail=error,
            )
        )
        return
    base = settings.enrich_retry_seconds
    delay = min(300.0, base * 2.0 ** (row.attempts - 1)) * (0.5 + random.random() / 2)  # noqa: S311 - jitter
    if retry_after is not None:  # Lacework asked for a wait: never ask again sooner
        delay = max(delay, min(retry_after, MAX_RETRY_DELAY))
    await store.retry_later(row.id, next_attempt_at=time.time() + delay, error=error)
    log.info(
        "alert_requeued",
        inbox_id=row.id,
        event_id=row.event_id,
        attempt=row.attempts,
        retry_in_s=round(delay, 1),
    )
