"""Inbound Lacework payloads: every known shape normalised into one :class:`Alert`.

Shapes (examples of each in ``lw_remediate/testing/fixtures/lacework/``):

- ``classic``: the Webhook alert channel's flat body (``event_id``, ``rec_id``, ...; every
  value a string). It names a rule and an event, never the resources, so ``violations``
  is empty: resources come from the API (:mod:`lw_remediate.ingest.lacework`).
- ``eventbridge``: the EventBridge ``LaceworkEvents`` envelope (or a bare ``detail`` object,
  as in the S3 export), also when wrapped in SQS ``Records[].body``. Its
  ``ENTITY_MAP.NewViolation[]`` rows become violations.
- the v1 API's ``GetEventDetails`` answer (``{"data": [{..., "ENTITY_MAP": {...}}]}``,
  the same objects as EventBridge's ``EVENT_DETAILS.data[]``) is parsed as ``eventbridge``
  (same event id, same delivery key);
- ``alerts_v2``: an Alerts API v2 object (``{"data": {...}}``, the bare object, or a list
  page ``{"data": [...]}``); ``entityMap.Resource[].KEY`` rows become violations.
- ``test``: the console's test event; the daemon logs it and does nothing else.

Keys are looked up case-insensitively at every level (Go consumers decode that way, and
real payloads disagree on spelling). Every violation carries a 12-digit account id; a
row whose account cannot be determined is dropped and described in :attr:`Alert.dropped`
(and logged as ``alert_violations_dropped``), never guessed.

Accounts of EventBridge rows: the ARN's account when it has one (IAM, EC2; the
partition-less ``arn:iam::…`` form is normalised to ``arn:aws:iam::…``). S3 ARNs have
none, so the account comes from the ``RecId[]`` rows *of the same rule* in the same
``ENTITY_MAP`` (one row per rule and account, see
``eventbridge_new_violations_multi_rule_multi_account.json``: the LW_S3_1 buckets belong
to LW_S3_1's account, not to ``RecId[0]`` or any other rule's). If that rule lists
exactly one account, it is the bucket's; if it lists none or several, the bucket cannot
be paired from the body and the row is dropped; the daemon should take the resources of such
an alert from the API, where every resource carries its own ``account_id``.

:func:`parse_payload` raises only :class:`PayloadError`, whatever JSON value it is given.
"""

from __future__ import annotations

import enum
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ..model import Violation
from ..rules import canonical_rule_id, reason_suffix
from .activity import activity_event
from .details import alert_details_violations
from .fields import (
    Drops,
    Keys,
    aws_account,
    event_id_text,
    lookup,
    objects,
    one_line,
    parse_arn,
    rule_text,
    scalar_text,
)
from .targets import Unusable, resolve

log = structlog.get_logger(__name__)

__all__ = [
    "Alert",
    "PayloadError",
    "Shape",
    "parse_payload",
]

#: Descriptions longer than this are not searched for a rule id.
_DESCRIPTION_LIMIT = 4096

#: ``... (alias) : LW_S3_1 Ensure ...`` / ``... Pay-As-You-Go: Azure_CIS_2_1 Ensure ...`` /
#: ``AWS Account 123456789012 : lacework-global-128 EC2 ...``
_DESCRIPTION_RULE_RE = re.compile(
    r":\s*(lacework-global-[0-9]+|[A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)*_[0-9]+)(?=\s|$)",
    re.ASCII,
)
_SEVERITY_NAMES = {
    "critical": 1,
    "high": 2,
    "medium": 3,
    "low": 4,
    "info": 5,
    "informational": 5,
}
_UNKNOWN_SHAPE = (
    "no known Lacework payload shape: expected event_id/rec_id (webhook), "
    "detail-type LaceworkEvents (EventBridge) or alertId (Alerts API v2)"
)


class Shape(enum.StrEnum):
    """Which inbound format an :class:`Alert` came from."""

    CLASSIC = "classic"
    EVENTBRIDGE = "eventbridge"
    ALERTS_V2 = "alerts_v2"
    TEST = "test"


