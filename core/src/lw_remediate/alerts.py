"""Inbound Lacework payloads: every known shape normalised into one :class:`Alert`.

Shapes (reference/lacework-protocol.md §1):

- ``classic``: the Webhook alert channel's flat body (``event_id``, ``rec_id``, ...; every
  value a string). It names a rule and an event, never the resources, so ``violations``
  is empty: resources come from the API (:mod:`lw_remediate.lacework`).
- ``eventbridge``: the EventBridge ``LaceworkEvents`` envelope (or a bare ``detail`` object,
  as in the S3 export), also when wrapped in SQS ``Records[].body``. Its
  ``ENTITY_MAP.NewViolation[]`` rows become violations.
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

from .model import Arn, Violation
from .rules import canonical_rule_id, reason_suffix

log = structlog.get_logger(__name__)

__all__ = [
    "Alert",
    "PayloadError",
    "Shape",
    "parse_payload",
]

#: How much of a field is kept in a ``dropped`` note or log line.
_NOTE_LIMIT = 160
#: Descriptions longer than this are not searched for a rule id.
_DESCRIPTION_LIMIT = 4096

_EVENT_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}", re.ASCII)
_ACCOUNT_RE = re.compile(r"[0-9]{12}", re.ASCII)
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
        super().__init__(_one_line(message, 300))


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
    records = _get(body, "Records")
    if records is not None:
        return _parse_sqs(records)
    return _parse_object(body)


def _parse_sqs(records: Any) -> list[Alert]:
    if not isinstance(records, list) or not records:
        raise PayloadError("SQS Records must be a non-empty list")
    alerts: list[Alert] = []
    for index, record in enumerate(records):
        where = f"Records[{index}]"
        inner = _get(record, "body")
        if isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except (ValueError, RecursionError):
                raise PayloadError(f"{where}.body is not JSON") from None
        if not isinstance(inner, Mapping):
            raise PayloadError(f"{where}.body is not a JSON object")
        if _get(inner, "Records") is not None:
            raise PayloadError(f"{where}.body: nested SQS Records are not supported")
        try:
            alerts.extend(_parse_object(inner))
        except PayloadError as exc:
            raise PayloadError(f"{where}.body: {exc}") from None
    return alerts


def _parse_object(body: Mapping[str, Any]) -> list[Alert]:
    detail_type = _get(body, "detail-type", "detail_type", "detailType")
    detail = _get(body, "detail")
    if detail_type is not None:
        if not (isinstance(detail_type, str) and detail_type.strip().lower() == "laceworkevents"):
            raise PayloadError("unsupported EventBridge detail-type (expected LaceworkEvents)")
        if not isinstance(detail, Mapping):
            raise PayloadError("EventBridge LaceworkEvents event without a detail object")
        return [_parse_eventbridge(body, detail)]
    if isinstance(detail, Mapping):
        return [_parse_eventbridge(body, detail)]
    if _get(body, "EVENT_DETAILS") is not None:
        # The bare EventBridge ``detail`` (Lacework.Events as in the S3 export).
        return [_parse_eventbridge(body, body)]
    event_type = _text(_get(body, "event_type"))
    if (
        _get(body, "event_id") is not None
        or _get(body, "rec_id") is not None
        or (event_type or "").lower() == "testevent"
    ):
        return [_parse_classic(body)]
    data = _get(body, "data")
    if isinstance(data, Mapping) and _get(data, "alertId") is not None:
        return [_parse_alert_v2(body, data)]
    if isinstance(data, list) and data:
        with_id = [isinstance(item, Mapping) and _get(item, "alertId") is not None for item in data]
        if all(with_id):
            return [_parse_alert_v2(item, item) for item in data]
        if any(with_id):
            raise PayloadError("Alerts API v2 list: every data[] element needs an alertId")
    if _get(body, "alertId") is not None:
        return [_parse_alert_v2(body, body)]
    raise PayloadError(_UNKNOWN_SHAPE)


# -- classic webhook -----------------------------------------------------------------------


def _parse_classic(body: Mapping[str, Any]) -> Alert:
    event_id = _event_id(_get(body, "event_id"))
    event_type = _text(_get(body, "event_type")) or ""
    title = _text(_get(body, "event_title")) or ""
    account = _text(_get(body, "lacework_account"))
    if event_type.lower() == "testevent" or event_id == "0":
        return Alert(Shape.TEST, event_id or "0", (), title, None, account, (), body)
    if event_id is None:
        raise PayloadError(
            "classic webhook without a usable event_id (1-128 letters, digits, _ . : -)"
        )
    rule = _rule_text(_get(body, "rec_id"))
    if rule is None:
        rule = _rule_from_description(_get(body, "event_description"))
    return Alert(
        shape=Shape.CLASSIC,
        event_id=event_id,
        rule_ids=(rule,) if rule else (),
        title=title,
        severity=_severity(_get(body, "event_severity")),
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
    items = _rows(_get(_get(detail, "EVENT_DETAILS"), "data"))
    event_id = _event_id(_get(detail, "EVENT_ID"))
    if event_id is None:
        # detail.EVENT_ID is the alert's id; the inner one can differ (CR sample), so it
        # is only a fallback when the outer one is missing.
        event_id = next(
            (e for e in (_event_id(_get(item, "EVENT_ID")) for item in items) if e), None
        )
    title = _text(_get(detail, "EVENT_NAME")) or _text(_get(detail, "SUMMARY")) or ""
    account = _text(_get(detail, "ACCOUNT"))
    event_type = _text(_get(detail, "EVENT_TYPE")) or ""
    if event_type.lower() == "testevent" or event_id == "0":
        return Alert(Shape.TEST, event_id or "0", (), title, None, account, (), raw)
    if event_id is None:
        raise PayloadError("EventBridge LaceworkEvents detail without a usable EVENT_ID")

    rule_ids: list[str] = []
    fallback_rule_ids: list[str] = []
    violations: list[Violation] = []
    dropped: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    for item in items:
        entity_map = _get(item, "ENTITY_MAP")
        accounts_by_rule = _rec_id_accounts(_rows(_get(entity_map, "RecId")))
        for row in [*_rows(_get(entity_map, "RecId")), *_rows(_get(entity_map, "ViolationReason"))]:
            _add_unique(fallback_rule_ids, _rule_text(_get(row, "REC_ID")))
        resource_types: dict[str, str] = {}
        for row in _rows(_get(entity_map, "Resource")):
            value, name = _text(_get(row, "VALUE")), _text(_get(row, "NAME"))
            if value and name:
                resource_types.setdefault(value, name)
                arn = _parse_arn(value)
                if arn is not None:
                    resource_types.setdefault(str(arn), name)
        for row in _rows(_get(entity_map, "NewViolation")):
            rule = _rule_text(_get(row, "REC_ID"))
            _add_unique(rule_ids, rule)
            violation = _new_violation(
                row, rule, event_id, accounts_by_rule, resource_types, dropped
            )
            if violation is not None and (violation.key, violation.reason) not in seen:
                seen.add((violation.key, violation.reason))
                violations.append(violation)
    alert = Alert(
        shape=Shape.EVENTBRIDGE,
        event_id=event_id,
        rule_ids=tuple(rule_ids or fallback_rule_ids),
        title=title,
        severity=_severity(_get(detail, "SEVERITY")),
        lacework_account=account,
        violations=tuple(violations),
        raw=raw,
        dropped=tuple(dropped),
    )
    _log_dropped(alert)
    return alert


def _rec_id_accounts(rows: list[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Canonical rule id -> the distinct AWS accounts its ``RecId[]`` rows name, in order."""
    accounts: dict[str, list[str]] = {}
    for row in rows:
        rule = _rule_text(_get(row, "REC_ID"))
        account = _account(_get(row, "ACCOUNT_ID"))
        if rule and account:
            _add_unique(accounts.setdefault(canonical_rule_id(rule), []), account)
    return accounts


