"""Which IAM action, on which resource, each recorded AWS API call needs.

The answers come from ``calls.json``, generated at build time from botocore's service
models and the IAM Service Authorization Reference (``core/scripts/generate_aws_calls.py``;
a test fails when it is stale). At run time this is a lookup: the operation's IAM
action (``GetBucketEncryption`` needs ``s3:GetEncryptionConfiguration``), its access
level, and the ARN AWS authorises it on, filled from the request's parameters
(``RevokeSecurityGroupIngress(GroupId="sg-1")`` on
``arn:aws:ec2:<region>:<account>:security-group/sg-1``).

A call the request does not pin to one resource is recorded on the narrowest ARN the
reference allows, with ``*`` for what the request does not say
(``arn:aws:ec2:<region>:<account>:instance/*``), or on ``*`` when the action is not
resource-scoped at all (``ec2:DescribeSecurityGroups``). An operation the reference
does not know is recorded as ``<prefix>:<Operation>`` on ``*``. A map adds what the
data lacks with :class:`~lw_remediate.AwsCall` declarations.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from ..calls import AwsCall

#: The access levels of the reference, by the letter calls.json stores.
ACCESS_LEVELS: Mapping[str, str] = {
    "R": "Read",
    "L": "List",
    "W": "Write",
    "P": "Permissions management",
    "T": "Tagging",
}
#: Access levels that change something in the account.
WRITE_LEVELS = frozenset({"Write", "Permissions management", "Tagging"})
_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup", "Search", "Select")


@functools.cache
def _table() -> Mapping[str, Any]:
    text = resources.files(__package__).joinpath("calls.json").read_text(encoding="utf-8")
    services: Mapping[str, Any] = json.loads(text)["services"]
    return services


def _entry(service: str, operation: str) -> tuple[Mapping[str, Any] | None, Any]:
    entry = _table().get(service)
    return entry, (entry["ops"].get(operation) if entry else None)


def service_prefix(service: str) -> str:
    """The IAM prefix of a boto3 service (``elbv2`` -> ``elasticloadbalancing``)."""
    entry = _table().get(service)
    return str(entry["prefix"]) if entry else service


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``("s3", "GetBucketEncryption")``."""
    entry, op = _entry(service, operation)
    prefix = str(entry["prefix"]) if entry else service
    name = op[1] if isinstance(op, list) and op[1] else operation
    return f"{prefix}:{name}"


def access_level(service: str, operation: str) -> str | None:
    """``Read``, ``List``, ``Write``, ``Permissions management`` or ``Tagging`` (None if unknown)."""
    _, op = _entry(service, operation)
    if op is None:
        return None
    return ACCESS_LEVELS[op if isinstance(op, str) else op[0]]


def is_write(service: str, operation: str) -> bool:
    """True when the call changes something (by its access level; by its name if unknown)."""
    level = access_level(service, operation)
    if level is None:
        return not operation.startswith(_READ_PREFIXES)
    return level in WRITE_LEVELS


def call_resource(
    service: str,
    params: Mapping[str, Any],
    *,
    account: str,
    partition: str = "aws",
    region: str = "*",
    operation: str | None = None,
) -> str:
    """The resource ARN an API call is authorised against, from its parameters (``*`` if none).

    Follows the service authorisation reference: attaching or detaching a policy is
    authorised on the user/group/role, not on the policy; ``Create*`` calls with a
    ``Path`` create the path-qualified ARN; a name given as an ARN is that ARN.
    """
    entry, op = _entry(service, operation or "")
    if entry is None or not isinstance(op, list):
        return "*"
    where = {"partition": partition, "region": region, "account": account}
    for candidate in op[2:]:
        template = entry["arns"][candidate[0]]
        resolved = _fill(template, candidate[1:], params, where)
        if resolved is not None:
            return resolved
    return "*"


def resolve(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    account: str,
    region: str,
    partition: str = "aws",
    declared: Iterable[AwsCall] = (),
) -> tuple[str, str]:
    """``(IAM action, resource ARN)`` of one call: a map's declaration first, then the table."""
    action: str | None = None
    resource: str | None = None
    where = {"partition": partition, "region": region, "account": account}
    for call in declared:
        if call.service == service and call.operation == operation:
            action = action or call.action
            resource = resource or call.resource_for(params, where)
    return (
        action or iam_action(service, operation),
        resource
        or call_resource(
            service,
            params,
            account=account,
            partition=partition,
            region=region,
            operation=operation,
        ),
    )


def dependent_actions(
    service: str,
    operation: str,
    params: Mapping[str, Any],
    *,
    account: str,
    region: str,
    partition: str = "aws",
    declared: Iterable[AwsCall] = (),
) -> list[tuple[str, str]]:
    """``(IAM action, resource ARN)`` of each dependent action the map declares AWS checks
    inside this call (``kms:CreateGrant`` on the key a ``ModifyCluster`` names)."""
    where = {"partition": partition, "region": region, "account": account}
    found: list[tuple[str, str]] = []
    for call in declared:
        if call.service == service and call.operation == operation:
            found.extend(call.dependent_for(params, where))
    return found


def _fill(
    template: str, members: list[str], params: Mapping[str, Any], where: Mapping[str, str]
) -> str | None:
    """The template with the request's values, or None when the request lacks the first."""
    values: list[str] = []
    for spec in members:
        member, _, transform = spec.partition("|")
        value = _value(params.get(member))
        if value is None:
            if not values:
                return None
            value = "*"
        elif len(members) == 1 and value.startswith("arn:"):
            return value  # a name parameter that also takes the ARN
        elif transform:
            value = _TRANSFORMS[transform](value, params, where)
            if value.startswith("arn:"):
                return value
        values.append(value)
    return template.format(*values, **where)


def _value(raw: Any) -> str | None:
    """A parameter's value as one resource id: a string, or a list holding one; ``*`` for a
    list of several (the call touches more than one resource)."""
    if isinstance(raw, str) and raw:
        return raw
    if isinstance(raw, list | tuple) and raw and all(isinstance(v, str) for v in raw):
        return raw[0] if len(raw) == 1 else "*"
    return None


def _lambda_function(value: str, params: Mapping[str, Any], where: Mapping[str, str]) -> str:
    # "my-function", "123456789012:function:my-function" or the full ARN (handled before)
    if ":function:" in value:
        return f"arn:{where['partition']}:lambda:{where['region']}:{value}"
    return value


def _kms_key(value: str, params: Mapping[str, Any], where: Mapping[str, str]) -> str:
    # a key id, "alias/name", or an ARN (handled before)
    if value.startswith("alias/"):
        return f"arn:{where['partition']}:kms:{where['region']}:{where['account']}:{value}"
    return value


def _kms_alias(value: str, params: Mapping[str, Any], where: Mapping[str, str]) -> str:
    return value.removeprefix("alias/")


def _path(value: str, params: Mapping[str, Any], where: Mapping[str, str]) -> str:
    # IAM names a created user/group/role/policy with its path: role/lw-remediation/name
    path = params.get("Path")
    path = path if isinstance(path, str) and path else "/"
    return f"{path}{value}".lstrip("/")


_TRANSFORMS = {
    "lambda_function": _lambda_function,
    "kms_key": _kms_key,
    "kms_alias": _kms_alias,
    "path": _path,
}