class PayloadError(ValueError):
    """The body is JSON but not a Lacework payload we understand.

    The message is one short line without payload content, safe to return in a 422 body.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message, 300))


@dataclass(frozen=True)
class Alert:
    """One Lacework alert as received, whatever its shape.

    ``rule_ids`` are the rule ids as Lacework sent them (``rec_id``, the ``NewViolation``
    ``REC_ID`` values, or ``policyId``), de-duplicated in order. ``violations`` lists the
    resources the body names (EventBridge and Alerts v2; always empty for the classic
    webhook). ``dropped`` has one line per resource row that was not turned into a
    violation (no account, not an ARN, ...). ``raw`` is the alert's own JSON object:
    ``parse_payload(alert.raw) == [alert]`` holds, so the raw body is what to store.
    """

    shape: Shape
    event_id: str
    rule_ids: tuple[str, ...]
    title: str
    severity: int | None
    lacework_account: str | None
    violations: tuple[Violation, ...]
    raw: Mapping[str, Any] = field(repr=False, hash=False)
    dropped: tuple[str, ...] = ()
    #: Reason -> rows dropped for it (every row; they sum to ``len(dropped)``).
    drop_reasons: Mapping[str, int] = field(default_factory=dict, hash=False)

    @property
    def delivery_key(self) -> str:
        """The dedupe key for redeliveries: ``"<shape>:<event id>"``."""
        return f"{self.shape}:{self.event_id}"

    @property
    def is_test(self) -> bool:
        return self.shape is Shape.TEST


def parse_payload(body: Any) -> list[Alert]:
    """Normalise a decoded JSON body into alerts (several for an SQS batch).

    Raises :class:`PayloadError` (and nothing else) when the body is no known shape.
    """
    try:
        return _parse(body)
    except PayloadError:
        raise
    except Exception as exc:  # noqa: BLE001 - defence in depth: any JSON body gives a 422, not a 500
        log.error("alert_parse_internal_error", error_type=type(exc).__name__)
        raise PayloadError("malformed Lacework payload (internal parse error)") from None


# -- shape detection -----------------------------------------------------------------------


def _parse(body: Any) -> list[Alert]:
    if not isinstance(body, Mapping):
        raise PayloadError(f"expected a JSON object, got {_json_type(body)}")
    keys = Keys(body)
    records = keys.get("Records")
    if records is not None:
        return _parse_sqs(records)
    return _parse_object(body, keys)


def _parse_sqs(records: Any) -> list[Alert]:
    if not isinstance(records, list) or not records:
        raise PayloadError("SQS Records must be a non-empty list")
    alerts: list[Alert] = []
    for index, record in enumerate(records):
        where = f"Records[{index}]"
        inner = lookup(record, "body")
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except (ValueError, RecursionError):
                raise PayloadError(f"{where}.body is not JSON") from None
        if not isinstance(inner, Mapping):
            raise PayloadError(f"{where}.body is not a JSON object")
        if lookup(inner, "Records") is not None:
            raise PayloadError(f"{where}.body: nested SQS Records are not supported")
        try:
            alerts.extend(_parse_object(inner))
        except PayloadError as exc:
            raise PayloadError(f"{where}.body: {exc}") from None
    return alerts


def _parse_object(body: Mapping[str, Any], keys: Keys | None = None) -> list[Alert]:
    keys = keys or Keys(body)
    detail_type = keys.get("detail-type", "detail_type", "detailType")
    detail = keys.get("detail")
    if detail_type is not None:
        if not (isinstance(detail_type, str) and detail_type.strip().lower() == "laceworkevents"):
            raise PayloadError("unsupported EventBridge detail-type (expected LaceworkEvents)")
        if not isinstance(detail, Mapping):
            raise PayloadError("EventBridge LaceworkEvents event without a detail object")
        return [_parse_eventbridge(body, detail)]
    if isinstance(detail, Mapping):
        return [_parse_eventbridge(body, detail)]
    if keys.get("EVENT_DETAILS") is not None:
        # The bare EventBridge ``detail`` (Lacework.Events as in the S3 export).
        return [_parse_eventbridge(body, body)]
    event_type = scalar_text(keys.get("event_type"))
    if (
        keys.get("event_id") is not None
        or keys.get("rec_id") is not None
        or (event_type or "").lower() == "testevent"
    ):
        return [_parse_classic(body, keys)]
    data = keys.get("data")
    if (
        isinstance(data, list)
        and data
        and all(isinstance(i, Mapping) and lookup(i, "ENTITY_MAP") is not None for i in data)
    ):
        # The v1 GetEventDetails answer: its data[] is EventBridge's EVENT_DETAILS.data[].
        return [_parse_eventbridge(body, {"EVENT_DETAILS": {"data": data}})]
    if isinstance(data, Mapping) and lookup(data, "alertId") is not None:
        return [_parse_alert_v2(body, data)]
    if isinstance(data, list) and data:
        with_id = [
            isinstance(item, Mapping) and lookup(item, "alertId") is not None for item in data
        ]
        if all(with_id):
            return [_parse_alert_v2(item, item) for item in data]
        if any(with_id):
            raise PayloadError("Alerts API v2 list: every data[] element needs an alertId")
    if keys.get("alertId") is not None:
        return [_parse_alert_v2(body, body)]
    raise PayloadError(_UNKNOWN_SHAPE)


# -- classic webhook -----------------------------------------------------------------------


def _parse_classic(body: Mapping[str, Any], keys: Keys) -> Alert:
    event_id = event_id_text(keys.get("event_id"))
    event_type = scalar_text(keys.get("event_type")) or ""
    title = scalar_text(keys.get("event_title")) or ""
    account = scalar_text(keys.get("lacework_account"))
    if event_type.lower() == "testevent" or event_id == "0":
        return Alert(Shape.TEST, event_id or "0", (), title, None, account, (), body)
    if event_id is None:
        raise PayloadError(
            "classic webhook without a usable event_id (1-128 letters, digits, _ . : -)"
        )
    rule = rule_text(keys.get("rec_id"))
    if rule is None:
        rule = _rule_from_description(keys.get("event_description"))
    return Alert(
        shape=Shape.CLASSIC,
        event_id=event_id,
        rule_ids=(rule,) if rule else (),
        title=title,
        severity=_severity(keys.get("event_severity")),
        lacework_account=account,
        violations=(),
        raw=body,
    )


def _rule_from_description(description: Any) -> str | None:
    """The rule id in ``"AWS Account 1234... (alias) : LW_S3_1 Ensure ..."``, if any."""
    if not isinstance(description, str):
        return None
    match = _DESCRIPTION_RULE_RE.search(description[:_DESCRIPTION_LIMIT])
    return match.group(1) if match else None


# -- EventBridge LaceworkEvents ------------------------------------------------------------


def _parse_eventbridge(raw: Mapping[str, Any], detail: Mapping[str, Any]) -> Alert:
    items = objects(lookup(lookup(detail, "EVENT_DETAILS"), "data"))
    event_id = event_id_text(lookup(detail, "EVENT_ID"))
    if event_id is None:
        # detail.EVENT_ID is the alert's id; the inner one can differ (CR sample), so it
        # is only a fallback when the outer one is missing.
        event_id = next(
            (e for e in (event_id_text(lookup(item, "EVENT_ID")) for item in items) if e), None
        )
    title = (
        scalar_text(lookup(detail, "EVENT_NAME")) or scalar_text(lookup(detail, "SUMMARY")) or ""
    )
    account = scalar_text(lookup(detail, "ACCOUNT"))
    event_type = scalar_text(lookup(detail, "EVENT_TYPE")) or ""
    if event_type.lower() == "testevent" or event_id == "0":
        return Alert(Shape.TEST, event_id or "0", (), title, None, account, (), raw)
    if event_id is None:
        raise PayloadError("EventBridge LaceworkEvents detail without a usable EVENT_ID")

    rule_ids: list[str] = []
    fallback_rule_ids: list[str] = []
    violations: list[Violation] = []
    drops = Drops()
    seen: set[tuple[str, str | None]] = set()
    for item in items:
        entity_map = lookup(item, "ENTITY_MAP")
        accounts_by_rule = _rec_id_accounts(objects(lookup(entity_map, "RecId")))
        for row in [
            *objects(lookup(entity_map, "RecId")),
            *objects(lookup(entity_map, "ViolationReason")),
        ]:
            _add_unique(fallback_rule_ids, rule_text(lookup(row, "REC_ID")))
        resource_types: dict[str, str] = {}
        for row in objects(lookup(entity_map, "Resource")):
            value, name = scalar_text(lookup(row, "VALUE")), scalar_text(lookup(row, "NAME"))
            if value and name:
                resource_types.setdefault(value, name)
                arn = parse_arn(value)
                if arn is not None:
                    resource_types.setdefault(str(arn), name)
        for row in objects(lookup(entity_map, "NewViolation")):
            rule = rule_text(lookup(row, "REC_ID"))
            _add_unique(rule_ids, rule)
            violation = _new_violation(row, rule, event_id, accounts_by_rule, resource_types, drops)
            if violation is not None and (violation.key, violation.reason) not in seen:
                seen.add((violation.key, violation.reason))
                violations.append(violation)
    alert = Alert(
        shape=Shape.EVENTBRIDGE,
        event_id=event_id,
        rule_ids=tuple(rule_ids or fallback_rule_ids),
        title=title,
        severity=_severity(lookup(detail, "SEVERITY")),
        lacework_account=account,
        violations=tuple(violations),
        raw=raw,
        dropped=drops.lines(),
        drop_reasons=drops.counts(),
    )
    _log_dropped(alert)
    return alert


def _rec_id_accounts(rows: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Canonical rule id -> the distinct AWS accounts its ``RecId[]`` rows name, in order."""
    accounts: dict[str, list[str]] = {}
    for row in rows:
        rule = rule_text(lookup(row, "REC_ID"))
        account = aws_account(lookup(row, "ACCOUNT_ID"))
        if rule and account:
            _add_unique(accounts.setdefault(canonical_rule_id(rule), []), account)
    return accounts


