"""The sample map's tests, written against the kit only (no conftest, nothing private)."""

from __future__ import annotations

import dataclasses

import pytest
from lw_map_sample_ec2.revoke_world_ssh import REMEDIATION, SECURITY_GROUP

from lw_remediate import IamPolicy, PolicyStatement, Status
from lw_remediate.testing import LeastPrivilegeError

SSH_WORLD = {
    "IpProtocol": "tcp",
    "FromPort": 22,
    "ToPort": 22,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}
HTTPS_WORLD = {
    "IpProtocol": "tcp",
    "FromPort": 443,
    "ToPort": 443,
    "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
}


@pytest.fixture
def group(admin_client):
    ec2 = admin_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group_id = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[SSH_WORLD, HTTPS_WORLD])
    return group_id


@pytest.fixture
def violation(make_violation, group):
    return make_violation(
        "SAMPLE_EC2_1", f"arn:aws:ec2:us-east-1:123456789012:security-group/{group}"
    )


def _ports(admin_client, group):
    [sg] = admin_client("ec2").describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return sorted(p["FromPort"] for p in sg["IpPermissions"])


async def test_revokes_only_world_ssh(admin_client, group, violation, run_remediation):
    record = await run_remediation(REMEDIATION, violation, mode="auto")
    assert record.status is Status.REMEDIATED
    assert _ports(admin_client, group) == [443]
    again = await run_remediation(REMEDIATION, violation, mode="auto")
    assert again.status is Status.RESOLVED


async def test_least_privilege_with_a_resource_scoped_policy(violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, violation, revert=True)
    revoke = next(c for c in report.calls if c.operation == "RevokeSecurityGroupIngress")
    assert (
        revoke.resource
        == f"arn:aws:ec2:us-east-1:123456789012:security-group/{violation.resource_name}"
    )


async def test_another_accounts_groups_do_not_cover_the_call(violation, least_privilege):
    elsewhere = IamPolicy(
        (
            PolicyStatement(("ec2:DescribeSecurityGroups",), ("*",)),
            PolicyStatement(
                ("ec2:RevokeSecurityGroupIngress",),
                ("arn:{partition}:ec2:*:999999999999:security-group/*",),
            ),
        )
    )
    with pytest.raises(LeastPrivilegeError, match="not covered"):
        await least_privilege.run(REMEDIATION, violation, policy=elsewhere)


async def test_tagging_is_scoped_through_the_declaration(violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, violation, options={"tag_fixed_groups": True})
    tag = next(c for c in report.calls if c.operation == "CreateTags")
    assert tag.resource.endswith(f":security-group/{violation.resource_name}")


async def test_without_the_declaration_tagging_is_recorded_on_star(violation, least_privilege):
    undeclared = dataclasses.replace(REMEDIATION, aws_calls=())
    with pytest.raises(LeastPrivilegeError, match="ec2:CreateTags on \\*"):
        await least_privilege.run(undeclared, violation, options={"tag_fixed_groups": True})


def test_the_scoped_pattern_is_what_the_policy_declares():
    assert SECURITY_GROUP in REMEDIATION.policy.statements[1].resources
