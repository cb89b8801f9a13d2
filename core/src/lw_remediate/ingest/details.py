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
from .fields import (
    aws_account,
    drop_note,
    event_id_text,
    lookup,
    objects,
    parse_arn,
    rule_text,
    scalar_text,
)

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
    violations, dropped = alert_details_violations(details)
    if dropped:
        log.warning(
            "alert_violations_dropped",
            shape="alerts_v2",
            event_id=scalar_text(lookup(details, "alertId")),
            dropped=len(dropped),
            kept=len(violations),
            reasons=dropped[:10],
        )
    return violations


def alert_details_violations(
    details: Mapping[str, Any], *, alert_id: str | None = None
) -> tuple[list[Violation], list[str]]:
    """Violations in an Alerts API v2 object (``scope=Details``), and notes on dropped rows.

    ``policyId`` is the rule; each ``entityMap.Resource[].KEY`` gives ``resource`` (ARN),
    ``resource_region`` and ``account_id``. The account is ``account_id``, or the ARN's
    when ``account_id`` is missing; a row where both are set and differ is dropped.
    """
    if alert_id is None:
        alert_id = event_id_text(lookup(details, "alertId"))
    rule = rule_text(lookup(details, "policyId"))
    rows = objects(lookup(lookup(details, "entityMap"), "Resource"))
    violations: list[Violation] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for row in rows:
        key = lookup(row, "KEY")
        if not isinstance(key, Mapping):
            key = row
        resource = scalar_text(lookup(key, "resource"))
        if not rule:
            dropped.append(drop_note(resource, None, "alert has no policyId"))
            continue
        arn = parse_arn(resource)
        if arn is None:
            dropped.append(drop_note(resource, rule, "resource is not an ARN"))
            continue
        key_account = aws_account(lookup(key, "account_id"))
        arn_account = aws_account(arn.account)
        if arn.account and arn_account is None:
            dropped.append(
                drop_note(resource, rule, "ARN account is not a 12-digit AWS account id")
            )
            continue
        if key_account and arn_account and key_account != arn_account:
            dropped.append(drop_note(resource, rule, "account_id disagrees with the ARN's account"))
            continue
        account = arn_account or key_account
        if account is None:
            dropped.append(drop_note(resource, rule, "no 12-digit account_id and none in the ARN"))
            continue
        violation = Violation(
            rule_id=canonical_rule_id(rule),
            resource_arn=str(arn),
            account_id=account,
            region=scalar_text(lookup(key, "resource_region")) or arn.region or None,
            reason=None,
            resource_type=None,
            source_rule_id=rule,
            alert_id=alert_id,
        )
        if violation.key not in seen:
            seen.add(violation.key)
            violations.append(violation)
    return violations, dropped
