"""AWS_CIS_1_22: cis_iam.create_support_role against moto (with AWS managed policies loaded)."""

from __future__ import annotations

import json

import pytest

from lw_map_cis_iam.remediations.support_role import REMEDIATION
from lw_remediate import ResourceChanged, Status

SUPPORT = "arn:aws:iam::aws:policy/AWSSupportAccess"
TRUSTED = {"trusted_principal_arns": ["arn:aws:iam::111122223333:role/SecOps"]}


def support_roles(admin_client):
    response = admin_client("iam").list_entities_for_policy(PolicyArn=SUPPORT, EntityFilter="Role")
    return [r["RoleName"] for r in response["PolicyRoles"]]


async def test_creates_the_role_and_attaches_support_access(
    aws_managed_policies, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert support_roles(admin_client) == ["aws-support-incident"]
    role = admin_client("iam").get_role(RoleName="aws-support-incident")["Role"]
    assert role["Path"] == "/lw-remediation/"
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"AWS": ["arn:aws:iam::111122223333:role/SecOps"]}
    assert write_calls(record) == ["CreateRole", "AttachRolePolicy"]
    assert [c.operation for c in record.plan.changes] == ["create_role", "attach_role_policy"]
    assert record.plan.changes[0].target == (
        "arn:aws:iam::123456789012:role/lw-remediation/aws-support-incident"
    )


async def test_role_options(aws_managed_policies, make_violation, run_remediation, admin_client):
    record = await run_remediation(
        REMEDIATION,
        make_violation("lacework-global-46", "root"),
        options={
            **TRUSTED,
            "require_mfa": True,
            "role_name": "support",
            "role_path": "/incident/",
            "max_session_duration": 7200,
        },
    )
    assert record.status is Status.REMEDIATED
    role = admin_client("iam").get_role(RoleName="support")["Role"]
    assert role["Path"] == "/incident/" and role["MaxSessionDuration"] == 7200
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Condition"] == {"Bool": {"aws:MultiFactorPresent": "true"}}


async def test_existing_support_role_is_resolved_without_a_write(
    aws_managed_policies, make_violation, run_remediation, write_calls, admin_client
):
    iam = admin_client("iam")
    iam.create_role(RoleName="theirs", AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    iam.attach_role_policy(RoleName="theirs", PolicyArn=SUPPORT)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_without_trusted_principals_it_is_refused(
    aws_managed_policies, make_violation, run_remediation, write_calls
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_22", "root"))
    assert record.status is Status.REFUSED
    assert "trusted_principal_arns" in record.detail
    assert write_calls(record) == []


async def test_same_named_foreign_role_is_refused(
    aws_managed_policies, make_violation, run_remediation, write_calls, admin_client
):
    admin_client("iam").create_role(
        RoleName="aws-support-incident", AssumeRolePolicyDocument=json.dumps({"Statement": []})
    )
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
    assert record.status is Status.REFUSED
    assert "not lw-remediate's" in record.detail
    assert write_calls(record) == []


def test_bad_principal_is_rejected_at_config_time():
    with pytest.raises(ValueError, match="not IAM principal ARNs"):
        REMEDIATION.parse_options({"trusted_principal_arns": ["*"]})


async def test_revert_deletes_the_role(
    aws_managed_policies, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
    assert await revert_action(REMEDIATION, record, options=TRUSTED) == (
        "deleted role aws-support-incident (it did not exist before)"
    )
    assert support_roles(admin_client) == []


async def test_revert_refuses_after_a_change(
    aws_managed_policies, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
    admin_client("iam").put_role_policy(
        RoleName="aws-support-incident",
        PolicyName="extra",
        PolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
            }
        ),
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=TRUSTED)
    assert support_roles(admin_client) == ["aws-support-incident"]


def test_attach_is_bound_to_support_access_and_marked_privilege_sensitive():
    doc = REMEDIATION.policy_for(REMEDIATION.parse_options(TRUSTED), revert=True).render(
        account="123456789012"
    )
    role = "arn:aws:iam::123456789012:role/lw-remediation/aws-support-incident"
    for statement in doc["Statement"]:
        if statement["Action"] != ["iam:ListEntitiesForPolicy"]:
            assert statement["Resource"] == role  # that one role, on its path
        if {"iam:AttachRolePolicy", "iam:DetachRolePolicy"} & set(statement["Action"]):
            assert statement["Condition"] == {
                "ArnLike": {"iam:PolicyARN": "arn:*:iam::aws:policy/AWSSupportAccess"}
            }
    assert REMEDIATION.privilege_sensitive
    assert "PRIVILEGE-SENSITIVE" in REMEDIATION.description


async def test_least_privilege(aws_managed_policies, make_violation, least_privilege_as_recorded):
    await least_privilege_as_recorded(
        REMEDIATION, make_violation("AWS_CIS_1_22", "root"), options=TRUSTED
    )
