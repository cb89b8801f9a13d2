"""The kit's least-privilege assertion must fail whenever the declared policy is wrong."""

from __future__ import annotations

import dataclasses

import pytest

from lw_map_cis_iam.remediations.password_policy import REMEDIATION as PASSWORD_POLICY
from lw_map_s3.remediations.versioning import REMEDIATION as VERSIONING
from lw_remediate import AwsCall, IamPolicy
from lw_remediate.testing import validate_actions
from lw_remediate.testing.least_privilege import LeastPrivilegeError


@pytest.fixture
def bucket(admin_client):
    admin_client("s3").create_bucket(Bucket="bucket-1")


async def test_passes_with_the_declared_policy(bucket, make_violation, least_privilege):
    report = await least_privilege.run(VERSIONING, make_violation("LW_S3_16", "bucket-1"))
    assert report.record.status == "remediated"


async def test_removing_one_action_fails_as_access_denied(
    bucket, make_violation, least_privilege, admin_client
):
    short = IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:{partition}:s3:::*"])
    with pytest.raises(LeastPrivilegeError, match="AccessDenied"):
        await least_privilege.run(VERSIONING, make_violation("LW_S3_16", "bucket-1"), policy=short)
    # moto really refused the write: the bucket is still unversioned.
    assert "Status" not in admin_client("s3").get_bucket_versioning(Bucket="bucket-1")


async def test_removing_an_iam_action_fails(make_violation, least_privilege):
    short = IamPolicy.allow(["iam:GetAccountPasswordPolicy"])
    with pytest.raises(LeastPrivilegeError, match="AccessDenied"):
        await least_privilege.run(
            PASSWORD_POLICY, make_violation("AWS_CIS_1_9", "root"), policy=short
        )


async def test_an_unused_declared_action_fails_as_not_necessary(
    bucket, make_violation, least_privilege
):
    wide = VERSIONING.policy + IamPolicy.allow(["s3:PutBucketAcl"], ["arn:{partition}:s3:::*"])
    with pytest.raises(LeastPrivilegeError, match=r"never used.*s3:PutBucketAcl"):
        await least_privilege.run(VERSIONING, make_violation("LW_S3_16", "bucket-1"), policy=wide)


async def test_a_call_outside_the_declared_resources_fails(bucket, make_violation, least_privilege):
    # Scoped to another bucket: moto denies (S3 resources are enforced).
    narrow = IamPolicy.allow(
        ["s3:GetBucketVersioning", "s3:PutBucketVersioning"], ["arn:aws:s3:::other"]
    )
    with pytest.raises(LeastPrivilegeError):
        await least_privilege.run(VERSIONING, make_violation("LW_S3_16", "bucket-1"), policy=narrow)


async def test_iam_resource_scoping_is_checked_by_the_kit(make_violation, least_privilege):
    # moto checks IAM calls only against "*"; the kit checks the recorded resource itself.
    scoped = IamPolicy.allow(
        ["iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy"],
        ["arn:aws:iam::{account}:user/*"],
    )
    with pytest.raises(LeastPrivilegeError, match="not covered"):
        await least_privilege.run(
            PASSWORD_POLICY, make_violation("AWS_CIS_1_9", "root"), policy=scoped
        )


async def test_invalid_action_names_fail_before_running(bucket, make_violation, least_privilege):
    typo = IamPolicy.allow(["s3:GetBucketVersioning", "s33:PutBucketVersioning"], ["*"])
    with pytest.raises(LeastPrivilegeError, match="unknown service prefix"):
        await least_privilege.run(VERSIONING, make_violation("LW_S3_16", "bucket-1"), policy=typo)


def test_validate_actions_catches_case_wildcards_and_unknowns():
    problems = validate_actions(
        ["s3:getbucketversioning", "s3:Get*", "iam:MakeMeAdmin", "s3:PutBucketAcl"]
    )
    assert len(problems) == 3
    assert any("wrong case" in p for p in problems)
    assert any("wildcards" in p for p in problems)
    assert any("not an IAM action" in p for p in problems)


async def test_revert_actions_must_be_declared(make_violation, least_privilege):
    no_revert = dataclasses.replace(PASSWORD_POLICY, revert_policy=IamPolicy())
    with pytest.raises(LeastPrivilegeError, match="revert failed"):
        await least_privilege.run(no_revert, make_violation("AWS_CIS_1_9", "root"), revert=True)


#: A dependent action declared on PutBucketVersioning (as if AWS checked a key there too).
_KEY = "arn:aws:kms:us-east-1:123456789012:key/k-bucket-1"
_WITH_DEPENDENT = dataclasses.replace(
    VERSIONING,
    aws_calls=(
        AwsCall(
            "s3",
            "PutBucketVersioning",
            dependent=(
                ("kms:DescribeKey", "arn:{partition}:kms:{region}:{account}:key/k-{Bucket}"),
            ),
        ),
    ),
)


async def test_a_declared_dependent_action_is_recorded_and_counts_as_used(
    bucket, make_violation, least_privilege
):
    policy = VERSIONING.policy + IamPolicy.allow(["kms:DescribeKey"], [_KEY])
    report = await least_privilege.run(
        _WITH_DEPENDENT, make_violation("LW_S3_16", "bucket-1"), policy=policy
    )
    dependent = [c for c in report.calls if c.action == "kms:DescribeKey"]
    assert [(c.service, c.operation, c.resource, c.dependent) for c in dependent] == [
        ("s3", "PutBucketVersioning", _KEY, True)
    ]
    assert "s3:PutBucketVersioning" in report.used
    # the request itself is recorded once, as a call of its own
    [put] = [c for c in report.calls if c.operation == "PutBucketVersioning" and not c.dependent]
    assert put.action == "s3:PutBucketVersioning"
    assert dependent[0].to_dict()["dependent"] is True and "dependent" not in put.to_dict()


async def test_a_dependent_action_missing_from_the_policy_fails(
    bucket, make_violation, least_privilege
):
    with pytest.raises(LeastPrivilegeError, match=r"not covered.*kms:DescribeKey on .*k-bucket-1"):
        await least_privilege.run(_WITH_DEPENDENT, make_violation("LW_S3_16", "bucket-1"))


async def test_a_dependent_action_on_another_resource_fails(
    bucket, make_violation, least_privilege
):
    other_key = VERSIONING.policy + IamPolicy.allow(
        ["kms:DescribeKey"], ["arn:aws:kms:us-east-1:123456789012:key/other"]
    )
    with pytest.raises(LeastPrivilegeError, match="not covered"):
        await least_privilege.run(
            _WITH_DEPENDENT, make_violation("LW_S3_16", "bucket-1"), policy=other_key
        )
