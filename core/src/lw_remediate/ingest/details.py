"""Violations from an Alerts API v2 object (``GET /api/v2/Alerts/{id}?scope=Details``).

The same object arrives as a webhook payload (shape ``alerts_v2``) and as the API's
answer when the daemon enriches a classic or EventBridge alert.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import structlog

from ..model import Violation
from ..rules import canonical_rule_id
from .fields import Drops, aws_account, event_id_text, lookup, objects, rule_text, scalar_text
from .targets import Unusable, region_text, resolve

log = structlog.get_logger(__name__)


def violations_from_alert_details(details: Mapping[str, Any]) -> list[Violation]:
    """The violations of an Alerts API v2 ``scope=Details`` object (or ``{"data": {...}}``).

    ``policyId`` is the rule (canonicalised; ``source_rule_id`` keeps it as sent); each
    ``entityMap.Resource[].KEY`` gives the ARN, ``resource_region`` and ``account_id``.
    Rows without a determinable 12-digit account are dropped and logged.
    """
    inner = lookup(details, "data")
    if isinstance(inner, Mapping) and lookup(details, "policyId") is None:
        details = inner
    violations, drops = alert_details_violations(details)
    if drops:
        log.warning(
            "alert_violations_dropped",
            shape="alerts_v2",
            event_id=scalar_text(lookup(details, "alertId")),
            dropped=len(drops),
            kept=len(violations),
            reasons=drops.counts(),
        )
    return violations


def alert_details_violations(
    details: Mapping[str, Any], *, alert_id: str | None = None
) -> tuple[list[Violation], Drops]:
    """Violations in an Alerts API v2 object (``scope=Details``), and the dropped rows.

    ``policyId`` is the rule; each ``entityMap.Resource[].KEY`` gives ``resource``,
    ``resource_region`` and ``account_id``. The account is ``account_id``, or the ARN's
    when ``account_id`` is missing; a row where both are set and differ is dropped. A
    row without ``resource`` is the account (or, with ``resource_region``, that region
    of it); bare ids are resolved as :mod:`lw_remediate.ingest.targets` says.
    """
    if alert_id is None:
        alert_id = event_id_text(lookup(details, "alertId"))
    rule = rule_text(lookup(details, "policyId"))
    rows = objects(lookup(lookup(details, "entityMap"), "Resource"))
    violations: list[Violation] = []
    drops = Drops()
    seen: set[str] = set()
    for row in rows:
        key = lookup(row, "KEY")
        if not isinstance(key, Mapping):
            key = row
        resource = lookup(key, "resource")
        if not rule:
            drops.add(None, scalar_text(resource), "alert has no policyId")
            continue
        try:
            target = resolve(
                resource,
                account=aws_account(lookup(key, "account_id")),
                region=region_text(lookup(key, "resource_region")),
            )
        except Unusable as exc:
            drops.add(rule, scalar_text(resource), str(exc))
            continue
        violation = Violation(
            rule_id=canonical_rule_id(rule),
            resource_arn=target.resource_arn,
            account_id=target.account_id,
            region=target.region,
            reason=None,
            resource_type=None,
            source_rule_id=rule,
            alert_id=alert_id,
        )
        if violation.key not in seen:
            seen.add(violation.key)
            violations.append(violation)
    return violations, drops
