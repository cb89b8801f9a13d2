"""network.restrict_default_security_group (AWS_CIS_4_4)."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.default_group import REMEDIATION
from lw_remediate import ResourceChanged, Status


@pytest.fixture
def default_group(ec2, vpc_id):
    """The VPC's default group with the self-reference AWS gives it (moto omits it), an
    IPv4 all-traffic egress (moto's) and an extra egress rule with a description."""
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    group_id = group["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group_id,
        IpPermissions=[
            {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group_id, "Description": "self"}]}
        ],
    )
    ec2.authorize_security_group_egress(
        GroupId=group_id,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 443,
                "ToPort": 443,
                "IpRanges": [{"CidrIp": "10.1.0.0/16", "Description": "proxy"}],
            }
        ],
    )
    return group_id


def rules_of(ec2, group_id):
    [group] = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return group["IpPermissions"], group["IpPermissionsEgress"]


async def test_unused_default_group_is_emptied_and_undo_restores_it(
    ec2, default_group, sg_violation, run_remediation, revert_action
):
    before = rules_of(ec2, default_group)
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_4", default_group))
    assert record.status is Status.REMEDIATED, record.detail
    assert rules_of(ec2, default_group) == ([], [])
    ops = [c.operation for c in record.calls if not c.operation.startswith("Describe")]
    assert sorted(ops) == ["RevokeSecurityGroupEgress", "RevokeSecurityGroupIngress"]
    assert "ingress all traffic " + default_group + " ('self')" in record.plan.summary
    await revert_action(REMEDIATION, record)
    ingress, egress = rules_of(ec2, default_group)
    assert ingress == before[0]
    assert sorted(map(str, egress)) == sorted(map(str, before[1]))


async def test_default_group_in_use_ends_manual_with_the_interfaces(
    ec2, vpc_id, default_group, sg_violation, run_remediation, writes
):
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet, Groups=[default_group])["NetworkInterface"][
        "NetworkInterfaceId"
    ]
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_4", default_group))
    assert record.status is Status.MANUAL
    assert eni in record.detail and "force = true" in record.detail
    assert writes(record) == []
    forced = await run_remediation(
        REMEDIATION, sg_violation("AWS_CIS_4_4", default_group), options={"force": True}
    )
    assert forced.status is Status.REMEDIATED
    assert any(eni in note for note in forced.plan.notes)
    assert rules_of(ec2, default_group) == ([], [])


async def test_empty_default_group_is_resolved(ec2, vpc_id, sg_violation, run_remediation, writes):
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    ec2.revoke_security_group_egress(
        GroupId=group["GroupId"], IpPermissions=group["IpPermissionsEgress"]
    )
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_4", group["GroupId"]))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_a_non_default_group_is_not_this_rules_resource(
    groups, perm, sg_violation, run_remediation, writes
):
    group = groups.create("web", perm.tcp(22, "10.0.0.0/8"))
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_4", group))
    assert record.status is Status.RESOLVED
    assert "not a VPC's default security group" in record.detail
    assert writes(record) == []


async def test_undo_refuses_when_rules_came_back(
    ec2, default_group, sg_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_4", default_group))
    ec2.authorize_security_group_egress(
        GroupId=default_group,
        IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_dry_run_reads_the_group_once(default_group, sg_violation, plans_on_check):
    # plan builds on the group check read (ctx.checked); plan alone reads it itself
    await plans_on_check(
        REMEDIATION,
        sg_violation("AWS_CIS_4_4", default_group),
        "DescribeSecurityGroups",
        options={"force": True},
    )
