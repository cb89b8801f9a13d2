"""Cloud-activity alerts: what a CloudTrail-based Lacework alert says, and what it touched.

A compliance alert names violations; an activity alert (``lacework-global-2`` "Security
Group Change", root account usage, ``StopLogging``, ...) names an actor, an API call and
the resources it was made on. The core parses the alert's details into an
:class:`ActivityEvent`; maps implementing ``lw_remediate_touched_resources`` turn it into
:class:`TouchedResource` objects, and the core runs each through the one pipeline:

- ``remediation_ids`` empty: every installed remediation whose ``resource_type`` is the
  touched resource's type, with each rule it answers (re-evaluation);
- ``remediation_ids`` set: exactly those remediations (a direct revert, or a watch-only
  runbook), with the activity policy id as the rule.

Every violation built this way carries the event (:attr:`Violation.activity`), so the
audit trail names the activity alert as the cause and a runbook can name the actor.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ActivityResource:
    """One ``Resource`` entity row of an activity alert: a name and its value as sent
    (``{"name": "groupId", "value": "sg-0abc"}``; values are not always strings)."""

    name: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True)
class ActivityEvent:
    """The CloudTrail facts of one Lacework activity alert (empty fields: not in the alert).

    ``apis`` are the CloudTrail ``eventName`` values (``AuthorizeSecurityGroupIngress``),
    ``service`` the event source or service (``ec2.amazonaws.com``), ``user`` the
    CloudTrail user as Lacework names it (an IAM user name, ``root``, or an assumed-role
    ``role/session``), ``time`` the event (or alert start) time as sent.
    """

    alert_id: str
    policy_id: str | None = None
    alert_type: str | None = None
    title: str = ""
    account_id: str | None = None
    region: str | None = None
    user: str | None = None
    principal_id: str | None = None
    mfa: bool | None = None
    apis: tuple[str, ...] = ()
    service: str | None = None
    source_ips: tuple[str, ...] = ()
    resources: tuple[ActivityResource, ...] = ()
    time: str | None = None

    @property
    def api(self) -> str | None:
        """The first API call named (most activity alerts name one)."""
        return self.apis[0] if self.apis else None

    @property
    def source_ip(self) -> str | None:
        return self.source_ips[0] if self.source_ips else None

    def resource_values(self, *names: str) -> list[str]:
        """Values of the ``Resource`` rows with one of these names (case-insensitive), or
        of every row when no name is given."""
        wanted = {n.lower() for n in names}
        return [r.value for r in self.resources if not wanted or r.name.lower() in wanted]

    def describe(self) -> str:
        """One line for the audit trail: alert, policy, API, actor, source and time."""
        what = ", ".join(self.apis) or self.alert_type or "activity"
        parts = [f"activity alert {self.alert_id}"]
        if self.policy_id:
            parts[0] += f" ({self.policy_id})"
        parts.append(what)
        if self.user:
            parts.append(f"by {self.user}")
        if self.source_ips:
            parts.append(f"from {', '.join(self.source_ips)}")
        if self.time:
            parts.append(f"at {self.time}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "alert_id": self.alert_id,
            "policy_id": self.policy_id,
            "alert_type": self.alert_type,
            "title": self.title,
            "account_id": self.account_id,
            "region": self.region,
            "user": self.user,
            "principal_id": self.principal_id,
            "mfa": self.mfa,
            "apis": list(self.apis),
            "service": self.service,
            "source_ips": list(self.source_ips),
            "resources": [r.to_dict() for r in self.resources],
            "time": self.time,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ActivityEvent:
        """The inverse of :meth:`to_dict`."""
        mfa = data.get("mfa")
        return cls(
            alert_id=str(data["alert_id"]),
            policy_id=data.get("policy_id"),
            alert_type=data.get("alert_type"),
            title=str(data.get("title") or ""),
            account_id=data.get("account_id"),
            region=data.get("region"),
            user=data.get("user"),
            principal_id=data.get("principal_id"),
            mfa=None if mfa is None else bool(mfa),
            apis=tuple(str(a) for a in data.get("apis") or ()),
            service=data.get("service"),
            source_ips=tuple(str(a) for a in data.get("source_ips") or ()),
            resources=tuple(
                ActivityResource(str(r["name"]), str(r["value"]))
                for r in data.get("resources") or ()
            ),
            time=data.get("time"),
        )


@dataclass(frozen=True)
class TouchedResource:
    """A resource an activity alert touched, and how to answer it.

    :param resource_arn: the resource's ARN; for an account- or region-level target the
        :func:`~lw_remediate.model.target_arn` form (``arn:aws:iam:<region>:<account>:root``).
    :param resource_type: as remediations declare it (``ec2:security-group``,
        ``cloudtrail:trail``, ``kms:key``, ``s3:bucket``, ``config:region``, ...).
    :param account_id: the account to act in; ``region`` the region (None: account-level).
    :param cause: one line saying why (``StopLogging on trail main``); the audit trail
        records it next to the activity alert.
    :param remediation_ids: empty: re-evaluate the resource with every installed
        remediation of ``resource_type``; else run exactly these remediations (those not
        installed are skipped and logged).
    """

    resource_arn: str
    resource_type: str
    account_id: str
    region: str | None
    cause: str
    remediation_ids: tuple[str, ...] = ()


#: The response kinds an :class:`ActivityPolicy` may declare.
RESPONSES = ("re-evaluate", "revert", "watch")


@dataclass(frozen=True)
class ActivityPolicy:
    """One class of activity alert a map answers, for listings (``lw-remediate maps``).

    :param event_class: what happened (``Security group change``, ``StopLogging``).
    :param response: ``re-evaluate`` (the touched resource goes through every installed
        remediation of its type), ``revert`` (a remediation of this map undoes the
        change) or ``watch`` (manual: a runbook naming the actor, no AWS write).
    :param policy_ids: the Lacework policy ids of this class, when public (may be empty:
        the map then recognises the class by its CloudTrail API names).
    :param apis: the CloudTrail ``eventName`` values that identify the class.
    :param remediation_ids: the remediations a ``revert`` or ``watch`` class runs.
    """

    event_class: str
    response: str
    policy_ids: tuple[str, ...] = ()
    apis: tuple[str, ...] = ()
    remediation_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.response not in RESPONSES:
            raise ValueError(
                f"ActivityPolicy({self.event_class!r}): response must be one of "
                f"{', '.join(RESPONSES)}, got {self.response!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_class": self.event_class,
            "response": self.response,
            "policy_ids": list(self.policy_ids),
            "apis": list(self.apis),
            "remediation_ids": list(self.remediation_ids),
        }
