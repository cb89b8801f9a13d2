"""AWS_CIS_1_21: cis_iam.attach_instance_profile against moto.

moto never checks ``iam:PassRole`` for EC2 and authorises EC2 calls against ``*``
(remediation-catalog.md gap 13); the declared scoping is asserted on the policy itself.
"""

from __future__ import annotations

import json

import pytest

from lw_map_cis_iam.remediations.instance_profile import REMEDIATION
from lw_remediate import ResourceChanged, Status


@pytest.fixture
def profile(admin_client, trust_policy):
    iam = admin_client("iam")
    trust = json.dumps(trust_policy({"Service": "ec2.amazonaws.com"}))
    role = iam.create_role(RoleName="ssm-core", AssumeRolePolicyDocument=trust)
    arn = iam.create_instance_profile(InstanceProfileName="baseline")["InstanceProfile"]["Arn"]
    iam.add_role_to_instance_profile(InstanceProfileName="baseline", RoleName="ssm-core")
    return {
        "action": "associate",
        "instance_profile_arn": arn,
        "role_arn": role["Role"]["Arn"],
    }


@pytest.fixture
def instance(admin_client):
    ec2 = admin_client("ec2")
    # one of moto's bundled AMIs (listing them all is slow)
    response = ec2.run_instances(ImageId="ami-12c6146b", MinCount=1, MaxCount=1)
    return response["Instances"][0]["InstanceId"]


def arn(instance_id):
    return f"arn:aws:ec2:us-east-1:123456789012:instance/{instance_id}"


def associations(admin_client, instance_id):
    response = admin_client("ec2").describe_iam_instance_profile_associations(
        Filters=[{"Name": "instance-id", "Values": [instance_id]}]
    )
    return [a for a in response["IamInstanceProfileAssociations"] if a["State"] == "associated"]


async def test_default_is_manual_with_the_runbook_and_no_write(
    instance, make_violation, run_remediation, write_calls
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)))
    assert record.status is Status.MANUAL
    assert f"--instance-id {instance}" in record.detail
    assert write_calls(record) == []


async def test_option_attaches_the_profile(
    instance, profile, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-70", arn(instance)), options=profile
    )
    assert record.status is Status.REMEDIATED, record.detail
    live = associations(admin_client, instance)
    assert [a["IamInstanceProfile"]["Arn"] for a in live] == [profile["instance_profile_arn"]]
    assert write_calls(record) == ["AssociateIamInstanceProfile"]
    assert record.before_image == {"instance_id": instance, "iam_instance_profile": None}


async def test_instance_with_a_profile_is_resolved_without_a_write(
    instance, profile, make_violation, run_remediation, write_calls, admin_client
):
    admin_client("ec2").associate_iam_instance_profile(
        IamInstanceProfile={"Arn": profile["instance_profile_arn"]}, InstanceId=instance
    )
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), options=profile
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_terminated_instance_is_resolved(
    instance, profile, make_violation, run_remediation, write_calls, admin_client
):
    admin_client("ec2").terminate_instances(InstanceIds=[instance])
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), options=profile
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


def test_associate_needs_the_profile_and_its_role():
    with pytest.raises(ValueError, match="instance_profile_arn and role_arn"):
        REMEDIATION.parse_options({"action": "associate"})


async def test_revert(
    instance, profile, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), options=profile
    )
    detail = await revert_action(REMEDIATION, record, options=profile)
    assert detail.startswith("disassociated")
    assert associations(admin_client, instance) == []


async def test_revert_refuses_after_a_change(
    instance, profile, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), options=profile
    )
    ec2 = admin_client("ec2")
    ec2.disassociate_iam_instance_profile(AssociationId=record.after_image["association_id"])
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=profile)


def test_declared_policy_scopes_passrole_and_the_profile(profile):
    doc = REMEDIATION.policy_for(REMEDIATION.parse_options(profile), revert=True).render(
        account="123456789012"
    )
    by_action = {a: s for s in doc["Statement"] for a in s["Action"]}
    assert by_action["iam:PassRole"]["Resource"] == profile["role_arn"]
    assert by_action["iam:PassRole"]["Condition"] == {
        "StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}
    }
    associate = by_action["ec2:AssociateIamInstanceProfile"]
    assert associate["Resource"] == "arn:aws:ec2:*:123456789012:instance/*"
    assert associate["Condition"] == {
        "ArnEquals": {"ec2:NewInstanceProfile": profile["instance_profile_arn"]}
    }
    assert REMEDIATION.privilege_sensitive


async def test_least_privilege_default(instance, make_violation, least_privilege):
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), expect=Status.MANUAL
    )


async def test_least_privilege_associate(
    instance, profile, make_violation, least_privilege_as_recorded
):
    await least_privilege_as_recorded(
        REMEDIATION, make_violation("AWS_CIS_1_21", arn(instance)), options=profile
    )
