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

from lw_remediate import (
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

from .._iam import KEY_LAST_USED_ARNS, USER_ARNS, login_profile, utcnow
from .._keys import (
    ACCESS_KEY,
    AccessKey,
    checked_keys,
    deactivate_keys,
    deactivation_changes,
    grace_note,
    nothing_due,
    read_access_keys,
    revert_deactivation,
    still_active,
    still_planned,
)


class Options(RemediationOptions):
    """Grace period for a freshly created key to be put to use."""

    #: Days a never-used key may exist before it is deactivated.
    grace_days: int = pydantic.Field(7, ge=0, le=365)


async def has_console(ctx: RemediationContext[Any], user: str) -> bool:
    """The user has a console password (a login profile)."""
    async with ctx.aws.client("iam") as iam:
        return await login_profile(iam, user) is not None


async def read_state(
    ctx: RemediationContext[Any], user: str
) -> tuple[bool, list[AccessKey]] | None:
    """(has a console password, keys); None when the user no longer exists."""
    console = await has_console(ctx, user)
    keys = await read_access_keys(ctx, user)
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
    # check read the password state and the keys in this run: not again (apply re-reads)
    console = await ctx.checked_or_read("console_password", lambda: has_console(ctx, user))
    keys = await checked_keys(ctx, "keys", AccessKey.from_dict, lambda: read_access_keys(ctx, user))
    if keys is None:
        return Plan(f"user {user} no longer exists")
    if not console:
        return Plan(f"{user} has no console password")
    grace = ctx.options.grace_days
    due, waiting = split_by_grace(unused_keys(keys), utcnow(), grace)
    later = [
        grace_note(ACCESS_KEY, k, grace, k.created + dt.timedelta(days=grace)) for k in waiting
    ]
    if not due:
        return nothing_due(later, f"{user} has no active, never-used access key")
    return Plan(
        summary=f"console user {user}: deactivate never-used access key(s) "
        + "; ".join(k.describe() for k in due),
        changes=deactivation_changes(violation, user, due),
        data={"user": user, "keys": [k.key_id for k in due]},
        notes=["reversible: undo reactivates the keys", *later],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    state = await read_state(ctx, user)  # re-read right before writing
    if state is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    console, keys = state
    if not console:  # the console password went away meanwhile: no violation left
        return {"user": user, "keys": {}}
    targets = still_planned(plan.data["keys"], unused_keys(keys))  # used since: left alone
    if not targets:
        return {"user": user, "keys": {}}
    return await deactivate_keys(ctx, user, targets)


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    console, keys = state
    due, waiting = split_by_grace(unused_keys(keys), utcnow(), ctx.options.grace_days)
    if console and due:
        return still_active(due)
    detail = f"{user}: no never-used access key past the grace period is active"
    if console and waiting:
        detail += "; within the grace period: " + ", ".join(k.key_id for k in waiting)
    return VerifyResult.verified(detail)


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
    revert=revert_deactivation,
    options=Options,
)
