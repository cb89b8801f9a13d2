"""Revoke ingress on port 22 from the whole internet; keep every other rule of the group."""

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
    PolicyStatement,
    Remediation,
    RemediationContext,
    RemediationOptions,
    ResourceChanged,
    VerifyResult,
    Violation,
    is_gone,
)

SECURITY_GROUP = "arn:{partition}:ec2:*:{account}:security-group/*"
WORLD = {"0.0.0.0/0", "::/0"}


class Options(RemediationOptions):
    #: Tag each fixed group with ``lw-remediated = <rule id>``.
    tag_fixed_groups: bool = False


def _covers_ssh(permission: Mapping[str, Any]) -> bool:
    if permission["IpProtocol"] == "-1":
        return True
    if permission["IpProtocol"] != "tcp":
        return False
    return int(permission.get("FromPort", 0)) <= 22 <= int(permission.get("ToPort", 65535))


def _world_ssh(permissions: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The world-open parts of the permissions that reach port 22, as IpPermissions."""
    found = []
    for p in permissions:
        if not _covers_ssh(p):
            continue
        v4 = [r for r in p.get("IpRanges", []) if r["CidrIp"] in WORLD]
        v6 = [r for r in p.get("Ipv6Ranges", []) if r["CidrIpv6"] in WORLD]
        if v4 or v6:
            ports = {k: p[k] for k in ("FromPort", "ToPort") if k in p}
            found.append({"IpProtocol": p["IpProtocol"], **ports, "IpRanges": v4, "Ipv6Ranges": v6})
    return found


async def _read(ctx: RemediationContext[Options]) -> list[dict[str, Any]] | None:
    """The group's world-open SSH permissions, or None when the group is gone."""
    async with ctx.aws.client("ec2") as ec2:
        try:
            answer = await ec2.describe_security_groups(GroupIds=[ctx.violation.resource_name])
        except ClientError as exc:
            if is_gone(exc):
                return None
            raise
    return _world_ssh(answer["SecurityGroups"][0]["IpPermissions"])


async def check(ctx: RemediationContext[Options], violation: Violation) -> CheckResult:
    world = await _read(ctx)
    if world is None:
        return CheckResult.compliant("the security group no longer exists")
    if not world:
        return CheckResult.compliant("no ingress reaches port 22 from the internet")
    return CheckResult.violating(f"{len(world)} rule(s) open port 22 to the internet")


async def plan(ctx: RemediationContext[Options], violation: Violation) -> Plan:
    world = await _read(ctx) or []
    return Plan(
        f"revoke {len(world)} world-open ingress rule(s) reaching port 22 on "
        f"{violation.resource_name}",
        [Change("revoke_security_group_ingress", violation.resource_arn, world, None)]
        if world
        else [],
    )


async def apply(ctx: RemediationContext[Options], plan: Plan) -> Mapping[str, Any]:
    world = await _read(ctx) or []
    await ctx.record_before({"IpPermissions": world})
    group = ctx.violation.resource_name
    async with ctx.aws.client("ec2") as ec2:
        if world:
            await ec2.revoke_security_group_ingress(GroupId=group, IpPermissions=world)
        if ctx.options.tag_fixed_groups:
            await ec2.create_tags(
                Resources=[group], Tags=[{"Key": "lw-remediated", "Value": ctx.violation.rule_id}]
            )
    return {"IpPermissions": []}


async def verify(ctx: RemediationContext[Options], violation: Violation) -> VerifyResult:
    world = await _read(ctx)
    if world:
        return VerifyResult.failed("port 22 is still open to the internet")
    return VerifyResult.verified("no ingress reaches port 22 from the internet")


async def revert(ctx: RemediationContext[Options], record: ActionRecord) -> str:
    if await _read(ctx):
        raise ResourceChanged("port 22 is open to the internet again; not restoring")
    before = (record.before_image or {}).get("IpPermissions", [])
    if before:
        async with ctx.aws.client("ec2") as ec2:
            await ec2.authorize_security_group_ingress(
                GroupId=ctx.violation.resource_name, IpPermissions=before
            )
    return f"restored {len(before)} world-open SSH rule(s)"


def _tagging(options: Options) -> IamPolicy:
    if not options.tag_fixed_groups:
        return IamPolicy()
    return IamPolicy((PolicyStatement(("ec2:CreateTags",), (SECURITY_GROUP,)),))


REMEDIATION = Remediation(
    id="sample_ec2.revoke_world_ssh",
    rules=("SAMPLE_EC2_1",),
    title="Revoke world-open SSH ingress on a security group",
    resource_type="ec2:security-group",
    policy=IamPolicy(
        (
            PolicyStatement(("ec2:DescribeSecurityGroups",), ("*",)),
            PolicyStatement(("ec2:RevokeSecurityGroupIngress",), (SECURITY_GROUP,)),
        )
    ),
    revert_policy=IamPolicy(
        (PolicyStatement(("ec2:AuthorizeSecurityGroupIngress",), (SECURITY_GROUP,)),)
    ),
    option_policy=_tagging,
    options=Options,
    # CreateTags takes ids of any resource type: the table cannot know this is a group.
    aws_calls=(
        AwsCall(
            "ec2",
            "CreateTags",
            resource="arn:{partition}:ec2:{region}:{account}:security-group/{Resources[0]}",
        ),
    ),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
