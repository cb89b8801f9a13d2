"""network.delete_unused_security_group (LW_AWS_NETWORKING_1): manual by default."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.unused_group import REMEDIATION
from lw_remediate import ResourceChanged, Status

ENFORCE = {"enforce": True}


@pytest.fixture
def unused(groups, perm, ec2):
    """An unattached group with a described rule, a self-reference and a tag."""
    group = groups.create("old-batch", perm.tcp(8443, "10.2.0.0/16", description="batch"))
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group, "Description": "self"}]}
        ],
    )
    ec2.create_tags(Resources=[group], Tags=[{"Key": "team", "Value": "data"}])
    return group


def exists(ec2, group):
    return bool(
        ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [group]}])[
            "SecurityGroups"
        ]
    )


async def test_manual_by_default(unused, ec2, sg_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", unused))
    assert record.status is Status.MANUAL
    assert f"--group-id {unused}" in record.detail
    assert writes(record) == []
    assert exists(ec2, unused)


async def test_enforce_deletes_and_undo_recreates_with_a_new_id(
    unused, ec2, groups, sg_violation, run_remediation, revert_action
):
    rules = groups.ingress(unused)
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", unused), options=ENFORCE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert record.plan.irreversible and "NEW id" in record.plan.notes[0]
    assert not exists(ec2, unused)
    assert record.before_image["Tags"] == [{"Key": "team", "Value": "data"}]
    detail = await revert_action(REMEDIATION, record, options=ENFORCE)
    [new] = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["old-batch"]}])[
        "SecurityGroups"
    ]
    assert new["GroupId"] != unused and new["GroupId"] in detail
    assert new["Tags"] == [{"Key": "team", "Value": "data"}]
    renamed = {(*r[:3], new["GroupId"] if r[3] == unused else r[3], r[4]) for r in rules}
    assert groups.ingress(new["GroupId"]) == renamed
    assert len(groups.egress(new["GroupId"])) == 1  # all traffic out, as recorded


async def test_attached_group_is_resolved(unused, ec2, vpc_id, sg_violation, run_remediation):
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.2.0/24")["Subnet"]["SubnetId"]
    ec2.create_network_interface(SubnetId=subnet, Groups=[unused])
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", unused), options=ENFORCE
    )
    assert record.status is Status.RESOLVED
    assert "is attached" in record.detail


async def test_referenced_group_is_refused(
    unused, groups, ec2, sg_violation, run_remediation, writes
):
    other = groups.create("app")
    ec2.authorize_security_group_ingress(
        GroupId=other,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "UserIdGroupPairs": [{"GroupId": unused}],
            }
        ],
    )
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", unused), options=ENFORCE
    )
    assert record.status is Status.REFUSED
    assert other in record.detail
    assert writes(record) == []


async def test_default_group_is_resolved(ec2, vpc_id, sg_violation, run_remediation):
    [default] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", default["GroupId"]), options=ENFORCE
    )
    assert record.status is Status.RESOLVED


async def test_undo_refuses_when_the_name_is_taken_again(
    unused, groups, sg_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_1", unused), options=ENFORCE
    )
    groups.create("old-batch")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ENFORCE)


async def test_dry_run_reads_the_group_and_its_interfaces_once(
    unused, sg_violation, plans_on_check
):
    # plan builds on the group and the interfaces check read (ctx.checked) and reads only
    # which groups reference this one; plan alone reads all three itself
    operations, alone = await plans_on_check(
        REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_1", unused),
        "DescribeNetworkInterfaces",
        options=ENFORCE,
    )
    group, interfaces, references = (
        "DescribeSecurityGroups",
        "DescribeNetworkInterfaces",
        "DescribeSecurityGroups",
    )
    assert operations == alone == [group, interfaces, references]
