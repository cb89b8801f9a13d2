"""Cloud-activity alerts: the CloudTrail facts in an alert's details, as an ActivityEvent.

Public shapes (no verbatim cloud-activity ``entityMap`` with values is public; see
``remediation-catalog-aws.md`` section 5 and the fixtures README):

- Alerts API v2 ``scope=Details``: ``entityMap.<Type>[]`` rows ``{"KEY": {...},
  "PROPS": {...}}`` (go-sdk ``api/alerts_details_test.go``); the entity types of a
  cloud-activity alert are ``API``, ``CT_User``, ``CT_RawTime``, ``Region``,
  ``Resource``, ``RulesTriggered``, ``SourceIpAddress`` (SEKOIA-IO intake-formats). Which
  field sits in ``KEY`` and which in ``PROPS`` is not attested, so both are read.
- v1 ``GetEventDetails`` (and EventBridge ``EVENT_DETAILS.data[]``): ``ENTITY_MAP`` with
  flat rows; field names from go-sdk ``api/events.go`` (``CT_User``: ``username``,
  ``account_id``, ``mfa``, ``api_list``, ``region_list``, ``principal_id``; ``API``:
  ``service``, ``api``; ``Region``: ``region``, ``account_list``; ``SourceIpAddress``:
  ``ip_address``, ``region``, ``country``; ``Resource``: ``name``, ``value``).

Keys are matched case-insensitively (Go decodes that way). An object with neither a
``CT_User`` nor an ``API`` entity is not an activity alert (:func:`activity_event` returns
None) and goes the compliance way.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from ..activity import ActivityEvent, ActivityResource
from .fields import aws_account, event_id_text, lookup, objects, one_line, rule_text, scalar_text
from .targets import region_text

__all__ = ["activity_event"]

#: Longest text kept from one entity field (user names, API names, values).
_FIELD_LIMIT = 512
#: Most values kept per list (APIs, source IPs, resource rows).
_LIST_LIMIT = 50


def activity_event(details: Any, *, alert_id: str | None = None) -> ActivityEvent | None:
    """The :class:`ActivityEvent` of an activity alert's details, or None when the object
    is not an activity alert (no ``CT_User`` and no ``API`` entity).

    Accepts an Alerts API v2 object (bare or ``{"data": {...}}``), a v1
    ``GetEventDetails`` answer (``{"data": [{"ENTITY_MAP": ...}]}``), one of its
    ``data[]`` items, or an EventBridge ``detail`` / envelope.
    """
    if not isinstance(details, Mapping):
        return None
    for item in _items(details):
        event = _event(item, alert_id)
        if event is not None:
            return event
    return None


def _items(details: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The objects that may carry an entity map, outermost first."""
    yield details
    data = lookup(details, "data")
    if isinstance(data, Mapping):
        yield data
    elif isinstance(data, list):
        yield from objects(data)
    detail = lookup(details, "detail")
    for holder in (details, detail):
        yield from objects(lookup(lookup(holder, "EVENT_DETAILS"), "data"))


def _event(item: Mapping[str, Any], alert_id: str | None) -> ActivityEvent | None:
    entity_map = lookup(item, "entityMap", "ENTITY_MAP")
    if not isinstance(entity_map, Mapping):
        return None
    users = _rows(entity_map, "CT_User")
    apis_rows = _rows(entity_map, "API")
    if not users and not apis_rows:
        return None
    alert = alert_id or event_id_text(lookup(item, "alertId", "EVENT_ID")) or "?"
    apis: list[str] = []
    services: list[str] = []
    for row in apis_rows:
        _add(apis, _text(row, "api", "eventName"))
        _add(services, _text(row, "service", "eventSource"))
    regions: list[str] = []
    accounts: list[str] = []
    for row in _rows(entity_map, "Region"):
        _add(regions, region_text(_field(row, "region")))
        for account in _list(_field(row, "account_list")):
            _add(accounts, aws_account(account))
    user = principal = None
    mfa: bool | None = None
    for row in users:
        user = user or _text(row, "username", "user_name", "userName")
        principal = principal or _text(row, "principal_id", "principalId")
        _add(accounts, aws_account(_field(row, "account_id", "accountId", "account")))
        for api in _list(_field(row, "api_list")):
            _add(apis, _clean(api))
        for region in _list(_field(row, "region_list")):
            _add(regions, region_text(region))
        if mfa is None:
            mfa = _flag(_field(row, "mfa"))
    ips: list[str] = []
    for row in _rows(entity_map, "SourceIpAddress"):
        _add(ips, _text(row, "ip_address", "ipAddress", "sourceIpAddress"))
    resources: list[ActivityResource] = []
    for row in _rows(entity_map, "Resource"):
        name, value = _text(row, "name"), _text(row, "value")
        if name and value and len(resources) < _LIST_LIMIT:
            resource = ActivityResource(name, value)
            if resource not in resources:
                resources.append(resource)
    return ActivityEvent(
        alert_id=alert,
        policy_id=rule_text(lookup(item, "policyId")),
        alert_type=_clean(lookup(item, "alertType", "EVENT_TYPE")),
        title=_clean(lookup(item, "alertName", "EVENT_NAME"))
        or _clean(lookup(lookup(item, "alertInfo"), "subject"))
        or "",
        account_id=accounts[0] if len(accounts) == 1 else None,
        region=regions[0] if len(regions) == 1 else None,
        user=user,
        principal_id=principal,
        mfa=mfa,
        apis=tuple(apis[:_LIST_LIMIT]),
        service=services[0] if services else None,
        source_ips=tuple(ips[:_LIST_LIMIT]),
        resources=tuple(resources),
        time=_clean(lookup(item, "startTime", "START_TIME")),
    )


def _rows(entity_map: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    return objects(lookup(entity_map, name))


def _field(row: Mapping[str, Any], *names: str) -> Any:
    """A field of an entity row: the row itself (v1), then ``KEY``, then ``PROPS`` (v2)."""
    for holder in (row, lookup(row, "KEY"), lookup(row, "PROPS")):
        value = lookup(holder, *names)
        if value is not None:
            return value
    return None


def _text(row: Mapping[str, Any], *names: str) -> str | None:
    return _clean(_field(row, *names))


def _clean(value: Any) -> str | None:
    text = scalar_text(value)
    if text is None and isinstance(value, float):
        text = str(value)
    return one_line(text, _FIELD_LIMIT) if text else None


def _list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value[:_LIST_LIMIT]
    if isinstance(value, str):
        return [v for v in (p.strip() for p in value.split(",")) if v][:_LIST_LIMIT]
    return []


def _flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value != 0
    if isinstance(value, str) and value.strip().lower() in {"0", "1", "true", "false"}:
        return value.strip().lower() in {"1", "true"}
    return None


def _add(items: list[str], value: str | None) -> None:
    if value and value not in items:
        items.append(value)
