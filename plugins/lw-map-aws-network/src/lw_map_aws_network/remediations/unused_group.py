"""LW_AWS_NETWORKING_1: a security group attached to nothing.

**Manual by default.** With ``enforce``, a group that no network interface uses, no other
group of its VPC references, and that is not a ``default`` group is deleted. The
before-image keeps its name, description, VPC, every rule (descriptions included) and its
tags. Undo recreates the group from it -- under a **new id**: references to the old id
elsewhere (launch templates, infrastructure code, other accounts) do not come back, so
the plan marks the deletion irreversible.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    AwsCall,
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
    aws_error_code,
)

from .._ec2 import (
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    VPC,
    describe_policy,
    paginate,
    resource_id,
)
from .._groups import (
    authorize_all,
    clean_permissions,
    interface_text,
    interfaces_using,
    read_group,
    revoke_all,
)


class Options(RemediationOptions):
    """The switch from runbook to deletion."""

    #: Delete the unused group (default: end ``manual`` with the runbook).
    enforce: bool = False


async def referenced_by(ec2: Any, group: Mapping[str, Any]) -> list[str]:
    """Other groups of the VPC whose rules name this group."""
    group_id = group["GroupId"]
    others = await paginate(
        ec2,
        "describe_security_groups",
        "SecurityGroups",
        Filters=[{"Name": "vpc-id", "Values": [group.get("VpcId")]}],
    )
    return sorted(
        str(other["GroupId"])
        for other in others
        if other["GroupId"] != group_id
        and any(
            pair.get("GroupId") == group_id
            for perm in other.get("IpPermissions", []) + other.get("IpPermissionsEgress", [])
            for pair in perm.get("UserIdGroupPairs", [])
        )
    )


async def _why_not(
    ec2: Any, group: Mapping[str, Any], interfaces: list[dict[str, Any]] | None = None
) -> str | None:
    """Why the group must stay (None: it may go). ``interfaces``: those using the group,
    when already read."""
    group_id = group["GroupId"]
    if group.get("GroupName") == "default":
        return f"{group_id} is a VPC's default group: it cannot be deleted"
    if interfaces is None:
        interfaces = await interfaces_using(ec2, group_id)
    if interfaces:
        return f"{group_id} is in use by " + ", ".join(interface_text(i) for i in interfaces)
    references = await referenced_by(ec2, group)
    if references:
        return f"{group_id} is referenced by the rules of " + ", ".join(references)
    return None


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)
        if group is None:
            return CheckResult.compliant(f"security group {group_id} no longer exists")
        if group.get("GroupName") == "default":
            return CheckResult.compliant(f"{group_id} is a default group (it cannot be deleted)")
        interfaces = await interfaces_using(ec2, group_id)
    if interfaces:
        return CheckResult.compliant(
            f"{group_id} is attached: " + ", ".join(interface_text(i) for i in interfaces)
        )
    return CheckResult.violating(
        f"{group_id} ({group.get('GroupName')!r}) is attached to no network interface",
        group=group,
        interfaces=interfaces,
    )


def image(group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "GroupId": group["GroupId"],
        "GroupName": group.get("GroupName"),
        "Description": group.get("Description"),
        "VpcId": group.get("VpcId"),
        "IpPermissions": clean_permissions(group.get("IpPermissions", [])),
        "IpPermissionsEgress": clean_permissions(group.get("IpPermissionsEgress", [])),
        "Tags": list(group.get("Tags", [])),
    }


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        # check read the group and the interfaces using it in this run: not again (the
        # references are plan's own read; apply re-reads everything before deleting)
        group: dict[str, Any] | None = await ctx.checked_or_read(
            "group", lambda: read_group(ec2, group_id)
        )
        if group is None:
            return Plan(f"security group {group_id} no longer exists")
        interfaces: list[dict[str, Any]] | None = (
            ctx.checked.observed.get("interfaces") if ctx.checked is not None else None
        )
        reason = await _why_not(ec2, group, interfaces)
    if reason:
        raise RemediationRefused(f"not deleting: {reason}")
    before = image(group)
    return Plan(
        summary=(
            f"delete security group {group_id} ({before['GroupName']!r} in {before['VpcId']}, "
            f"{len(before['IpPermissions'])} ingress / {len(before['IpPermissionsEgress'])} "
            f"egress permission(s), {len(before['Tags'])} tag(s) recorded)"
        ),
        changes=[Change("delete_security_group", violation.resource_arn, before, None)],
        irreversible=True,
        notes=[
            f"undo recreates the group with the same name, description, rules and tags but a "
            f"NEW id: references to {group_id} elsewhere (launch templates, infrastructure "
            "code, other accounts) are not restored",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)  # re-read right before writing
        if group is None:
            return {"GroupId": group_id, "Deleted": False}
        reason = await _why_not(ec2, group)
        if reason:
            raise RemediationRefused(f"not deleting: {reason}")
        await ctx.record_before(image(group))
        await ec2.delete_security_group(GroupId=group_id)
    return {"GroupId": group_id, "Deleted": True}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)
    if group is not None:
        return VerifyResult.failed(f"security group {group_id} still exists")
    return VerifyResult.verified(f"security group {group_id} is deleted")


def _rename(permissions: list[dict[str, Any]], old: str, new: str) -> list[dict[str, Any]]:
    """Self-references of the old group point to the recreated one."""
    renamed = []
    for perm in permissions:
        perm = dict(perm)
        if "UserIdGroupPairs" in perm:
            perm["UserIdGroupPairs"] = [
                {**pair, "GroupId": new} if pair.get("GroupId") == old else pair
                for pair in perm["UserIdGroupPairs"]
            ]
        renamed.append(perm)
    return renamed


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    old = str(before["GroupId"])
    request: dict[str, Any] = {
        "GroupName": before["GroupName"],
        "Description": before.get("Description") or before["GroupName"],
        "VpcId": before["VpcId"],
    }
    if before.get("Tags"):
        request["TagSpecifications"] = [
            {"ResourceType": "security-group", "Tags": list(before["Tags"])}
        ]
    async with ctx.aws.client("ec2") as ec2:
        if await read_group(ec2, old) is not None:
            raise ResourceChanged(f"security group {old} exists again; not reverting")
        try:
            new = str((await ec2.create_security_group(**request))["GroupId"])
        except ClientError as exc:
            if aws_error_code(exc) == "InvalidGroup.Duplicate":
                raise ResourceChanged(
                    f"a group named {before['GroupName']!r} exists in {before['VpcId']} again; "
                    "not reverting"
                ) from exc
            raise
        created = await read_group(ec2, new)
        default_egress = clean_permissions((created or {}).get("IpPermissionsEgress", []))
        wanted_egress = _rename(before.get("IpPermissionsEgress", []), old, new)
        await revoke_all(
            ec2, new, [p for p in default_egress if p not in wanted_egress], egress=True
        )
        await authorize_all(
            ec2, new, _rename(before.get("IpPermissions", []), old, new), egress=False
        )
        await authorize_all(ec2, new, wanted_egress, egress=True)
    return (
        f"recreated {before['GroupName']!r} in {before['VpcId']} as {new} (new id; the old id "
        f"{old} cannot come back: update references to it)"
    )


RUNBOOK = """\
Security group {resource_name} ({region}, account {account}) is attached to nothing ({rule_id}).
1. Confirm nothing uses it: network interfaces, launch templates, other groups' rules:
   aws ec2 describe-network-interfaces --region {region} --filters Name=group-id,Values={resource_name}
   aws ec2 describe-security-groups --region {region} \\
     --filters Name=ip-permission.group-id,Values={resource_name}
