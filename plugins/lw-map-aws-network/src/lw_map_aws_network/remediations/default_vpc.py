"""LW_AWS_NETWORKING_46: no default VPC should be present.

**Manual by default** (runbook). The ``delete_when_empty`` option deletes a default VPC
that nothing uses -- no network interface, no security group but ``default``, no route
table but the main one, no network ACL but the default one, no VPC endpoint -- by
detaching and deleting its internet gateways, deleting its subnets, then the VPC.
**Irreversible**: ``CreateDefaultVpc`` makes a new default VPC with new ids, and anything
that pointed at the old ids stays broken, so there is no undo. The plan is marked
irreversible and ``requires_approval``: even in ``auto`` mode each deletion waits for an
operator's approval. Reports name a bare ``vpc-…`` id; the core
builds the VPC ARN.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    Violation,
    aws_error_code,
)

from .._ec2 import describe_policy, paginate, resource_id, verify_by


class Options(RemediationOptions):
    """The (irreversible) deletion switch."""

    #: Delete a default VPC nothing uses. IRREVERSIBLE (a new default VPC gets new ids).
    #: Each deletion waits for an operator's approval, whatever the mode.
    delete_when_empty: bool = False


async def read_vpc(ec2: Any, vpc_id: str) -> dict[str, Any] | None:
    try:
        response = await ec2.describe_vpcs(VpcIds=[vpc_id])
    except ClientError as exc:
        if aws_error_code(exc) == "InvalidVpcID.NotFound":
            return None
        raise
    vpcs = response.get("Vpcs", [])
    return dict(vpcs[0]) if vpcs else None


async def inventory(ec2: Any, vpc_id: str) -> dict[str, Any]:
    """What is in the VPC: what blocks deletion, and what deletion removes."""
    by_vpc = [{"Name": "vpc-id", "Values": [vpc_id]}]
    interfaces = await paginate(
        ec2, "describe_network_interfaces", "NetworkInterfaces", Filters=by_vpc
    )
    groups = await paginate(ec2, "describe_security_groups", "SecurityGroups", Filters=by_vpc)
    tables = await paginate(ec2, "describe_route_tables", "RouteTables", Filters=by_vpc)
    acls = await paginate(ec2, "describe_network_acls", "NetworkAcls", Filters=by_vpc)
    endpoints = await paginate(ec2, "describe_vpc_endpoints", "VpcEndpoints", Filters=by_vpc)
    subnets = await paginate(ec2, "describe_subnets", "Subnets", Filters=by_vpc)
    gateways = await paginate(
        ec2,
        "describe_internet_gateways",
        "InternetGateways",
        Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}],
    )
    blockers = [f"network interface {i['NetworkInterfaceId']}" for i in interfaces]
    blockers += [
        f"security group {g['GroupId']} ({g.get('GroupName')})"
        for g in groups
        if g.get("GroupName") != "default"
    ]
    blockers += [
        f"route table {t['RouteTableId']}"
        for t in tables
        if not any(a.get("Main") for a in t.get("Associations", []))
    ]
    blockers += [f"network ACL {a['NetworkAclId']}" for a in acls if not a.get("IsDefault")]
    blockers += [
        f"VPC endpoint {e['VpcEndpointId']}"
        for e in endpoints
        if str(e.get("State", "")).lower() not in {"deleted", "deleting"}
    ]
    return {
        "blockers": blockers,
        "Subnets": [{"SubnetId": s["SubnetId"], "CidrBlock": s.get("CidrBlock")} for s in subnets],
        "InternetGateways": [g["InternetGatewayId"] for g in gateways],
    }


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    vpc_id = resource_id(violation, "vpc")
    async with ctx.aws.client("ec2") as ec2:
        vpc = await read_vpc(ec2, vpc_id)
    if vpc is None:
        return CheckResult.compliant(f"VPC {vpc_id} no longer exists")
    if not vpc.get("IsDefault"):
        return CheckResult.compliant(f"VPC {vpc_id} is not a default VPC")
    return CheckResult.violating(f"{vpc_id} is the default VPC of {violation.region}", vpc=vpc)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    vpc_id = resource_id(violation, "vpc")
    async with ctx.aws.client("ec2") as ec2:
        # check read the VPC in this run: no second DescribeVpcs (inventory reads the rest)
        vpc: dict[str, Any] | None = await ctx.checked_or_read("vpc", lambda: read_vpc(ec2, vpc_id))
        if vpc is None or not vpc.get("IsDefault"):
            return Plan(f"VPC {vpc_id} is gone or not a default VPC")
        found = await inventory(ec2, vpc_id)
    if found["blockers"]:
        raise RemediationRefused(
            f"default VPC {vpc_id} is in use; not deleting: " + ", ".join(found["blockers"])
        )
    arn = violation.resource_arn
    changes = [Change("delete_internet_gateway", arn, g, None) for g in found["InternetGateways"]]
    changes += [Change("delete_subnet", arn, s, None) for s in found["Subnets"]]
    changes.append(
        Change("delete_vpc", arn, {"VpcId": vpc_id, "CidrBlock": vpc.get("CidrBlock")}, None)
    )
    return Plan(
        summary=(
            f"delete default VPC {vpc_id} ({vpc.get('CidrBlock')}): detach and delete "
            f"{len(found['InternetGateways'])} internet gateway(s), delete "
            f"{len(found['Subnets'])} subnet(s), then the VPC"
        ),
        changes=changes,
        irreversible=True,
        requires_approval=True,
        notes=[
            "IRREVERSIBLE: there is no undo; aws ec2 create-default-vpc makes a new default "
            "VPC with new ids",
            "an operator approves each deletion, whatever the remediation's mode",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    vpc_id = resource_id(ctx.violation, "vpc")
    async with ctx.aws.client("ec2") as ec2:
        vpc = await read_vpc(ec2, vpc_id)  # re-read right before writing
        if vpc is None:
            return {"VpcId": vpc_id, "Deleted": False}
        if not vpc.get("IsDefault"):
            raise RemediationRefused(f"VPC {vpc_id} is not a default VPC")
        found = await inventory(ec2, vpc_id)
        if found["blockers"]:
            raise RemediationRefused(
                f"default VPC {vpc_id} is in use; not deleting: " + ", ".join(found["blockers"])
            )
        await ctx.record_before(
            {
                "Vpc": vpc,
                "Subnets": found["Subnets"],
                "InternetGateways": found["InternetGateways"],
            }
        )
        for gateway in found["InternetGateways"]:
            await ec2.detach_internet_gateway(InternetGatewayId=gateway, VpcId=vpc_id)
            await ec2.delete_internet_gateway(InternetGatewayId=gateway)
        for subnet in found["Subnets"]:
            await ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        await ec2.delete_vpc(VpcId=vpc_id)
    return {"VpcId": vpc_id, "Deleted": True}


verify = verify_by(check)


RUNBOOK = """\
Region {region} of account {account} has a default VPC, {resource_name} ({rule_id}).
Deleting it is irreversible (a new default VPC gets new ids) and breaks anything in it or
any tooling that assumes a default VPC.
1. Check it is empty: aws ec2 describe-network-interfaces --region {region} \\
     --filters Name=vpc-id,Values={resource_name}
