"""LW_AWS_IAM_7: IAM user inactive for 30 days or more.

A user is inactive when it still holds a working credential (a console password or an
``Active`` access key) but none of its credentials has been used within the threshold,
and neither the user nor any working credential is younger than the grace period
(``new_credential_grace_days``; default: the threshold). A user or key made last week
is being set up, not abandoned.

Where the definition comes from: Lacework publishes only the title ("Iam user should not
be inactive from last 30 days or more") and the reason ``IamUserInactive30Days``. The
grace for new credentials follows the CIS AWS Foundations audit of the sibling rule
(AWS_CIS_1_3 / CIS 1.12, "credentials unused for N days"): a credential that was never
used counts from its creation date (a key's ``last_rotated``), so one younger than N is
not unused. ``new_credential_grace_days = 0`` drops the grace: only use counts.

Manual by default: an abandoned user may still be somebody's break-glass account. The
options disable it with the same steps as ``cis_iam.disable_unused_credentials``:
``deactivate_keys`` (reversible, undo reactivates them) and ``delete_login_profile``
(removes console access, **irreversible**: the password cannot be restored).
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
)
from .._iam import KEY_LAST_USED_ARNS, USER_ARNS, as_utc, day, rule_threshold, utcnow
from .._keys import AccessKey, still_active

#: Days without any use after which a user counts as inactive, per rule.
THRESHOLDS: Mapping[str, int] = {"LW_AWS_IAM_7": 30}


class Options(RemediationOptions):
    """Manual unless one of the two steps is enabled."""

    #: Days without any credential use; default: the rule's value (30).
    max_inactive_days: int | None = pydantic.Field(None, ge=1, le=3650)
    #: A user, working access key or never-used console password created within this many
    #: days is not inactive (being set up); default: the inactivity threshold, as the CIS
    #: audit counts a never-used credential from its creation. 0: only use counts.
    new_credential_grace_days: int | None = pydantic.Field(None, ge=0, le=3650)
    #: Deactivate the inactive user's Active access keys (reversible).
    deactivate_keys: bool = False
    #: Delete the inactive user's login profile (console access).
    #: IRREVERSIBLE: the password cannot be restored, only replaced by a new one.
    delete_login_profile: bool = False


def _threshold(ctx: RemediationContext[Any], violation: Violation) -> int:
    return rule_threshold(violation, THRESHOLDS, ctx.options.max_inactive_days, fallback=30)


def last_activity(creds: UserCredentials) -> dt.datetime | None:
    """The latest use of any of the user's credentials (inactive keys included)."""
    uses = [k.last_used for k in creds.keys if k.last_used is not None]
    if creds.password_last_used is not None:
        uses.append(creds.password_last_used)
    return max(uses, default=None)


def _grace(ctx: RemediationContext[Any], days: int) -> int:
    grace: int | None = ctx.options.new_credential_grace_days
    return days if grace is None else grace


def inactivity(
    creds: UserCredentials, now: dt.datetime, days: int, grace: int | None = None
) -> str | None:
    """Why the user counts as inactive for ``days``, or None (active, new, or locked out).

    ``grace`` (default ``days``): a user, active key or never-used login profile created
    within that many days is new, not inactive.
    """
    cutoff = now - dt.timedelta(days=days)
    new_since = now - dt.timedelta(days=days if grace is None else grace)
    active_keys = [k for k in creds.keys if k.active]
    if creds.login_profile is None and not active_keys:
        return None  # nothing left to sign in or call AWS with
    last = last_activity(creds)
    if last is not None and last >= cutoff:
        return None
    if creds.created is not None and creds.created >= new_since:
        return None
    if any(k.created >= new_since for k in active_keys):
        return None
    if creds.login_profile is not None and creds.password_last_used is None:
        profile_created = as_utc(creds.login_profile.get("CreateDate"))
        if profile_created is None or profile_created >= new_since:
            return None  # a login profile created within the grace period
    if last is None:
        return f"no credential used since the user was created ({day(creds.created)})"
    return f"no credential used since {day(last)}"


def idle_keys(creds: UserCredentials, now: dt.datetime, days: int, grace: int) -> list[AccessKey]:
    """Active keys last used more than ``days`` ago, or never used and older than ``grace``."""
    cutoff, new_since = now - dt.timedelta(days=days), now - dt.timedelta(days=grace)
    return [
        k
        for k in creds.keys
        if k.active and (k.last_used < cutoff if k.last_used else k.created < new_since)
    ]