2. Keep a copy: aws ec2 describe-security-groups --region {region} --group-ids {resource_name}
3. Delete it (irreversible; a recreated group gets a new id):
   aws ec2 delete-security-group --region {region} --group-id {resource_name}
4. Or set enforce = true under [remediation."network.delete_unused_security_group"]."""


def option_policy(options: Options) -> IamPolicy:
    if not options.enforce:
        return IamPolicy()
    return IamPolicy.allow(["ec2:DeleteSecurityGroup"], [SECURITY_GROUP])


REVERT_POLICY = (
    IamPolicy.allow(["ec2:CreateSecurityGroup"], [SECURITY_GROUP, VPC])
    + IamPolicy.allow(
        ["ec2:CreateTags"],
        [SECURITY_GROUP],
        conditions={"StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}},
    )
    + IamPolicy.allow(
        [
            "ec2:AuthorizeSecurityGroupEgress",
            "ec2:AuthorizeSecurityGroupIngress",
            "ec2:RevokeSecurityGroupEgress",
        ],
        [SECURITY_GROUP, SECURITY_GROUP_RULE],
    )
)


def _tags_on_create(params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
    """``CreateSecurityGroup`` with tag specifications is authorised with ec2:CreateTags on
    the new group (its id is not known yet)."""
    if not params.get("TagSpecifications"):
        return None
    return f"arn:{where['partition']}:ec2:{where['region']}:{where['account']}:security-group/*"


TAGS_ON_CREATE = AwsCall(
    "ec2", "CreateSecurityGroup", dependent=(("ec2:CreateTags", _tags_on_create),)
)

REMEDIATION = Remediation(
    id="network.delete_unused_security_group",
    rules=("LW_AWS_NETWORKING_1",),
    aws_calls=(TAGS_ON_CREATE,),
    title="Delete a security group that nothing uses (undo recreates it with a new id)",
    description=(
        "Manual by default. With enforce: delete a non-default group no interface uses and "
        "no other group references; the before-image keeps rules and tags."
    ),
    resource_type="ec2:security-group",
    policy=describe_policy("ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces"),
    option_policy=option_policy,
    revert_policy=REVERT_POLICY,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