def _new_violation(
    row: Mapping[str, Any],
    rule: str | None,
    event_id: str,
    accounts_by_rule: Mapping[str, list[str]],
    resource_types: Mapping[str, str],
    dropped: list[str],
) -> Violation | None:
    """One ``NewViolation`` row as a violation, or None (with a note in ``dropped``).

    The account is the ARN's when it has one. S3 ARNs carry none; then the ``RecId[]``
    rows *for the same rule in the same event* say which account was assessed. When
    exactly one account is listed for that rule it is the bucket's account; when several
    are (one rule evaluated in several accounts in one event) the row cannot be paired
    and is dropped, not guessed: the daemon enriches such alerts from the API instead.
    """
    resource = _text(_get(row, "RESOURCE"))
    if not rule:
        dropped.append(_note(resource, None, "no REC_ID"))
        return None
    arn = _parse_arn(resource)
    if arn is None:
        dropped.append(_note(resource, rule, "RESOURCE is not an ARN"))
        return None
    account = _account(arn.account)
    if account is None and arn.account:
        dropped.append(_note(resource, rule, "ARN account is not a 12-digit AWS account id"))
        return None
    if account is None:
        candidates = accounts_by_rule.get(canonical_rule_id(rule), [])
        if len(candidates) != 1:
            why = (
                "ARN has no account and RecId[] lists no account for this rule"
                if not candidates
                else f"ARN has no account and RecId[] lists {len(candidates)} accounts for this rule"
            )
            dropped.append(_note(resource, rule, why))
            return None
        account = candidates[0]
    assert resource is not None  # _parse_arn(None) is None
    return Violation(
        rule_id=canonical_rule_id(rule),
        resource_arn=str(arn),
        account_id=account,
        region=arn.region or None,
        reason=reason_suffix(_text(_get(row, "REASON")), rule),
        resource_type=resource_types.get(resource) or resource_types.get(str(arn)),
        source_rule_id=rule,
        alert_id=event_id,
    )


