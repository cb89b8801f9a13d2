"""Value types shared by the core and the maps: violations, results, plans, statuses."""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .activity import ActivityEvent


class Status(enum.StrEnum):
    """Final (or waiting) status of one action: one violation x one remediation."""

    #: No installed remediation handles the rule.
    NO_REMEDIATION = "no_remediation"
    #: ``check`` found nothing to fix (already compliant, or the resource is gone).
    RESOLVED = "resolved"
    #: Dry-run: ``check`` and ``plan`` ran, nothing changed.
    PLANNED = "planned"
    #: Not auto-remediable (or manual by its options): the runbook was sent.
    MANUAL = "manual"
    #: The gate or the remediation declined to act; the detail says why.
    REFUSED = "refused"
    #: Applied and verified.
    REMEDIATED = "remediated"
    #: Applied, but ``verify`` could not confirm the fix (e.g. eventual consistency).
    UNVERIFIED = "unverified"
    #: An error, or ``verify`` found the violation still there.
    FAILED = "failed"
    #: Planned and waiting for an operator's approval (approve mode).
    AWAITING_APPROVAL = "awaiting_approval"
    #: An exemption matched; the detail names it.
    EXEMPTED = "exempted"
    #: Reverted by an operator (undo).
    REVERTED = "reverted"


class Mode(enum.StrEnum):
    """How far a remediation may go."""

    OFF = "off"
    DRY_RUN = "dry-run"
    APPROVE = "approve"
    AUTO = "auto"


class Verification(enum.StrEnum):
    """What ``verify`` found after ``apply``."""

    VERIFIED = "verified"
    UNVERIFIED = "unverified"
    FAILED = "failed"


