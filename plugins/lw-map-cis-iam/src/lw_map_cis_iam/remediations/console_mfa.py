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
from botocore.exceptions import ClientError

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

from .._iam import USER_ARNS, iam_client, is_no_such_entity, normal_path, path_arns, user_arn


class Options(RemediationOptions):
    """Notify by default; or add the user to the require-MFA group."""

    action: Literal["notify", "add_to_mfa_group"] = "notify"
    #: The pre-provisioned group that denies everything without MFA.
    mfa_group_name: str = pydantic.Field("require-mfa", pattern=r"^[\w+=,.@-]{1,128}$")
    #: Its path; the group must be on this path (a guard against adding users to a
    #: same-named group somebody else made).
    mfa_group_path: str = pydantic.Field("/lw-remediation/", pattern=r"^/([\x21-\x7e]*/)?$")


async def read_state(
    ctx: RemediationContext[Any], user: str, iam: Any = None
) -> dict[str, Any] | None:
    """Console password and MFA devices of ``user``; None when the user does not exist."""
    async with iam_client(ctx, iam) as iam:
        try:
            await iam.get_login_profile(UserName=user)
            console = True
        except ClientError as exc:
            if not is_no_such_entity(exc):
                raise
            console = False
        try:
            devices = (await iam.list_mfa_devices(UserName=user)).get("MFADevices", [])
        except ClientError as exc:
            if is_no_such_entity(exc):
                return None
            raise
    return {"console_password": console, "mfa_devices": [d["SerialNumber"] for d in devices]}


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


async def _group(ctx: RemediationContext[Any], user: str, iam: Any = None) -> tuple[str, bool]:
    """(the configured group's ARN, whether ``user`` is in it); refuses when it is missing."""
    name, path = ctx.options.mfa_group_name, normal_path(ctx.options.mfa_group_path)
    async with iam_client(ctx, iam) as iam:
        try:
            group = (await iam.get_group(GroupName=name, MaxItems=1))["Group"]
        except ClientError as exc:
            if is_no_such_entity(exc):
                raise RemediationRefused(
                    f"the require-MFA group {path}{name} does not exist; provision it first "
                    "(see the lw-map-cis-iam README)"
                ) from exc
            raise
        if group.get("Path", "/") != path:
            raise RemediationRefused(
                f"group {name} is on path {group.get('Path')}, not {path}; not using it"
            )
        member = False
        async for page in iam.get_paginator("list_groups_for_user").paginate(UserName=user):
            member = member or any(g["GroupName"] == name for g in page.get("Groups", []))
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
    async with ctx.aws.client("iam") as iam:
        state = await read_state(ctx, user, iam)  # re-read right before writing
        if state is None:
            raise RemediationRefused(f"user {user} disappeared before the change")
        if state["mfa_devices"] or not state["console_password"]:
            return {"user": user, "group": group, "member": False}  # fixed meanwhile
        _, member = await _group(ctx, user, iam)
        if member:
            return {"user": user, "group": group, "member": True}
        await ctx.record_before({"user": user, "group": group, "member": False, **state})
        await iam.add_user_to_group(GroupName=group, UserName=user)
    ctx.log.info("user_added_to_mfa_group", user=user, group=group)
    return {"user": user, "group": group, "member": True}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    async with ctx.aws.client("iam") as iam:
        state = await read_state(ctx, user, iam)
        if state is None or state["mfa_devices"] or not state["console_password"]:
            return VerifyResult.verified(f"{user} no longer needs the require-MFA group")
        group_arn, member = await _group(ctx, user, iam)
    if not member:
        return VerifyResult.failed(f"{user} is not in {group_arn} after the change")
    return VerifyResult.verified(f"{user} is in {group_arn} until it enrols an MFA device")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    user, group = str(before["user"]), str(before["group"])
    async with ctx.aws.client("iam") as iam:
        member = False
        try:
            async for page in iam.get_paginator("list_groups_for_user").paginate(UserName=user):
                member = member or any(g["GroupName"] == group for g in page.get("Groups", []))
        except ClientError as exc:
            if is_no_such_entity(exc):
                raise ResourceChanged(f"user {user} no longer exists; not reverting") from exc
            raise
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