def _new_violation(
    row: Mapping[str, Any],
    rule: str | None,
    event_id: str,
    accounts_by_rule: Mapping[str, list[str]],
    resource_types: Mapping[str, str],
    drops: Drops,
) -> Violation | None:
    """One ``NewViolation`` row as a violation, or None (noted in ``drops``).

    The account is the ARN's when it has one. S3 ARNs carry none (nor does a row without
    ``RESOURCE``, an account-level rule); then the ``RecId[]`` rows *for the same rule in
    the same event* say which account was assessed. When exactly one account is listed
    for that rule it is the account; when several are (one rule evaluated in several
    accounts in one event) the row cannot be paired and is dropped, not guessed: the
    daemon enriches such alerts from the API instead. Rows carry no region, so a bare
    EC2 id is dropped here too (the API's ``resource_region`` resolves it).
    """
    raw_resource = lookup(row, "RESOURCE")
    resource = scalar_text(raw_resource)
    if not rule:
        drops.add(None, resource, "no REC_ID")
        return None
    candidates = accounts_by_rule.get(canonical_rule_id(rule), [])
    try:
        target = resolve(
            raw_resource,
            account=None,
            default_account=candidates[0] if len(candidates) == 1 else None,
            region=None,
        )
    except Unusable as exc:
        why = str(exc)
        if len(candidates) > 1 and "account" in why:
            why = f"{why}; RecId[] lists {len(candidates)} accounts for this rule"
        elif not candidates and "account" in why:
            why = f"{why}; RecId[] lists no account for this rule"
        drops.add(rule, resource, why)
        return None
    return Violation(
        rule_id=canonical_rule_id(rule),
        resource_arn=target.resource_arn,
        account_id=target.account_id,
        region=target.region,
        reason=reason_suffix(scalar_text(lookup(row, "REASON")), rule),
        resource_type=resource_types.get(resource or "") or resource_types.get(target.resource_arn),
        source_rule_id=rule,
        alert_id=event_id,
    )


