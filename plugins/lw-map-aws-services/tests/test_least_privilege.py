"""Least privilege: each remediation succeeds (undo included) as a role holding only its
declared, resource-scoped policy, every recorded call is covered by it, and every declared
action is used (the kit's ``least_privilege.run``)."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_services.remediations import (
    ebs_encryption,
    elb_ciphers,
    encrypt_in_place,
    es_access,
    instance_tags,
    lambda_access,
    lambda_tracing,
    manual,
    public_access,
    public_snapshot,
)
from lw_remediate import IamPolicy, Status
from lw_remediate.testing import LeastPrivilegeError

REGION_ARN = "arn:aws:ec2:us-east-1:123456789012"


@pytest.fixture
def signed_gets_accepted(monkeypatch):
    """moto gap (remediation-catalog-aws §0.2.3): under IAM enforcement moto rejects every
    Lambda and OpenSearch GET/DELETE with SignatureDoesNotMatch before any action check
    (it hashes the wrong body). Test-only: skip moto's signature comparison; the action
    and resource checks still run (see test_lambda_undeclared_action_is_denied)."""
    from moto.iam.access_control import IAMRequestBase

    monkeypatch.setattr(IAMRequestBase, "check_signature", lambda self: None)


async def test_ebs_default_encryption(volume, violation, least_privilege):
    await least_privilege.run(
        ebs_encryption.REMEDIATION,
        violation("LW_AWS_GENERAL_SECURITY_2", f"{REGION_ARN}:volume/{volume}"),
        revert=True,
    )


async def test_public_snapshot(ec2, volume, violation, least_privilege):
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )
    report = await least_privilege.run(
        public_snapshot.REMEDIATION,
        violation("LW_AWS_GENERAL_SECURITY_3", f"arn:aws:ec2:us-east-1::snapshot/{snapshot}"),
        revert=True,
    )
    modify = [c for c in report.calls if c.action == "ec2:ModifySnapshotAttribute"]
    assert {c.resource for c in modify} == {f"arn:aws:ec2:us-east-1::snapshot/{snapshot}"}


async def test_instance_tags(instance, violation, least_privilege):
    report = await least_privilege.run(
        instance_tags.REMEDIATION,
        violation("LW_AWS_GENERAL_SECURITY_1", f"{REGION_ARN}:instance/{instance}"),
        options={"enforce": True, "default_tags": {"owner": "unassigned"}},
        revert=True,
    )
    tagging = [c for c in report.calls if c.action in {"ec2:CreateTags", "ec2:DeleteTags"}]
    assert {c.resource for c in tagging} == {f"{REGION_ARN}:instance/{instance}"}


async def test_instance_tags_manual_default(instance, violation, least_privilege):
    await least_privilege.run(
        instance_tags.REMEDIATION,
        violation("LW_AWS_GENERAL_SECURITY_1", f"{REGION_ARN}:instance/{instance}"),
        expect=Status.MANUAL,
    )


async def test_rds_public_access(db_instance, violation, least_privilege):
    arn = db_instance(PubliclyAccessible=True)
    await least_privilege.run(public_access.RDS_PUBLIC, violation("LW_AWS_RDS_1", arn), revert=True)


@pytest.fixture
def cluster(redshift_cluster):
    return redshift_cluster(PubliclyAccessible=True)


async def test_redshift_public_access(cluster, violation, least_privilege):
    await least_privilege.run(
        public_access.REDSHIFT_PUBLIC, violation("LW_AWS_NETWORKING_37", cluster), revert=True
    )


async def test_redshift_encryption(cluster, violation, least_privilege):
    await least_privilege.run(
        encrypt_in_place.REDSHIFT_ENCRYPTION,
        violation("LW_AWS_GENERAL_SECURITY_5", cluster),
        options={"enforce": True},
    )


def _on_key(report, key):
    """``(operation, action)`` of each recorded call authorised on ``key``."""
    return sorted((c.operation, c.action) for c in report.calls if c.resource == key)


async def test_redshift_encryption_with_a_key(admin_client, cluster, violation, least_privilege):
    # The dependent kms:CreateGrant / kms:DescribeKey are recorded on the configured key and
    # the kit checks them against the declared policy (moto itself never asks for them).
    key = admin_client("kms").create_key()["KeyMetadata"]["Arn"]
    report = await least_privilege.run(
        encrypt_in_place.REDSHIFT_ENCRYPTION,
        violation("LW_AWS_GENERAL_SECURITY_5", cluster),
        options={"enforce": True, "kms_key_id": key},
    )
    assert _on_key(report, key) == [
        ("ModifyCluster", "kms:CreateGrant"),
        ("ModifyCluster", "kms:DescribeKey"),
    ]


async def test_redshift_encryption_without_the_key_actions_fails(
    admin_client, cluster, violation, least_privilege
):
    key = admin_client("kms").create_key()["KeyMetadata"]["KeyId"]
    rem = encrypt_in_place.REDSHIFT_ENCRYPTION
    options = rem.parse_options({"enforce": True, "kms_key_id": key})
    without_key = IamPolicy(
        tuple(s for s in rem.policy_for(options).statements if "kms:CreateGrant" not in s.actions)
    )
    with pytest.raises(LeastPrivilegeError, match=r"not covered.*kms:CreateGrant on .*key/"):
        await least_privilege.run(
            rem,
            violation("LW_AWS_GENERAL_SECURITY_5", cluster),
            options=options,
            policy=without_key,
        )


async def test_domain_encryption_with_a_key(
    admin_client, domain, violation, least_privilege, signed_gets_accepted
):
    key = admin_client("kms").create_key()["KeyMetadata"]["KeyId"]
    report = await least_privilege.run(
        encrypt_in_place.DOMAIN_ENCRYPTION,
        violation("LW_AWS_ELASTICSEARCH_3", domain("search")),
        options={"enforce": True, "kms_key_id": key},
    )
    arn = f"arn:aws:kms:us-east-1:123456789012:key/{key}"
    assert _on_key(report, arn) == [
        ("UpdateDomainConfig", "kms:CreateGrant"),
        ("UpdateDomainConfig", "kms:DescribeKey"),
    ]


async def test_rds_key_manual(db_instance, violation, least_privilege):
    await least_privilege.run(
        manual.RDS_KEY,
        # encrypted with moto's placeholder key id: the key is looked up and is no CMK
        violation("LW_AWS_GENERAL_SECURITY_4", db_instance(StorageEncrypted=True)),
        expect=Status.MANUAL,
    )


async def test_elb_ciphers_classic(classic_sslv3, violation, least_privilege):
    await least_privilege.run(
        elb_ciphers.REMEDIATION,
        violation("LW_AWS_GENERAL_SECURITY_8", classic_sslv3),
        options={"enforce": True},
        revert=True,
        # a classic ELB run uses the classic half of the declared policy only
        policy=IamPolicy.allow(
            [
                "elasticloadbalancing:DescribeLoadBalancerPolicies",
                "elasticloadbalancing:DescribeLoadBalancers",
            ]
        )
        + IamPolicy.allow(
            [
                "elasticloadbalancing:CreateLoadBalancerPolicy",
                "elasticloadbalancing:DeleteLoadBalancerPolicy",
                "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
            ],
            ["arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/*"],
        ),
    )


@pytest.fixture
def role_with_policies(admin_client):
    """fn-role with a customer managed and an inline policy, neither granting X-Ray."""
    iam = admin_client("iam")
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "logs:PutLogEvents", "Resource": "*"}],
        }
    )
    arn = iam.create_policy(PolicyName="logs", PolicyDocument=document)["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="fn-role", PolicyArn=arn)
    iam.put_role_policy(RoleName="fn-role", PolicyName="inline-logs", PolicyDocument=document)


@pytest.mark.parametrize("options", [{}, {"attach_xray_policy": True}])
async def test_lambda_tracing(
    options,
    aws_managed_policies,
    signed_gets_accepted,
    tracing_honoured,
    function,
    role_with_policies,
    violation,
    least_privilege,
):
    report = await least_privilege.run(
        lambda_tracing.REMEDIATION,
        violation("LW_AWS_SERVERLESS_4", function()),
        options=options,
        revert=True,
    )
    attach = [
        c for c in report.calls if c.action in {"iam:AttachRolePolicy", "iam:DetachRolePolicy"}
    ]
    assert {c.resource for c in attach} <= {"arn:aws:iam::123456789012:role/fn-role"}
    assert bool(attach) is bool(options)


async def test_lambda_cross_account(
    signed_gets_accepted, cross_account_permission, function, violation, least_privilege
):
    arn = function()
    cross_account_permission()
    await least_privilege.run(
        lambda_access.REMEDIATION, violation("LW_AWS_SERVERLESS_2", arn), revert=True
    )


async def test_es_domain_policy(signed_gets_accepted, domain, violation, least_privilege):
    arn = domain(
        "search",
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Resource": "*"}
            ],
        },
    )
    await least_privilege.run(
        es_access.REMEDIATION, violation("LW_AWS_ELASTICSEARCH_1", arn), revert=True
    )


async def test_lambda_undeclared_action_is_denied(
    signed_gets_accepted, cross_account_permission, function, violation, least_privilege
):
    arn = function()
    cross_account_permission()
    without_remove = IamPolicy.allow(
        ["lambda:GetFunctionConfiguration", "lambda:GetPolicy"],
        ["arn:{partition}:lambda:{region}:{account}:function:*"],
    )
    with pytest.raises(LeastPrivilegeError, match="RemovePermission"):
        await least_privilege.run(
            lambda_access.REMEDIATION,
            violation("LW_AWS_SERVERLESS_2", arn),
            policy=without_remove,
        )
