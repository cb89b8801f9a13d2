"""AWS_CIS_1_3, LW_AWS_IAM_6: disable credentials unused for the threshold (90 days).

Access keys: an ``Active`` key whose last use (or, never used, whose creation) is older
than the threshold is deactivated -- reversible, undo reactivates it. Console passwords
(AWS_CIS_1_3 only) are reported; deleting the login profile is the opt-in
``delete_login_profile``, and it is **irreversible**: the password cannot be restored.
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

from .._credentials import (
    UserCredentials,
    apply_disable,
    checked_credentials,
    disable_plan,
    read_credentials,
    revert_disable,
    stale_keys,
    unused_password,
)
from .._iam import KEY_LAST_USED_ARNS, USER_ARNS, rule_threshold, utcnow
from .._keys import still_active

#: Days without use after which a credential counts as unused, per rule. Lacework's new
#: policy lacework-global-41 (the alias of AWS_CIS_1_3) follows CIS 1.4 at 45 days.
THRESHOLDS: Mapping[str, int] = {
    "AWS_CIS_1_3": 90,
    "lacework-global-41": 45,
    "LW_AWS_IAM_6": 90,
}

#: Rules about console passwords as well as access keys.
PASSWORD_RULES = frozenset({"AWS_CIS_1_3"})


class Options(RemediationOptions):
    """Threshold and the (irreversible) password option."""

    #: Days without use; default: the rule's own value (90; 45 for lacework-global-41).
    max_unused_days: int | None = pydantic.Field(None, ge=1, le=3650)
    #: Delete the login profile of a console password unused for the threshold.
    #: IRREVERSIBLE: the password cannot be restored, only replaced by a new one.
    delete_login_profile: bool = False


def _threshold(ctx: RemediationContext[Any], violation: Violation) -> int:
    return rule_threshold(violation, THRESHOLDS, ctx.options.max_unused_days, fallback=90)


def stale_password(
    creds: UserCredentials, violation: Violation, now: dt.datetime, days: int
) -> str | None:
    """Why the console password counts as unused, or None (not a password rule, none, in use)."""
    if violation.rule_id not in PASSWORD_RULES:
        return None
    return unused_password(creds, now, days)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user)
    if creds is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    days, now = _threshold(ctx, violation), utcnow()
    keys = stale_keys(creds.keys, now, days)
    password = stale_password(creds, violation, now, days)
    observed = {"threshold_days": days, **creds.observed()}
    if not keys and not password:
        return CheckResult.compliant(f"{user} has no credential unused for {days} days", **observed)
    found = [f"access key {k.describe()}" for k in keys] + ([password] if password else [])
    return CheckResult.violating(f"{user}: unused for {days}+ days: {'; '.join(found)}", **observed)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    # check read the credentials in this run: not again (apply re-reads before writing)
    creds = await checked_credentials(ctx, user)
    if creds is None:
        return Plan(f"user {user} no longer exists")
    days, now = _threshold(ctx, violation), utcnow()
    keys = stale_keys(creds.keys, now, days)
    password = stale_password(creds, violation, now, days)
    delete_profile = bool(password) and ctx.options.delete_login_profile
    reported = []
    if password and not delete_profile:
        reported.append(
            f"{password}: reported, not changed (the option delete_login_profile removes it, "
            "irreversibly)"
        )
    if not keys and not delete_profile:
        if password:
            raise RemediationRefused(
                f"{user}: {password}; passwords are only reported by default -- delete the "
                "login profile by hand or enable delete_login_profile (irreversible)"
            )
        return Plan(f"{user} has no credential unused for {days} days")
    return disable_plan(
        violation,
        creds,
        keys,
        password=password if delete_profile else None,
        headline=f"{user} (unused for {days}+ days)",
        reported=reported,
        data={"threshold_days": days},
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    user = str(plan.data["user"])
    creds = await read_credentials(ctx, user)  # re-read right before writing
    if creds is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    days, now = int(plan.data["threshold_days"]), utcnow()
    return await apply_disable(
        ctx,
        plan,
        creds,
        stale_keys(creds.keys, now, days),
        password_due=bool(stale_password(creds, violation, now, days)),
    )


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user)
    if creds is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    days, now = _threshold(ctx, violation), utcnow()
    keys = stale_keys(creds.keys, now, days)
    if keys:
        return still_active(keys)
    password = stale_password(creds, violation, now, days)
    if password and ctx.options.delete_login_profile:
        return VerifyResult.failed(f"{user}: the login profile is still there ({password})")
    detail = f"{user}: no access key unused for {days}+ days is active"
    if password:
        detail += f"; {password} (reported, not changed)"
    return VerifyResult.verified(detail)


def _option_policy(options: Options) -> IamPolicy:
    if options.delete_login_profile:
        return IamPolicy.allow(["iam:DeleteLoginProfile"], USER_ARNS)
    return IamPolicy()


REMEDIATION = Remediation(
    id="cis_iam.disable_unused_credentials",
    rules=("AWS_CIS_1_3", "LW_AWS_IAM_6"),
    title="Deactivate access keys unused for 90 days (report unused console passwords)",
    description=(
        "Deactivates Active access keys not used (never used: not created) within the "
        "threshold -- 90 days, 45 for lacework-global-41. Console passwords are reported; "
        "the opt-in delete_login_profile deletes them, irreversibly. Undo reactivates keys."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(
        ["iam:GetUser", "iam:GetLoginProfile", "iam:ListAccessKeys", "iam:UpdateAccessKey"],
        USER_ARNS,
    )
    + IamPolicy.allow(["iam:GetAccessKeyLastUsed"], KEY_LAST_USED_ARNS),
    option_policy=_option_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_disable,
    options=Options,
)