2. Detach and delete its internet gateway, delete its subnets, then the VPC:
   aws ec2 describe-internet-gateways --region {region} \\
     --filters Name=attachment.vpc-id,Values={resource_name}
   aws ec2 detach-internet-gateway --region {region} --internet-gateway-id <igw-…> --vpc-id {resource_name}
   aws ec2 delete-internet-gateway --region {region} --internet-gateway-id <igw-…>
   aws ec2 describe-subnets --region {region} --filters Name=vpc-id,Values={resource_name}
   aws ec2 delete-subnet --region {region} --subnet-id <subnet-…>   (each)
   aws ec2 delete-vpc --region {region} --vpc-id {resource_name}
3. Or set delete_when_empty = true under [remediation."network.delete_default_vpc"]:
   each deletion then waits for an operator's approval, whatever the mode."""


def option_policy(options: Options) -> IamPolicy:
    if not options.delete_when_empty:
        return IamPolicy()
    return describe_policy(
        "ec2:DescribeInternetGateways",
        "ec2:DescribeNetworkAcls",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeRouteTables",
        "ec2:DescribeSecurityGroups",
        "ec2:DescribeSubnets",
        "ec2:DescribeVpcEndpoints",
    ) + IamPolicy.allow(
        [
            "ec2:DeleteInternetGateway",
            "ec2:DeleteSubnet",
            "ec2:DeleteVpc",
            "ec2:DetachInternetGateway",
        ],
        [
            "arn:{partition}:ec2:{region}:{account}:internet-gateway/*",
            "arn:{partition}:ec2:{region}:{account}:subnet/*",
            "arn:{partition}:ec2:{region}:{account}:vpc/*",
        ],
    )


REMEDIATION = Remediation(
    id="network.delete_default_vpc",
    rules=("LW_AWS_NETWORKING_46",),
    title="Delete an unused default VPC (manual; option, irreversible, always approved)",
    description=(
        "Manual by default. delete_when_empty deletes a default VPC with no interfaces, "
        "extra groups, route tables, ACLs or endpoints: gateways, subnets, VPC. No undo; "
        "each deletion waits for an operator's approval even in auto mode."
    ),
    resource_type="ec2:vpc",
    policy=describe_policy("ec2:DescribeVpcs"),
    option_policy=option_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    manual_when=lambda options: not options.delete_when_empty,
    runbook=RUNBOOK,
)
