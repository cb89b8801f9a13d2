"""AWS_CIS_1_22: a support role exists to manage incidents with AWS Support.

When no role has the AWS managed policy ``AWSSupportAccess`` attached, create the role
``<role_path><role_name>`` trusting only the configured principals, and attach that one
policy. The attach permission is conditioned on ``iam:PolicyARN`` = ``AWSSupportAccess``,
so the daemon cannot attach anything else. Undo detaches the policy and deletes the role
it created.

PRIVILEGE-SENSITIVE: it creates a role that the trusted principals can assume. Run it
under a separate role.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

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

from .._iam import (
    entity_on_path,
    error_code,
    iam_arn,
    normal_path,
    path_arns,
    policies_of,
    unless_missing,
)

SUPPORT_POLICY = "arn:{partition}:iam::aws:policy/AWSSupportAccess"
_PRINCIPAL = r"^arn:aws[a-z-]*:(iam|sts)::\d{12}:(root|user/.+|role/.+|assumed-role/.+)$"
DESCRIPTION = "AWS Support incident role (created by lw-remediate for CIS 1.22)"


class Options(RemediationOptions):
    """The role to create; ``trusted_principal_arns`` must be set before anything is written."""

    role_name: str = pydantic.Field("aws-support-incident", pattern=r"^[A-Za-z0-9_+=,.@-]{1,64}$")
    #: Roles on this path are the ones lw-remediate owns.
    role_path: str = pydantic.Field("/lw-remediation/", pattern=r"^/([\x21-\x7e]*/)?$")
    #: Who may assume the role (IAM ARNs, e.g. ``arn:aws:iam::111122223333:role/SecOps``).
    trusted_principal_arns: tuple[str, ...] = ()
    #: Require MFA when assuming the role.
    require_mfa: bool = False
    max_session_duration: int = pydantic.Field(3600, ge=3600, le=43200)

    @pydantic.field_validator("trusted_principal_arns")
    @classmethod
    def _arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [v for v in value if not re.match(_PRINCIPAL, v)]
        if bad:
            raise ValueError(f"not IAM principal ARNs: {', '.join(bad)}")
        return value


def _support_arn(violation: Violation) -> str:
    return SUPPORT_POLICY.replace("{partition}", violation.arn.partition)


def _role_arn(violation: Violation, options: Options) -> str:
    return iam_arn(violation, f"role{normal_path(options.role_path)}{options.role_name}")


def trust_policy(options: Options) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"AWS": sorted(options.trusted_principal_arns)},
        "Action": "sts:AssumeRole",
    }
    if options.require_mfa:
        statement["Condition"] = {"Bool": {"aws:MultiFactorPresent": "true"}}
    return {"Version": "2012-10-17", "Statement": [statement]}


async def support_roles(iam: Any, violation: Violation) -> list[str]:
    """Names of the roles that have ``AWSSupportAccess`` attached."""
    roles: list[str] = []
    paginator = iam.get_paginator("list_entities_for_policy")
    async for page in paginator.paginate(PolicyArn=_support_arn(violation), EntityFilter="Role"):
        roles += [r["RoleName"] for r in page.get("PolicyRoles", [])]
    return roles


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("iam") as iam:
        roles = await support_roles(iam, violation)
    if roles:
        return CheckResult.compliant(
            f"role(s) with AWSSupportAccess: {', '.join(roles)}", roles=roles
        )
    return CheckResult.violating(
        f"no role in account {violation.account_id} has AWSSupportAccess", roles=roles
    )


async def _role_plan(ctx: RemediationContext[Any], iam: Any) -> dict[str, Any] | None:
    """None when the role exists and is ours; its creation parameters otherwise."""
    options: Options = ctx.options
    path = normal_path(options.role_path)
    role = await entity_on_path(
        iam, "role", options.role_name, path, otherwise="it is not lw-remediate's; not touching it"
    )
    if role is None:
        return {
            "RoleName": options.role_name,
            "Path": path,
            "AssumeRolePolicyDocument": trust_policy(options),
            "Description": DESCRIPTION,
            "MaxSessionDuration": options.max_session_duration,
        }
    return None


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    options: Options = ctx.options
    if not options.trusted_principal_arns:
        raise RemediationRefused(
            "no trusted principal configured: set trusted_principal_arns under "
            '[remediation."cis_iam.create_support_role"]'
        )
    async with ctx.aws.client("iam") as iam:
        # check listed the roles in this run: no second ListEntitiesForPolicy
        if await ctx.checked_or_read("roles", lambda: support_roles(iam, violation)):
            return Plan("a role with AWSSupportAccess exists")
        create = await _role_plan(ctx, iam)
    arn = _role_arn(violation, options)
    changes = []
    if create is not None:
        changes.append(
            Change(
                "create_role",
                arn,
                None,
                {"trust": create["AssumeRolePolicyDocument"], "path": create["Path"]},
            )
        )
    changes.append(Change("attach_role_policy", arn, None, _support_arn(violation)))
    if create is not None:
        summary = (
            f"create role {arn} trusting {', '.join(options.trusted_principal_arns)} and "
            "attach AWSSupportAccess"
        )
    else:
        summary = f"attach AWSSupportAccess to the existing role {arn}"
    return Plan(
        summary=summary,
        changes=changes,
        data={"create": create},
        notes=[
            "PRIVILEGE-SENSITIVE: the trusted principals can open and manage AWS Support "
            "cases (AWSSupportAccess) through this role",
            "reversible: undo detaches the policy and deletes the role if lw-remediate created it",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation, options = ctx.violation, ctx.options
    async with ctx.aws.client("iam") as iam:
        if roles := await support_roles(iam, violation):  # re-read right before writing
            return {"role_name": None, "support_roles": roles}
        create = await _role_plan(ctx, iam)
        await ctx.record_before(
            {"role_name": options.role_name, "role_existed": create is None, "attached": False}
        )
        if create is not None:
            await iam.create_role(
                **{
                    **create,
                    "AssumeRolePolicyDocument": json.dumps(create["AssumeRolePolicyDocument"]),
                }
            )
            ctx.log.info("support_role_created", role=options.role_name)
        await iam.attach_role_policy(RoleName=options.role_name, PolicyArn=_support_arn(violation))
    return {
        "role_name": options.role_name,
        "role_arn": _role_arn(violation, options),
        "created": create is not None,
        "attached": [_support_arn(violation)],
    }


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("iam") as iam:
        roles = await support_roles(iam, violation)
    if not roles:
        return VerifyResult.failed("still no role with AWSSupportAccess")
    return VerifyResult.verified(f"role(s) with AWSSupportAccess: {', '.join(roles)}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before, after = record.before_image or {}, record.after_image or {}
    name = after.get("role_name")
    if not name:
        raise ResourceChanged("the action created nothing; nothing to revert")
    support = _support_arn(record.violation)
    async with ctx.aws.client("iam") as iam:
        if await unless_missing(iam.get_role(RoleName=name)) is None:
            raise ResourceChanged(f"role {name} no longer exists; not reverting")
        attached, inline = await policies_of(iam, "role", name)
        if attached != after.get("attached") or inline:
            raise ResourceChanged(f"the policies of role {name} changed since; not reverting")
        await iam.detach_role_policy(RoleName=name, PolicyArn=support)
        if before.get("role_existed"):
            return f"detached AWSSupportAccess from {name} (the role existed before)"
        try:
            await iam.delete_role(RoleName=name)
        except ClientError as exc:
            if error_code(exc) != "DeleteConflict":
                raise
            await iam.attach_role_policy(RoleName=name, PolicyArn=support)
            raise ResourceChanged(f"role {name} is in use ({exc}); not deleting it") from exc
    return f"deleted role {name} (it did not exist before)"


def _role_arns(options: Options) -> tuple[str, ...]:
    return path_arns("role", options.role_path, options.role_name)


#: ``ArnLike`` with ``arn:*`` holds in every partition (no placeholder inside a condition).
_ONLY_SUPPORT = {"ArnLike": {"iam:PolicyARN": "arn:*:iam::aws:policy/AWSSupportAccess"}}


def _role_policy(options: Options) -> IamPolicy:
    return IamPolicy.allow(
        ["iam:GetRole", "iam:CreateRole"], _role_arns(options)
    ) + IamPolicy.allow(["iam:AttachRolePolicy"], _role_arns(options), conditions=_ONLY_SUPPORT)


def _revert_policy(options: Options) -> IamPolicy:
    return IamPolicy.allow(
        ["iam:ListAttachedRolePolicies", "iam:ListRolePolicies", "iam:DeleteRole"],
        _role_arns(options),
    ) + IamPolicy.allow(["iam:DetachRolePolicy"], _role_arns(options), conditions=_ONLY_SUPPORT)


REMEDIATION = Remediation(
    id="cis_iam.create_support_role",
    rules=("AWS_CIS_1_22",),
    title="Create the AWS Support role (AWSSupportAccess, configured trusted principals)",
    description=(
        "PRIVILEGE-SENSITIVE (creates an assumable role; run it under a separate role). When "
        "no role has AWSSupportAccess, creates role_path/role_name trusting only "
        "trusted_principal_arns and attaches AWSSupportAccess (the attach permission is "
        "conditioned on that policy ARN). Refused until trusted principals are configured."
    ),
    resource_type="iam:account",
    policy=IamPolicy.allow(["iam:ListEntitiesForPolicy"], [SUPPORT_POLICY]),
    option_policy=_role_policy,
    revert_policy=_revert_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    privilege_sensitive=True,
)
