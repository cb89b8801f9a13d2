"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

A dry-run reads the security group's rules (or the VPC) once, not twice; ``plan`` on its
own (``ctx.checked`` None) still reads them itself and plans exactly the same change.
"""

from __future__ import annotations

from collections import Counter

from lw_map_aws_network.remediations import default_vpc, unrestricted_ingress, world_ingress
from lw_remediate import Status

WORLD = "0.0.0.0/0"


def repeated(record):
    """Requests of the record made more than once (same operation on the same resource)."""
    counts = Counter((c.operation, c.resource) for c in record.calls if not c.dependent)
    return [key for key, n in counts.items() if n > 1]


async def assert_reads_once(remediation, violation, read, run_remediation, plan_alone, **opts):
    record = await run_remediation(remediation, violation, mode="dry-run", **opts)
    assert record.status is Status.PLANNED, record.detail
    operations = [c.operation for c in record.calls if not c.dependent]
    assert operations.count(read) == 1, operations
    assert repeated(record) == []
    plan, alone = await plan_alone(remediation, violation, **opts)
    assert alone.count(read) == 1, alone
    assert plan.to_dict() == record.plan.to_dict()
    return operations, alone


async def test_world_ingress(groups, perm, sg_violation, run_remediation, plan_alone):
    group = groups.create("web", perm.tcp(22, WORLD, description="ssh"), perm.tcp(443, WORLD))
    operations, alone = await assert_reads_once(
        world_ingress.REMEDIATION,
        sg_violation("AWS_CIS_4_1", group),
        "DescribeSecurityGroupRules",
        run_remediation,
        plan_alone,
        options={"trusted_cidrs": ["10.8.0.0/16"]},
    )
    assert operations == alone == ["DescribeSecurityGroupRules"]


async def test_unrestricted_ingress(groups, perm, sg_violation, run_remediation, plan_alone):
    group = groups.create("web", perm.tcp(8080, WORLD), perm.tcp(22, "10.0.0.0/8"))
    operations, alone = await assert_reads_once(
        unrestricted_ingress.REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_5", group),
        "DescribeSecurityGroupRules",
        run_remediation,
        plan_alone,
        options={"enforce": True},
    )
    assert operations == alone == ["DescribeSecurityGroupRules"]


async def test_default_vpc(ec2, make_violation, run_remediation, plan_alone):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    arn = f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc['VpcId']}"
    violation = make_violation("LW_AWS_NETWORKING_46", arn, region="us-east-1")
    operations, alone = await assert_reads_once(
        default_vpc.REMEDIATION,
        violation,
        "DescribeVpcs",
        run_remediation,
        plan_alone,
        options={"delete_when_empty": True},
    )
    # check: the VPC; plan: what is in it (the VPC itself is not described again)
    assert operations == alone
    assert operations[0] == "DescribeVpcs" and len(operations) > 1