def working_credentials(creds: UserCredentials) -> str:
    parts = [f"access key {k.describe()}" for k in creds.keys if k.active]
    if creds.login_profile is not None:
        created = day(as_utc(creds.login_profile.get("CreateDate")))
        parts.append(f"console password (login profile created {created})")
    return "; ".join(parts)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user)
    if creds is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    days = _threshold(ctx, violation)
    why = inactivity(creds, utcnow(), days, _grace(ctx, days))
    observed = {"threshold_days": days, **creds.observed()}
    if why is None:
        return CheckResult.compliant(
            f"{user} is not inactive for {days}+ days (recent use, new, or no working credential)",
            **observed,
        )
    return CheckResult.violating(
        f"{user} inactive for {days}+ days ({why}); working credentials: "
        + working_credentials(creds),
        **observed,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    # check read the credentials in this run: not again (apply re-reads before writing)
    creds = await checked_credentials(ctx, user)
    if creds is None:
        return Plan(f"user {user} no longer exists")
    days, now = _threshold(ctx, violation), utcnow()
    grace = _grace(ctx, days)
    why = inactivity(creds, now, days, grace)
    if why is None:
        return Plan(f"{user} is not inactive for {days}+ days")
    options: Options = ctx.options
    keys = idle_keys(creds, now, days, grace) if options.deactivate_keys else []
    delete_profile = options.delete_login_profile and creds.login_profile is not None
    reported = []
    if not keys and any(k.active for k in creds.keys):
        reported.append("active access keys: reported, not changed (option deactivate_keys)")
    if not delete_profile and creds.login_profile is not None:
        reported.append(
            "console password: reported, not changed (option delete_login_profile, irreversible)"
        )
    if not keys and not delete_profile:
        raise RemediationRefused(
            f"{user} is inactive ({why}) but the enabled option does not cover its working "
            f"credentials ({working_credentials(creds)}): enable deactivate_keys or "
            "delete_login_profile (irreversible), or disable the user by hand"
        )
    return disable_plan(
        violation,
        creds,
        keys,
        password="console access" if delete_profile else None,
        headline=f"{user} (inactive for {days}+ days, {why})",
        reported=reported,
        data={"threshold_days": days, "grace_days": grace},
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    creds = await read_credentials(ctx, user)  # re-read right before writing
    if creds is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    days, now = int(plan.data["threshold_days"]), utcnow()
    grace = int(plan.data.get("grace_days", days))
    if inactivity(creds, now, days, grace) is None:
        return {"user": user, "keys": {}}  # used (or re-provisioned) since the plan
    return await apply_disable(
        ctx,
        plan,
        creds,
        idle_keys(creds, now, days, grace),
        password_due=creds.login_profile is not None,
    )


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user)
    if creds is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    days, now = _threshold(ctx, violation), utcnow()
    grace = _grace(ctx, days)
    why = inactivity(creds, now, days, grace)
    if why is None:
        return VerifyResult.verified(f"{user} has no working credential unused for {days}+ days")
    options: Options = ctx.options
    if options.deactivate_keys and (keys := idle_keys(creds, now, days, grace)):
        return still_active(keys)
    if options.delete_login_profile and creds.login_profile is not None:
        return VerifyResult.failed(f"{user}: the login profile is still there")
    return VerifyResult.verified(
        f"{user}: what the options cover is disabled; still working (reported, not changed): "
        + working_credentials(creds)
    )


def _option_policy(options: Options) -> IamPolicy:
    actions = ["iam:UpdateAccessKey"] if options.deactivate_keys else []
    actions += ["iam:DeleteLoginProfile"] if options.delete_login_profile else []
    return IamPolicy.allow(actions, USER_ARNS) if actions else IamPolicy()


RUNBOOK = """\
IAM user {resource_name} in account {account} has not used any of its credentials for 30 days
or more ({rule_id}) but can still sign in or call AWS.
1. Find the owner (tags, naming, CloudTrail: aws cloudtrail lookup-events --lookup-attributes
   AttributeKey=Username,AttributeValue={resource_name}) and confirm nobody needs it.
2. Deactivate its access keys (reversible):
   aws iam list-access-keys --user-name {resource_name}
   aws iam update-access-key --user-name {resource_name} --access-key-id <id> --status Inactive
3. Remove console access (irreversible; the password cannot be restored):
   aws iam delete-login-profile --user-name {resource_name}
4. After a quiet period, delete the user (detach its policies, remove it from groups,
   delete its keys, MFA devices and SSH keys first).
lw-remediate does steps 2 and 3 with the options deactivate_keys = true and
delete_login_profile = true."""


REMEDIATION = Remediation(
    id="cis_iam.disable_inactive_user",
    rules=("LW_AWS_IAM_7",),
    title="Disable IAM users inactive for 30 days (keys, console access)",
    description=(
        "Manual by default. deactivate_keys deactivates the inactive user's access keys "
        "(undo reactivates them); delete_login_profile removes console access, "
        "irreversibly. A user, key or password younger than the grace period "
        "(new_credential_grace_days, default: the threshold) is not inactive."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:GetUser", "iam:GetLoginProfile", "iam:ListAccessKeys"], USER_ARNS)
    + IamPolicy.allow(["iam:GetAccessKeyLastUsed"], KEY_LAST_USED_ARNS),
    option_policy=_option_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_disable,
    options=Options,
    manual_when=lambda options: not (options.deactivate_keys or options.delete_login_profile),
    runbook=RUNBOOK,
)
