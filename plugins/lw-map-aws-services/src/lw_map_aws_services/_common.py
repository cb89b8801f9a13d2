"""Small helpers shared by the services remediations: resource patterns, verify, policies."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import (
    CheckResult,
    IamPolicy,
    Plan,
    RemediationContext,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
    is_gone,
)

#: Resource patterns of what these remediations write (IAM Service Authorization
#: Reference); ``{region}`` and ``{account}`` are filled in when the policy is rendered.
INSTANCE = "arn:{partition}:ec2:{region}:{account}:instance/*"
#: Snapshot ARNs carry no account.
SNAPSHOT = "arn:{partition}:ec2:{region}::snapshot/*"
DB_INSTANCE = "arn:{partition}:rds:{region}:{account}:db:*"
CLUSTER = "arn:{partition}:redshift:{region}:{account}:cluster:*"
FUNCTION = "arn:{partition}:lambda:{region}:{account}:function:*"
DOMAIN = "arn:{partition}:es:{region}:{account}:domain/*"
ROLE = "arn:{partition}:iam::{account}:role/*"
LOAD_BALANCER = "arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/*"
LISTENER = "arn:{partition}:elasticloadbalancing:{region}:{account}:listener/*"

CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]
VerifyFn = Callable[[RemediationContext[Any], Violation], Awaitable[VerifyResult]]


def on_star(*actions: str) -> IamPolicy:
    """Actions AWS authorises on no resource type (``Describe*``, account settings)."""
    return IamPolicy.allow(actions, ["*"])


def verify_by(check: CheckFn) -> VerifyFn:
    """A ``verify`` that re-runs ``check``: still violating -> failed, else verified."""

    async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
        result = await check(ctx, violation)
        if result.present:
            return VerifyResult.failed(result.detail)
        return VerifyResult.verified(result.detail)

    return verify


async def no_plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    """The plan of a manual-only remediation (never reached: it ends ``manual`` first)."""
    return Plan(f"{violation.rule_id} is manual-only: follow the runbook")


async def or_none(call: Awaitable[Any]) -> Any:
    """The answer of ``call``, or None when AWS says the resource it names is gone."""
    try:
        return await call
    except ClientError as exc:
        if is_gone(exc):
            return None
        raise


def unchanged(live: Any, after: Any, what: str) -> None:
    """Raise ``ResourceChanged`` unless ``live`` is still what the action left."""
    if live != after:
        raise ResourceChanged(f"{what} changed since the remediation; not reverting")


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def parse_policy(text: str | None, what: str) -> dict[str, Any]:
    """A resource policy document (``{}`` when there is none); refuses what is not JSON."""
    if not text:
        return {}
    try:
        document = json.loads(text)
    except ValueError:
        document = None
    if not isinstance(document, dict) or not all(
        isinstance(s, dict) for s in as_list(document.get("Statement"))
    ):
        raise RemediationRefused(f"the policy of {what} is not a JSON policy document")
    return document


def condition_values(statement: Mapping[str, Any], key: str) -> list[str] | None:
    """Values of condition ``key`` (case-insensitive, any operator); None when absent."""
    found: list[str] | None = None
    for block in (statement.get("Condition") or {}).values():
        if not isinstance(block, Mapping):
            continue
        for name, value in block.items():
            if name.lower() == key.lower():
                found = (found or []) + [str(v) for v in as_list(value)]
    return found


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Every condition key of a statement, lower case."""
    return {
        name.lower()
        for block in (statement.get("Condition") or {}).values()
        if isinstance(block, Mapping)
        for name in block
    }


def names(items: Iterable[Any]) -> str:
    return ", ".join(str(i) for i in items) or "none"
