"""Small helpers shared by the IAM remediations: ARNs, reads, errors, time, thresholds.

Within one action the core hands out one client per service (``ctx.aws.client("iam")``
returns the same client each time), so helpers open a client where they need one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Mapping
from typing import Any, Literal, TypeVar

from botocore.exceptions import ClientError

from lw_remediate import RemediationRefused, Violation

T = TypeVar("T")


# -- ARN patterns of declared policies ----------------------------------------------------

#: Every IAM user of the account (any path).
USER_ARNS = ("arn:{partition}:iam::{account}:user/*",)

#: ``iam:GetAccessKeyLastUsed`` takes only an access key id, so the call names no user and is
#: recorded (and, for least-privilege purposes, declared) against ``*``. In AWS the action's
#: only resource type is ``user``, so ``*`` grants nothing beyond ``user/*``.
KEY_LAST_USED_ARNS = ("*",)


def path_arns(kind: str, path: str, name: str) -> tuple[str, ...]:
    """The pattern for one named IAM entity (``group``, ``role``) on ``path``, as AWS
    authorises it: the ARN includes the path (``group/lw-remediation/require-mfa``)."""
    return (f"arn:{{partition}}:iam::{{account}}:{kind}{normal_path(path)}{name}",)


def normal_path(path: str) -> str:
    """An IAM path with a leading and trailing slash (``lw-remediation`` -> ``/lw-remediation/``)."""
    inner = path.strip("/")
    return f"/{inner}/" if inner else "/"


# -- ARNs of live entities ----------------------------------------------------------------


def iam_arn(violation: Violation, resource: str) -> str:
    """``arn:<partition>:iam::<account>:<resource>`` in the violation's partition and account."""
    return f"arn:{violation.arn.partition}:iam::{violation.account_id}:{resource}"


def user_arn(violation: Violation, user: str) -> str:
    return iam_arn(violation, f"user/{user}")


# -- errors -------------------------------------------------------------------------------


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_no_such_entity(exc: ClientError) -> bool:
    return error_code(exc) in {"NoSuchEntity", "NoSuchEntityException"}


async def unless_missing(call: Awaitable[T]) -> T | None:
    """``await call``, or None when IAM answers that the entity does not exist."""
    try:
        return await call
    except ClientError as exc:
        if is_no_such_entity(exc):
            return None
        raise


# -- reads shared by several remediations ------------------------------------------------


async def login_profile(iam: Any, user: str) -> dict[str, Any] | None:
    """The user's login profile (console password), or None when it has none."""
    response = await unless_missing(iam.get_login_profile(UserName=user))
    return None if response is None else dict(response["LoginProfile"])


async def in_group(iam: Any, user: str, group: str) -> bool:
    """Whether ``user`` is a member of ``group`` (``ListGroupsForUser``)."""
    member = False
    async for page in iam.get_paginator("list_groups_for_user").paginate(UserName=user):
        member = member or any(g["GroupName"] == group for g in page.get("Groups", []))
    return member


async def entity_on_path(
    iam: Any, kind: Literal["group", "role"], name: str, path: str, *, otherwise: str
) -> dict[str, Any] | None:
    """The group or role ``name``, or None when it does not exist.

    A same-named one on another path is not the one the options mean: refused, with
    ``otherwise`` saying what that means (``it is not lw-remediate's; not using it``).
    """
    if kind == "group":
        response = await unless_missing(iam.get_group(GroupName=name, MaxItems=1))
    else:
        response = await unless_missing(iam.get_role(RoleName=name))
    if response is None:
        return None
    entity = dict(response["Group" if kind == "group" else "Role"])
    if entity.get("Path", "/") != path:
        raise RemediationRefused(
            f"{kind} {name} exists on path {entity.get('Path')}, not {path}: {otherwise}"
        )
    return entity


async def policies_of(
    iam: Any, kind: Literal["user", "group", "role"], name: str
) -> tuple[list[str], list[str]]:
    """(attached managed policy ARNs, inline policy names) of a user, group or role."""
    param = {"user": "UserName", "group": "GroupName", "role": "RoleName"}[kind]
    attached: list[str] = []
    async for page in iam.get_paginator(f"list_attached_{kind}_policies").paginate(**{param: name}):
        attached += [p["PolicyArn"] for p in page.get("AttachedPolicies", [])]
    inline: list[str] = []
    async for page in iam.get_paginator(f"list_{kind}_policies").paginate(**{param: name}):
        inline += page.get("PolicyNames", [])
    return attached, inline


# -- time ---------------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime from what botocore returns (None stays None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def day(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else "never"


# -- rule thresholds ----------------------------------------------------------------------


def rule_threshold(
    violation: Violation,
    defaults: Mapping[str, int],
    override: int | None,
    *,
    fallback: int,
) -> int:
    """The threshold in days for the violated rule, unless the operator set one.

    ``defaults`` is keyed by canonical rule id; a ``lacework-global-N`` key is looked up
    first against the id Lacework actually sent (some new policies use other values than
    the legacy rule they alias).
    """
    if override is not None:
        return override
    source = (violation.source_rule_id or "").strip().lower()
    if source and source in defaults:
        return defaults[source]
    return defaults.get(violation.rule_id, fallback)