# -- Alerts API v2 -------------------------------------------------------------------------


def _parse_alert_v2(raw: Mapping[str, Any], details: Mapping[str, Any]) -> Alert:
    event_id = event_id_text(lookup(details, "alertId"))
    if event_id is None:
        raise PayloadError("Alerts API v2 object without a usable alertId")
    rule = rule_text(lookup(details, "policyId"))
    violations: list[Violation] = []
    drops = Drops()
    if activity_event(details, alert_id=event_id) is None:
        # (A cloud-activity alert names no violation: its Resource rows are CloudTrail ids.)
        violations, drops = alert_details_violations(details, alert_id=event_id)
    title = (
        scalar_text(lookup(details, "alertName"))
        or scalar_text(lookup(lookup(details, "alertInfo"), "subject"))
        or ""
    )
    alert = Alert(
        shape=Shape.ALERTS_V2,
        event_id=event_id,
        rule_ids=(rule,) if rule else (),
        title=title,
        severity=_severity(lookup(details, "severity")),
        lacework_account=None,
        violations=tuple(violations),
        raw=raw,
        dropped=drops.lines(),
        drop_reasons=drops.counts(),
    )
    _log_dropped(alert)
    return alert


# -- helpers -------------------------------------------------------------------------------


def _severity(value: Any) -> int | None:
    """1 (Critical) .. 5 (Info) from an int, a digit string or a severity name."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _SEVERITY_NAMES:
            return _SEVERITY_NAMES[text]
        value = int(text) if text.isascii() and text.isdigit() and len(text) < 3 else None
    if isinstance(value, int) and 1 <= value <= 5:
        return value
    return None


def _add_unique(items: list[str], value: str | None) -> None:
    if value and value not in items:
        items.append(value)


def _log_dropped(alert: Alert) -> None:
    if alert.dropped:
        log.warning(
            "alert_violations_dropped",
            shape=str(alert.shape),
            event_id=alert.event_id,
            dropped=len(alert.dropped),
            kept=len(alert.violations),
            reasons=dict(alert.drop_reasons),
        )


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
