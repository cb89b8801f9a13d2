"""Enrich: the resources of an alert come from the Lacework API, never from the body.

Anyone who learns the webhook URL can post to it, and the classic webhook names no
resources at all; so the violations are read with the daemon's own API key
(``GET /api/v2/Alerts/{id}?scope=Details``). No answer, no action: the alert waits in
the inbox (:class:`EnrichmentPending`) and is tried again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..activity import ActivityEvent
from ..ingest.activity import activity_event
from ..ingest.alerts import Alert, Shape
from ..ingest.details import violations_from_alert_details
from ..ingest.lacework import (
    LaceworkAuthError,
    LaceworkClient,
    LaceworkError,
    LaceworkNotFound,
    LaceworkUnavailable,
)
from ..metrics import Metrics
from ..model import Violation


class EnrichmentPending(Exception):
    """The alert cannot be enriched yet (API unavailable); it stays queued.

    ``retry_after``: the seconds Lacework asked to wait (``Retry-After``), if it did.
    """

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


#: The longest wait between two enrichment attempts of one alert, whatever
#: ``Retry-After`` asks (a day: a bad header must not park an alert for ever).
MAX_RETRY_DELAY = 86400.0


@dataclass(frozen=True)
class Enriched:
    """What an alert is about: its violations (compliance), or the cloud-activity event
    (then ``violations`` is empty: the maps say what it touched)."""

    violations: list[Violation] = field(default_factory=list)
    activity: ActivityEvent | None = None


async def enrich(
    alert: Alert,
    *,
    lacework: LaceworkClient | None,
    metrics: Metrics,
    trust_payload_resources: bool = False,
) -> list[Violation]:
    """The violations of an alert, from the Lacework API (fail closed).

    Resources listed in the payload are used only when ``trust_payload_resources``
    is on (``replay`` of an operator's own file, or the operator's explicit choice).
    """
    enriched = await enrich_alert(
        alert, lacework=lacework, metrics=metrics, trust_payload_resources=trust_payload_resources
    )
    return enriched.violations


async def enrich_alert(
    alert: Alert,
    *,
    lacework: LaceworkClient | None,
    metrics: Metrics,
    trust_payload_resources: bool = False,
) -> Enriched:
    """:func:`enrich`, telling a cloud-activity alert (CloudTrail entities in its
    details) from a compliance one. The activity facts come from the API too, unless
    ``trust_payload_resources`` is on."""
    if alert.shape is Shape.TEST:
        return Enriched()
    if trust_payload_resources:
        if alert.violations and not alert.dropped:
            return Enriched(list(alert.violations))
        event = activity_event(alert.raw, alert_id=alert.event_id)
        if event is not None:
            return Enriched(activity=event)
    details = await _details(alert, lacework=lacework, metrics=metrics)
    event = activity_event(details, alert_id=alert.event_id)
    if event is not None:
        return Enriched(activity=event)
    return Enriched(violations_from_alert_details(details))


async def _details(
    alert: Alert, *, lacework: LaceworkClient | None, metrics: Metrics
) -> Mapping[str, Any]:
    if lacework is None:
        raise EnrichmentPending(
            "no Lacework API configured ([lacework] account/api_url, key_id, secret)"
        )
    try:
        details = await lacework.alert_details(alert.event_id)
    except LaceworkNotFound as exc:
        metrics.enrich_failures.labels(reason="not_found").inc()
        metrics.dependency_ok("lacework")  # it answered
        raise EnrichmentPending(f"Lacework has no alert {alert.event_id} (yet): {exc}") from exc
    except LaceworkAuthError as exc:
        metrics.enrich_failures.labels(reason="auth").inc()
        metrics.dependency_failed("lacework", str(exc), fatal=True)
        raise EnrichmentPending(f"Lacework API rejected the credentials: {exc}") from exc
    except LaceworkUnavailable as exc:
        metrics.enrich_failures.labels(reason="unavailable").inc()
        metrics.dependency_failed("lacework", str(exc))
        raise EnrichmentPending(str(exc), retry_after=exc.retry_after) from exc
    except LaceworkError as exc:
        metrics.enrich_failures.labels(reason="unavailable").inc()
        metrics.dependency_failed("lacework", str(exc))
        raise EnrichmentPending(str(exc)) from exc
    metrics.dependency_ok("lacework")
    return details