class Arn(NamedTuple):
    """The parts of an ARN. Tolerates the partition-less ``arn:iam::…`` seen in Lacework events."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @classmethod
    def parse(cls, arn: str) -> Arn:
        parts = arn.split(":", 5)
        if len(parts) == 5 and parts[0] == "arn":
            # arn:iam::123456789012:user/x -- Lacework sometimes drops the partition.
            return cls("aws", parts[1], parts[2], parts[3], parts[4])
        if len(parts) != 6 or parts[0] != "arn":
            raise ValueError(f"not an ARN: {arn!r}")
        return cls(parts[1] or "aws", parts[2], parts[3], parts[4], parts[5])

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"

    @property
    def resource_name(self) -> str:
        """The resource's own name.

        * ``<type>:<name>`` resources (RDS ``db:orders``, ``cluster:…``, ``snapshot:…``;
          Redshift ``cluster:warehouse``; ElastiCache, CloudWatch ``alarm:…``, Secrets
          Manager ``secret:…``, Step Functions ``stateMachine:…``): the part after the type
          (``orders``; an automated RDS snapshot keeps its ``rds:`` prefix, part of its name).
        * Lambda ``function:<name>[:<qualifier>]``: the function name, without the version
          or alias.
        * CloudWatch Logs ``log-group:<name>[:*]``: the group name, slashes included.
        * anything else: the last path element (bucket, user or role name, ``sg-…``); a
          ``<type>:<path>`` resource (Redshift ``snapshot:<cluster>/<name>``) its last one.
        """
        resource = self.resource
        if self.service == "logs" and resource.startswith("log-group:"):
            return resource.removeprefix("log-group:").removesuffix(":*")
        kind, colon, rest = resource.partition(":")
        if colon and "/" not in kind:
            resource = rest.partition(":")[0] if self.service == "lambda" else rest
        return resource.rsplit("/", 1)[-1]


class Scope(enum.StrEnum):
    """What a violation is about: one resource, one region of an account, or an account."""

    #: ``resource_arn`` names the resource (a bucket, a user, a security group, ...).
    RESOURCE = "resource"
    #: A region of the account (AWS Config recorder, EBS default encryption, ...):
    #: ``resource_arn`` is ``arn:<partition>:iam:<region>:<account>:root``.
    REGION = "region"
    #: The account itself (password policy, CloudTrail, support role, ...):
    #: ``resource_arn`` is ``arn:<partition>:iam::<account>:root``.
    ACCOUNT = "account"


def target_arn(account_id: str, region: str | None = None, *, partition: str = "aws") -> str:
    """The ``resource_arn`` of an account-level target (no ``region``) or a region-level one.

    ``arn:aws:iam::123456789012:root`` is the account; ``arn:aws:iam:eu-north-1:
    123456789012:root`` is that account in eu-north-1, so two regions of one account are
    two violations (identity, dedupe, the per-resource lock and ARN exemptions).
    """
    return f"arn:{partition}:iam:{region or ''}:{account_id}:root"


@dataclass(frozen=True)
class Violation:
    """One violated rule on one target, as the core hands it to a remediation.

    ``rule_id`` is canonical (the legacy id where one exists, e.g. ``LW_S3_16``);
    ``source_rule_id`` is what Lacework sent (``lacework-global-97`` or ``LW_S3_16``).
    ``reason`` is the bare reason suffix (``VersioningNotEnabled``), when known.
    ``account_id`` is always the account to act in and ``region`` the region (None for
    account-level targets): read them, never parse them out of ``resource_arn``, which
    for an AWS-owned resource (``arn:aws:iam::aws:policy/…``) or an S3 bucket names no
    account. :attr:`scope` says what the target is. ``activity`` is the cloud-activity
    event that caused this violation (re-evaluation, a direct revert, a watch-only
    runbook; see :mod:`lw_remediate.activity`), None for compliance findings.
    """

    rule_id: str
    resource_arn: str
    account_id: str
    region: str | None = None
    reason: str | None = None
    resource_type: str | None = None
    source_rule_id: str | None = None
    alert_id: str | None = None
    activity: ActivityEvent | None = None

    @property
    def arn(self) -> Arn:
        return Arn.parse(self.resource_arn)

    @property
    def resource_name(self) -> str:
        """The resource's own name (:attr:`Arn.resource_name`): bucket, user or role name,
        ``orders`` for ``…:db:orders``, ``fn`` for ``…:function:fn``, ``sg-…``."""
        return self.arn.resource_name

    @property
    def scope(self) -> Scope:
        """:attr:`Scope.ACCOUNT` or :attr:`Scope.REGION` when ``resource_arn`` is the
        :func:`target_arn` of an account or a region; :attr:`Scope.RESOURCE` otherwise."""
        try:
            arn = self.arn
        except ValueError:
            return Scope.RESOURCE
        if arn.service == "iam" and arn.resource == "root":
            return Scope.REGION if arn.region else Scope.ACCOUNT
        return Scope.RESOURCE

    @classmethod
    def for_account(
        cls, rule_id: str, account_id: str, *, partition: str = "aws", **fields: Any
    ) -> Violation:
        """An account-level violation (``resource_arn`` ``arn:<partition>:iam::<account>:root``)."""
        return cls(
            rule_id=rule_id,
            resource_arn=target_arn(account_id, partition=partition),
            account_id=account_id,
            **fields,
        )

    @classmethod
    def for_region(
        cls,
        rule_id: str,
        account_id: str,
        region: str,
        *,
        partition: str = "aws",
        **fields: Any,
    ) -> Violation:
        """A region-level violation (``arn:<partition>:iam:<region>:<account>:root``)."""
        return cls(
            rule_id=rule_id,
            resource_arn=target_arn(account_id, region, partition=partition),
            account_id=account_id,
            region=region,
            **fields,
        )

    @property
    def key(self) -> str:
        """Identity of the violation: rule, account and resource (region-level targets
        carry their region in ``resource_arn``)."""
        return f"{self.rule_id}|{self.account_id}|{self.resource_arn}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "resource_arn": self.resource_arn,
            "account_id": self.account_id,
            "region": self.region,
            "reason": self.reason,
            "resource_type": self.resource_type,
            "source_rule_id": self.source_rule_id,
            "alert_id": self.alert_id,
            "scope": str(self.scope),
            "activity": self.activity.to_dict() if self.activity else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Violation:
        """The inverse of :meth:`to_dict`; ``scope`` is derived, so rows without it load."""
        return cls(
            rule_id=str(data["rule_id"]),
            resource_arn=str(data["resource_arn"]),
            account_id=str(data["account_id"]),
            region=data.get("region"),
            reason=data.get("reason"),
            resource_type=data.get("resource_type"),
            source_rule_id=data.get("source_rule_id"),
            alert_id=data.get("alert_id"),
            activity=ActivityEvent.from_dict(data["activity"]) if data.get("activity") else None,
        )


@dataclass(frozen=True)
class CheckResult:
    """What ``check`` found on the live resource.

    ``present`` is False when there is nothing to fix (already compliant, or the
    resource no longer exists); ``detail`` says which, for the audit trail.
    ``observed`` is the live state that was read (JSON-serialisable).
    """

    present: bool
    detail: str = ""
    observed: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def violating(cls, detail: str, **observed: Any) -> CheckResult:
        return cls(True, detail, observed)

    @classmethod
    def compliant(cls, detail: str, **observed: Any) -> CheckResult:
        return cls(False, detail, observed)


@dataclass(frozen=True)
class Change:
    """One machine-readable change of a plan, e.g. ``Change("put_bucket_versioning", …)``."""

    operation: str
    target: str
    before: Any = None
    after: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "target": self.target,
            "before": self.before,
            "after": self.after,
        }


@dataclass(frozen=True)
class Plan:
    """The exact change a remediation would make: human text plus machine-readable changes.

    A plan with no changes means there is nothing to do (the action ends ``resolved``).
    ``data`` carries whatever ``apply`` needs beyond the changes (JSON-serialisable).
    ``irreversible`` marks a change ``revert`` cannot fully undo; ``notes`` say why.
    ``requires_approval`` makes an operator confirm this change even in ``auto`` mode (the
    action waits in ``awaiting_approval``, as in ``approve`` mode).
    """

    summary: str
    changes: Sequence[Change] = ()
    data: Mapping[str, Any] = field(default_factory=dict)
    irreversible: bool = False
    notes: Sequence[str] = ()
    requires_approval: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
            "data": dict(self.data),
            "irreversible": self.irreversible,
            "notes": list(self.notes),
            "requires_approval": self.requires_approval,
        }

    def binding(self) -> dict[str, Any]:
        """What an approval of this plan approves: the changes, what ``apply`` is given
        (``data``) and reversibility, as plain JSON (the wording may differ)."""
        bound = {"changes": self.to_dict()["changes"], "data": dict(self.data)}
        bound["irreversible"] = self.irreversible
        normalised: dict[str, Any] = json.loads(json.dumps(bound, sort_keys=True, default=str))
        return normalised

    def same_change(self, other: Plan) -> bool:
        """True when ``other`` makes exactly the same change (see :meth:`binding`)."""
        return self.binding() == other.binding()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls(
            summary=data["summary"],
            changes=tuple(Change(**c) for c in data.get("changes", ())),
            data=data.get("data", {}),
            irreversible=bool(data.get("irreversible", False)),
            notes=tuple(data.get("notes", ())),
            requires_approval=bool(data.get("requires_approval", False)),
        )


@dataclass(frozen=True)
class VerifyResult:
    """What ``verify`` found after ``apply``."""

    status: Verification
    detail: str = ""

    @classmethod
    def verified(cls, detail: str = "") -> VerifyResult:
        return cls(Verification.VERIFIED, detail)

    @classmethod
    def unverified(cls, detail: str) -> VerifyResult:
        return cls(Verification.UNVERIFIED, detail)

    @classmethod
    def failed(cls, detail: str) -> VerifyResult:
        return cls(Verification.FAILED, detail)


@dataclass(frozen=True)
class RecordedCall:
    """One AWS API call a remediation made, with the IAM action and resource it needs.

    ``dependent``: not a request of its own but an action AWS authorises inside the call
    named by ``service``/``operation`` (declared with ``AwsCall(dependent=...)``, e.g.
    ``iam:PassRole`` on the role an ``UpdateTrail`` passes).
    """

    service: str
    operation: str
    action: str
    resource: str
    error: str | None = None
    dependent: bool = False

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "service": self.service,
            "operation": self.operation,
            "action": self.action,
            "resource": self.resource,
            "error": self.error,
        }
        if self.dependent:
            data["dependent"] = True
        return data


@dataclass
class ActionRecord:
    """The audit record of one action: what was decided, changed and found.

    ``revert`` receives this record; ``before_image`` and ``after_image`` are what
    ``apply`` stored (``after_image`` is how ``revert`` tells whether somebody changed
    the resource since).
    """

    remediation_id: str
    violation: Violation
    mode: Mode
    status: Status | None = None
    detail: str = ""
    plan: Plan | None = None
    before_image: Mapping[str, Any] | None = None
    after_image: Mapping[str, Any] | None = None
    verification: Verification | None = None
    calls: list[RecordedCall] = field(default_factory=list)
    error: str | None = None
    id: str | None = None
    state: str = "new"

    def summary(self) -> dict[str, Any]:
        """One line of output per action (replay, sweep, history): who, what, outcome."""
        v = self.violation
        return {
            "action_id": self.id,
            "rule_id": v.rule_id,
            "resource_arn": v.resource_arn,
            "account_id": v.account_id,
            "region": v.region,
            "reason": v.reason,
            "remediation_id": self.remediation_id or None,
            "mode": str(self.mode),
            "status": str(self.status) if self.status else None,
            "detail": self.detail,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "remediation_id": self.remediation_id,
            "violation": self.violation.to_dict(),
            "mode": str(self.mode),
            "status": str(self.status) if self.status else None,
            "state": self.state,
            "detail": self.detail,
            "plan": self.plan.to_dict() if self.plan else None,
            "before_image": self.before_image,
            "after_image": self.after_image,
            "verification": str(self.verification) if self.verification else None,
            "calls": [c.to_dict() for c in self.calls],
            "error": self.error,
        }
