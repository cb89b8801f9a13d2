"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

A dry-run reads the security group's rules (or the VPC) once, not twice; ``plan`` on its
own (``ctx.checked`` None) still reads them itself and plans exactly the same change.
"""

from __future__ import annotations

from lw_map_aws_network.remediations import default_vpc, unrestricted_ingress, world_ingress

WORLD = "0.0.0.0/0"


async def test_world_ingress(groups, perm, sg_violation, plans_on_check):
    group = groups.create("web", perm.tcp(22, WORLD, description="ssh"), perm.tcp(443, WORLD))
    operations, alone = await plans_on_check(
        world_ingress.REMEDIATION,
        sg_violation("AWS_CIS_4_1", group),
        "DescribeSecurityGroupRules",
        options={"trusted_cidrs": ["10.8.0.0/16"]},
        each_once=True,
    )
    assert operations == alone == ["DescribeSecurityGroupRules"]


async def test_unrestricted_ingress(groups, perm, sg_violation, plans_on_check):
    group = groups.create("web", perm.tcp(8080, WORLD), perm.tcp(22, "10.0.0.0/8"))
    operations, alone = await plans_on_check(
        unrestricted_ingress.REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_5", group),
        "DescribeSecurityGroupRules",
        options={"enforce": True},
        each_once=True,
    )
    assert operations == alone == ["DescribeSecurityGroupRules"]


async def test_default_vpc(ec2, make_violation, plans_on_check):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    arn = f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc['VpcId']}"
    violation = make_violation("LW_AWS_NETWORKING_46", arn, region="us-east-1")
    operations, alone = await plans_on_check(
        default_vpc.REMEDIATION,
        violation,
        "DescribeVpcs",
        options={"delete_when_empty": True},
        each_once=True,
    )
    # check: the VPC; plan: what is in it (the VPC itself is not described again)
    assert operations == alone
    assert operations[0] == "DescribeVpcs" and len(operations) > 1
