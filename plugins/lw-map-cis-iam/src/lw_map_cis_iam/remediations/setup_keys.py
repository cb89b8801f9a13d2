"""AWS_CIS_1_23: no access keys created at initial setup for users with a console password.

A key created together with a console user and never used is the pattern CIS warns
about. Such a key (``Active``, no last-used date, older than the grace period) is
deactivated -- reversible, and nobody depends on a key that was never used.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    VerifyResult,
    Violation,
)

from .._iam import KEY_LAST_USED_ARNS, USER_ARNS, day, iam_client, is_no_such_entity, utcnow
from .._keys import (
    AccessKey,
    deactivate_keys,
    deactivation_changes,
    reactivate_keys,
    read_access_keys,
    still_planned,
)


class Options(RemediationOptions):
    """Grace period for a freshly created key to be put to use."""

    #: Days a never-used key may exist before it is deactivated.
    grace_days: int = pydantic.Field(7, ge=0, le=365)


async def read_state(
    ctx: RemediationContext[Any], user: str, iam: Any = None
) -> tuple[bool, list[AccessKey]] | None:
    """(has a console password, keys); None when the user no longer exists."""
    async with iam_client(ctx, iam) as iam:
        try:
            await iam.get_login_profile(UserName=user)
            console = True
        except ClientError as exc:
            if not is_no_such_entity(exc):
                raise
            console = False
        keys = await read_access_keys(iam, user)
    return None if keys is None else (console, keys)


def unused_keys(keys: list[AccessKey]) -> list[AccessKey]:
    return [k for k in keys if k.active and k.last_used is None]


def split_by_grace(
    keys: list[AccessKey], now: dt.datetime, grace_days: int
) -> tuple[list[AccessKey], list[AccessKey]]:
    """(past the grace period, still within it)."""
    cutoff = now - dt.timedelta(days=grace_days)
    return [k for k in keys if k.created <= cutoff], [k for k in keys if k.created > cutoff]


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    console, keys = state
    observed = {"console_password": console, "keys": [k.to_dict() for k in keys]}
    if not console:
        return CheckResult.compliant(f"{user} has no console password", **observed)
    unused = unused_keys(keys)
    if not unused:
        return CheckResult.compliant(f"{user} has no active, never-used access key", **observed)
    return CheckResult.violating(
        f"console user {user} has never-used active access key(s): "
        + "; ".join(k.describe() for k in unused),
        **observed,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None:
        return Plan(f"user {user} no longer exists")
    console, keys = state
    if not console:
        return Plan(f"{user} has no console password")
    grace = ctx.options.grace_days
    due, waiting = split_by_grace(unused_keys(keys), utcnow(), grace)
    later = [
        f"access key {k.describe()} is within the {grace}-day grace period until "
        f"{day(k.created + dt.timedelta(days=grace))}"
        for k in waiting
    ]
    if not due:
        if waiting:
            raise RemediationRefused("; ".join(later))
        return Plan(f"{user} has no active, never-used access key")
    return Plan(
        summary=f"console user {user}: deactivate never-used access key(s) "
        + "; ".join(k.describe() for k in due),
        changes=deactivation_changes(violation, user, due),
        data={"user": user, "keys": [k.key_id for k in due]},
        notes=["reversible: undo reactivates the keys", *later],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    async with ctx.aws.client("iam") as iam:
        state = await read_state(ctx, user, iam)  # re-read right before writing
        if state is None:
            raise RemediationRefused(f"user {user} disappeared before the change")
        console, keys = state
        if not console:  # the console password went away meanwhile: no violation left
            return {"user": user, "keys": {}}
        targets = still_planned(plan.data["keys"], unused_keys(keys))  # used since: left alone
        if not targets:
            return {"user": user, "keys": {}}
        return await deactivate_keys(ctx, user, targets, iam=iam)


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    console, keys = state
    due, waiting = split_by_grace(unused_keys(keys), utcnow(), ctx.options.grace_days)
    if console and due:
        return VerifyResult.failed(
            "still active after the change: " + ", ".join(k.describe() for k in due)
        )
    detail = f"{user}: no never-used access key past the grace period is active"
    if console and waiting:
        detail += "; within the grace period: " + ", ".join(k.key_id for k in waiting)
    return VerifyResult.verified(detail)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    restored = await reactivate_keys(ctx, record)
    user = (record.before_image or {}).get("user", record.violation.resource_name)
    if not restored:
        return f"nothing to restore for {user}"
    return f"reactivated access key(s) {', '.join(restored)} of {user}"


REMEDIATION = Remediation(
    id="cis_iam.deactivate_setup_access_keys",
    rules=("AWS_CIS_1_23",),
    title="Deactivate never-used access keys of console users (after a grace period)",
    description=(
        "For a user with a console password, deactivates Active access keys that were "
        "never used and are older than grace_days (7). Undo reactivates them."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(
        ["iam:GetLoginProfile", "iam:ListAccessKeys", "iam:UpdateAccessKey"], USER_ARNS
    )
    + IamPolicy.allow(["iam:GetAccessKeyLastUsed"], KEY_LAST_USED_ARNS),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
