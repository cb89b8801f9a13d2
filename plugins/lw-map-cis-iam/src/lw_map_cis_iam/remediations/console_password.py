"""LW_AWS_IAM_14: no IAM users with password-based console access.

People should reach the console through federation (IAM Identity Center, a SAML or OIDC
provider), not IAM user passwords. Removing a password someone still uses locks them
out, so the default is to notify (``manual``) with a migration runbook. The opt-in
``delete_login_profile`` deletes a login profile whose password has not been used for
``max_unused_days`` (never used: whose profile is older) -- **irreversible**: AWS cannot
give the password back; undo refuses and names the command that creates a new one. A
password used more recently is never deleted: the action is refused, saying when it was
last used.
"""

from __future__ import annotations

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
    checked_credentials,
    delete_profile_change,
    disable_credentials,
    irreversible_note,
    password_in_use,
    read_credentials,
    revert_disable,
    unused_password,
)
from .._iam import USER_ARNS, utcnow


class Options(RemediationOptions):
    """Notify by default; the deletion is opt-in and bounded by a threshold."""

    #: Delete the login profile when its password is unused for ``max_unused_days``.
    #: IRREVERSIBLE: the password cannot be restored, only replaced by a new one.
    delete_login_profile: bool = False
    #: Days without a console sign-in before the login profile may be deleted.
    max_unused_days: int = pydantic.Field(90, ge=1, le=3650)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user, keys=False)
    if creds is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    observed = creds.observed(keys=False)
    if creds.login_profile is None:
        return CheckResult.compliant(f"{user} has no console password", **observed)
    return CheckResult.violating(
        f"{user} has a console password ({password_in_use(creds)})", **observed
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    # check read the password state in this run: not again (apply re-reads before writing)
    creds = await checked_credentials(ctx, user, keys=False)
    if creds is None:
        return Plan(f"user {user} no longer exists")
    if creds.login_profile is None:
        return Plan(f"{user} has no console password")
    days = ctx.options.max_unused_days
    unused = unused_password(creds, utcnow(), days)
    if unused is None:
        raise RemediationRefused(
            f"{user}: {password_in_use(creds)}, within {days} days (max_unused_days): "
            "somebody may still sign in with it; move the user to federated access first"
        )
    return Plan(
        summary=f"delete the login profile of {user} ({unused}): no more console password",
        changes=[delete_profile_change(violation, creds)],
        data={"user": user, "max_unused_days": days},
        irreversible=True,
        notes=[
            irreversible_note(user),
            "the user's access keys, MFA devices and permissions are not touched",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    creds = await read_credentials(ctx, user, keys=False)  # re-read right before writing
    if creds is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    if creds.login_profile is None:
        return {"user": user, "keys": {}, "login_profile_deleted": False}
    if unused_password(creds, utcnow(), int(plan.data["max_unused_days"])) is None:
        raise RemediationRefused(
            f"{user}: {password_in_use(creds)} -- used since the plan; not deleting it"
        )
    return await disable_credentials(ctx, creds, [], delete_profile=True)


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    creds = await read_credentials(ctx, user, keys=False)
    if creds is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    if creds.login_profile is not None:
        return VerifyResult.failed(f"{user} still has a console password")
    return VerifyResult.verified(f"{user} has no console password")


def _option_policy(options: Options) -> IamPolicy:
    if options.delete_login_profile:
        return IamPolicy.allow(["iam:DeleteLoginProfile"], USER_ARNS)
    return IamPolicy()


RUNBOOK = """\
IAM user {resource_name} in account {account} signs in to the console with a password ({rule_id}).
1. Give the person federated access instead: IAM Identity Center (or your SAML/OIDC identity
   provider) with a permission set matching what {resource_name} needs.
2. Check when the password was last used:
   aws iam get-user --user-name {resource_name} --query User.PasswordLastUsed
3. Once the person signs in through federation, remove the password (irreversible: it cannot
   be restored, only replaced): aws iam delete-login-profile --user-name {resource_name}
4. Keep the user only if a workload needs its access keys; otherwise delete it.
The option delete_login_profile = true lets lw-remediate do step 3 for passwords unused for
max_unused_days ({options.max_unused_days}) days."""


REMEDIATION = Remediation(
    id="cis_iam.delete_unused_console_password",
    rules=("LW_AWS_IAM_14",),
    title="No password-based console users: notify, or delete unused login profiles",
    description=(
        "Manual by default (a password in use must be replaced by federated access first). "
        "The opt-in delete_login_profile deletes a login profile unused for max_unused_days "
        "(90); IRREVERSIBLE: undo cannot restore the password."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:GetUser", "iam:GetLoginProfile"], USER_ARNS),
    option_policy=_option_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_disable,
    options=Options,
    manual_when=lambda options: not options.delete_login_profile,
    runbook=RUNBOOK,
)