# -- Alerts API v2 -------------------------------------------------------------------------


def _parse_alert_v2(raw: Mapping[str, Any], details: Mapping[str, Any]) -> Alert:
    event_id = _event_id(_get(details, "alertId"))
    if event_id is None:
        raise PayloadError("Alerts API v2 object without a usable alertId")
    rule = _rule_text(_get(details, "policyId"))
    violations, dropped = alert_details_violations(details, alert_id=event_id)
    title = (
        _text(_get(details, "alertName"))
        or _text(_get(_get(details, "alertInfo"), "subject"))
        or ""
    )
    alert = Alert(
        shape=Shape.ALERTS_V2,
        event_id=event_id,
        rule_ids=(rule,) if rule else (),
        title=title,
        severity=_severity(_get(details, "severity")),
        lacework_account=None,
        violations=tuple(violations),
        raw=raw,
        dropped=tuple(dropped),
    )
    _log_dropped(alert)
    return alert


def alert_details_violations(
    details: Mapping[str, Any], *, alert_id: str | None = None
) -> tuple[list[Violation], list[str]]:
    """Violations in an Alerts API v2 object (``scope=Details``), and notes on dropped rows.

    ``policyId`` is the rule; each ``entityMap.Resource[].KEY`` gives ``resource`` (ARN),
    ``resource_region`` and ``account_id``. The account is ``account_id``, or the ARN's
    when ``account_id`` is missing; a row where both are set and differ is dropped.
    """
    if alert_id is None:
        alert_id = _event_id(_get(details, "alertId"))
    rule = _rule_text(_get(details, "policyId"))
    rows = _rows(_get(_get(details, "entityMap"), "Resource"))
    violations: list[Violation] = []
    dropped: list[str] = []
    seen: set[str] = set()
    for row in rows:
        key = _get(row, "KEY")
        if not isinstance(key, Mapping):
            key = row
        resource = _text(_get(key, "resource"))
        if not rule:
            dropped.append(_note(resource, None, "alert has no policyId"))
            continue
        arn = _parse_arn(resource)
        if arn is None:
            dropped.append(_note(resource, rule, "resource is not an ARN"))
            continue
        key_account = _account(_get(key, "account_id"))
        arn_account = _account(arn.account)
        if arn.account and arn_account is None:
            dropped.append(_note(resource, rule, "ARN account is not a 12-digit AWS account id"))
            continue
        if key_account and arn_account and key_account != arn_account:
            dropped.append(_note(resource, rule, "account_id disagrees with the ARN's account"))
            continue
        account = arn_account or key_account
        if account is None:
            dropped.append(_note(resource, rule, "no 12-digit account_id and none in the ARN"))
            continue
        violation = Violation(
            rule_id=canonical_rule_id(rule),
            resource_arn=str(arn),
            account_id=account,
            region=_text(_get(key, "resource_region")) or arn.region or None,
            reason=None,
            resource_type=None,
            source_rule_id=rule,
            alert_id=alert_id,
        )
        if violation.key not in seen:
            seen.add(violation.key)
            violations.append(violation)
    return violations, dropped


