"""Enrich: the resources of an alert come from the Lacework API, never from the body.

Anyone who learns the webhook URL can post to it, and the classic webhook names no
resources at all; so the violations are read with the daemon's own API key
(``GET /api/v2/Alerts/{id}?scope=Details``). No answer, no action: the alert waits in
the inbox (:class:`EnrichmentPending`) and is tried again.
"""

from __future__ import annotations

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
    if alert.shape is Shape.TEST:
        return []
    if trust_payload_resources and alert.violations and not alert.dropped:
        return list(alert.violations)
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
    return violations_from_alert_details(details)
