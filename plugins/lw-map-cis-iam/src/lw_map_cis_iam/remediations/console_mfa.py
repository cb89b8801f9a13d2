"""AWS_CIS_1_2: MFA for every IAM user with a console password.

Enrolling an MFA device needs two codes from the user's device, so the default is to
notify (``manual``). The opt-in ``add_to_mfa_group`` adds the user to an existing
group -- provisioned by you, see the README -- whose policy denies everything except
MFA self-service while ``aws:MultiFactorPresent`` is false. Undo removes the user from
the group. The daemon never creates or edits that group, and its policy only allows
membership changes of that one group (no privilege escalation).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import (
    USER_ARNS,
    entity_on_path,
    in_group,
    login_profile,
    normal_path,
    path_arns,
    unless_missing,
    user_arn,
)


class Options(RemediationOptions):
    """Notify by default; or add the user to the require-MFA group."""

    action: Literal["notify", "add_to_mfa_group"] = "notify"
    #: The pre-provisioned group that denies everything without MFA.
    mfa_group_name: str = pydantic.Field("require-mfa", pattern=r"^[A-Za-z0-9_+=,.@-]{1,128}$")
    #: Its path; the group must be on this path (a guard against adding users to a
    #: same-named group somebody else made).
    mfa_group_path: str = pydantic.Field("/lw-remediation/", pattern=r"^/([\x21-\x7e]*/)?$")


async def read_state(ctx: RemediationContext[Any], user: str) -> dict[str, Any] | None:
    """Console password and MFA devices of ``user``; None when the user does not exist."""
    async with ctx.aws.client("iam") as iam:
        console = await login_profile(iam, user) is not None
        devices = await unless_missing(iam.list_mfa_devices(UserName=user))
    if devices is None:
        return None
    serials = [d["SerialNumber"] for d in devices.get("MFADevices", [])]
    return {"console_password": console, "mfa_devices": serials}


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    if not state["console_password"]:
        return CheckResult.compliant(f"{user} has no console password", **state)
    if state["mfa_devices"]:
        return CheckResult.compliant(f"{user} has an MFA device", **state)
    return CheckResult.violating(f"{user} has a console password and no MFA device", **state)


async def _group(ctx: RemediationContext[Any], user: str) -> tuple[str, bool]:
    """(the configured group's ARN, whether ``user`` is in it); refuses when it is missing."""
    name, path = ctx.options.mfa_group_name, normal_path(ctx.options.mfa_group_path)
    async with ctx.aws.client("iam") as iam:
        group = await entity_on_path(
            iam, "group", name, path, otherwise="not the configured group; not using it"
        )
        if group is None:
            raise RemediationRefused(
                f"the require-MFA group {path}{name} does not exist; provision it first "
                "(see the lw-map-cis-iam README)"
            )
        member = await in_group(iam, user, name)
    return str(group["Arn"]), member


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    group_arn, member = await _group(ctx, user)
    if member:
        return Plan(f"{user} is already in {group_arn}")
    return Plan(
        summary=f"add console user {user} (no MFA device) to {group_arn}, which denies "
        "everything but MFA self-service until the user signs in with MFA",
        changes=[Change("add_user_to_group", user_arn(violation, user), None, group_arn)],
        data={"user": user, "group": ctx.options.mfa_group_name, "group_arn": group_arn},
        notes=[
            "reversible: undo removes the user from the group",
            "the user's access keys are cut off too unless the group policy uses "
            "Bool (not BoolIfExists) on aws:MultiFactorPresent, as the README's template does",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user, group = str(plan.data["user"]), str(plan.data["group"])
    state = await read_state(ctx, user)  # re-read right before writing
    if state is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    if state["mfa_devices"] or not state["console_password"]:
        return {"user": user, "group": group, "member": False}  # fixed meanwhile
    _, member = await _group(ctx, user)
    if member:
        return {"user": user, "group": group, "member": True}
    await ctx.record_before({"user": user, "group": group, "member": False, **state})
    async with ctx.aws.client("iam") as iam:
        await iam.add_user_to_group(GroupName=group, UserName=user)
    ctx.log.info("user_added_to_mfa_group", user=user, group=group)
    return {"user": user, "group": group, "member": True}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    state = await read_state(ctx, user)
    if state is None or state["mfa_devices"] or not state["console_password"]:
        return VerifyResult.verified(f"{user} no longer needs the require-MFA group")
    group_arn, member = await _group(ctx, user)
    if not member:
        return VerifyResult.failed(f"{user} is not in {group_arn} after the change")
    return VerifyResult.verified(f"{user} is in {group_arn} until it enrols an MFA device")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    user, group = str(before["user"]), str(before["group"])
    async with ctx.aws.client("iam") as iam:
        member = await unless_missing(in_group(iam, user, group))
        if member is None:
            raise ResourceChanged(f"user {user} no longer exists; not reverting")
        if not member:
            raise ResourceChanged(f"{user} is no longer in {group}; nothing to revert")
        await iam.remove_user_from_group(GroupName=group, UserName=user)
    return f"removed {user} from {group}"


def _group_arns(options: Options) -> tuple[str, ...]:
    return path_arns("group", options.mfa_group_path, options.mfa_group_name)


def _option_policy(options: Options) -> IamPolicy:
    if options.action != "add_to_mfa_group":
        return IamPolicy()
    return IamPolicy.allow(["iam:ListGroupsForUser"], USER_ARNS) + IamPolicy.allow(
        ["iam:GetGroup", "iam:AddUserToGroup"], _group_arns(options)
    )


def _revert_policy(options: Options) -> IamPolicy:
    if options.action != "add_to_mfa_group":
        return IamPolicy()
    return IamPolicy.allow(["iam:RemoveUserFromGroup"], _group_arns(options))


RUNBOOK = """\
IAM user {resource_name} in account {account} has a console password but no MFA device.
1. Ask the user to enrol MFA: IAM console > Users > {resource_name} > Security credentials >
   Assign MFA device (a hardware key or an authenticator app); it needs two consecutive codes.
2. If the user no longer needs the console, remove the password instead:
   aws iam delete-login-profile --user-name {resource_name}   (irreversible)
3. Until then, contain it: add the user to a group that denies everything without MFA
   (template in the lw-map-cis-iam README), by hand or with the option
   action = "add_to_mfa_group" (it uses the group {options.mfa_group_path}{options.mfa_group_name}):
   aws iam add-user-to-group --group-name {options.mfa_group_name} --user-name {resource_name}"""


REMEDIATION = Remediation(
    id="cis_iam.require_console_mfa",
    rules=("AWS_CIS_1_2",),
    title="MFA for console users: notify, or add the user to a deny-without-MFA group",
    description=(
        "Manual by default (MFA enrolment needs the user's device). The opt-in "
        "add_to_mfa_group adds the user to a pre-provisioned group that denies everything "
        "except MFA self-service without MFA; undo removes the user from it."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:GetLoginProfile", "iam:ListMFADevices"], USER_ARNS),
    option_policy=_option_policy,
    revert_policy=_revert_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    manual_when=lambda options: options.action == "notify",
    runbook=RUNBOOK,
)