# -- helpers -------------------------------------------------------------------------------


def _get(obj: Any, *names: str) -> Any:
    """``obj[name]`` for the first name present, matched exactly, then case-insensitively."""
    if not isinstance(obj, Mapping):
        return None
    for name in names:
        if name in obj:
            return obj[name]
    wanted = {name.lower() for name in names}
    for key, value in obj.items():
        if isinstance(key, str) and key.lower() in wanted:
            return value
    return None


def _rows(value: Any) -> list[Mapping[str, Any]]:
    """The objects in a JSON list (a single object counts as a list of one)."""
    if isinstance(value, Mapping):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, Mapping)]
    return []


def _text(value: Any) -> str | None:
    """A scalar as stripped text: strings, integers and integral floats; else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, int):
        return str(value) if -(10**30) < value < 10**30 else None
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return _text(int(value))
    return None


def _event_id(value: Any) -> str | None:
    text = _text(value)
    return text if text is not None and _EVENT_ID_RE.fullmatch(text) else None


def _rule_text(value: Any) -> str | None:
    """A rule id as received: a non-empty single-line string of sane length."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not text or len(text) > 128 or not text.isprintable():
        return None
    return text


def _account(value: Any) -> str | None:
    """A 12-digit AWS account id; a JSON integer gets its leading zeros back."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return f"{value:012d}" if 0 < value < 10**12 else None
    if isinstance(value, str):
        text = value.strip()
        return text if _ACCOUNT_RE.fullmatch(text) else None
    return None


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


def _parse_arn(value: Any) -> Arn | None:
    """The ARN (partition filled in when Lacework dropped it), or None if it is not one."""
    if not isinstance(value, str) or len(value) > 2048 or not value.isprintable():
        return None
    try:
        arn = Arn.parse(value.strip())
    except ValueError:
        return None
    if not arn.service or not arn.resource:
        return None
    return arn


def _add_unique(items: list[str], value: str | None) -> None:
    if value and value not in items:
        items.append(value)


def _note(resource: str | None, rule: str | None, why: str) -> str:
    what = resource if resource is not None else "<no resource>"
    return _one_line(f"{rule or '<no rule>'} {what}: {why}", _NOTE_LIMIT * 2)


def _log_dropped(alert: Alert) -> None:
    if alert.dropped:
        log.warning(
            "alert_violations_dropped",
            shape=str(alert.shape),
            event_id=alert.event_id,
            dropped=len(alert.dropped),
            kept=len(alert.violations),
            reasons=list(alert.dropped[:10]),
        )


def _one_line(text: str, limit: int) -> str:
    flat = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


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
