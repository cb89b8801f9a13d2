"""Small helpers shared by the network remediations: ids, ARNs, error codes, policies."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from lw_remediate import (
    CheckResult,
    IamPolicy,
    RemediationContext,
    RemediationError,
    VerifyResult,
    Violation,
)

#: Resource patterns of the EC2 resources these remediations write (IAM Service
#: Authorization Reference). ``{region}`` and ``{account}`` are filled in when the policy is
#: rendered; ``*`` where not.
SECURITY_GROUP = "arn:{partition}:ec2:{region}:{account}:security-group/*"
SECURITY_GROUP_RULE = "arn:{partition}:ec2:{region}:{account}:security-group-rule/*"
NETWORK_ACL = "arn:{partition}:ec2:{region}:{account}:network-acl/*"
VPC = "arn:{partition}:ec2:{region}:{account}:vpc/*"
VPC_FLOW_LOG = "arn:{partition}:ec2:{region}:{account}:vpc-flow-log/*"
VPC_ENDPOINT = "arn:{partition}:ec2:{region}:{account}:vpc-endpoint/*"

#: Describe* calls of EC2 support no resource-level permission: they are granted on ``*``.
DESCRIBE = ("*",)

WORLD_CIDRS = frozenset({"0.0.0.0/0", "::/0"})

_IDS = {
    "sg": re.compile(r"^sg-[0-9a-f]{8,17}$"),
    "acl": re.compile(r"^acl-[0-9a-f]{8,17}$"),
    "vpc": re.compile(r"^vpc-[0-9a-f]{8,17}$"),
    "vpce": re.compile(r"^vpce-[0-9a-f]{8,17}$"),
    "pl": re.compile(r"^pl-[0-9a-f]{8,17}$"),
}


def describe_policy(*actions: str) -> IamPolicy:
    """EC2 ``Describe*`` actions (no resource-level permissions exist for them)."""
    return IamPolicy.allow(actions, DESCRIBE)


def resource_id(violation: Violation, prefix: str) -> str:
    """The EC2 id the violation names (``sg-…``, ``acl-…``, ``vpc-…``), validated."""
    name = violation.resource_name
    if not _IDS[prefix].match(name):
        raise RemediationError(
            f"{violation.rule_id}: expected a {prefix}-… id in {violation.resource_arn!r}"
        )
    return name


def is_id(value: str, prefix: str) -> bool:
    return bool(_IDS[prefix].match(value))


def validate_cidrs(values: Iterable[str], *, allow_world: bool = False) -> tuple[str, ...]:
    """Normalised CIDRs; the whole internet is refused unless ``allow_world``."""
    cidrs: list[str] = []
    for value in values:
        cidr = str(ipaddress.ip_network(value, strict=False))
        if cidr in WORLD_CIDRS and not allow_world:
            raise ValueError(f"{value!r} is the whole internet, not a trusted network")
        cidrs.append(cidr)
    return tuple(cidrs)


def validate_ids(values: Iterable[str], prefix: str) -> tuple[str, ...]:
    values = tuple(values)
    for value in values:
        if not is_id(value, prefix):
            raise ValueError(f"not a {prefix}-… id: {value!r}")
    return values


async def paginate(client: Any, operation: str, key: str, **params: Any) -> list[Any]:
    """Every item of a paginated EC2/ELB ``Describe*`` answer."""
    items: list[Any] = []
    async for page in client.get_paginator(operation).paginate(**params):
        items += page.get(key, [])
    return items


CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]
VerifyFn = Callable[[RemediationContext[Any], Violation], Awaitable[VerifyResult]]


def verify_by(check: CheckFn) -> VerifyFn:
    """A ``verify`` that re-runs ``check``: still violating -> failed, else verified."""

    async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
        result = await check(ctx, violation)
        if result.present:
            return VerifyResult.failed(result.detail)
        return VerifyResult.verified(result.detail)

    return verify
