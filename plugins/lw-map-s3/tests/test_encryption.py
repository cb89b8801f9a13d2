"""LW_S3_14: s3.enable_default_encryption against moto.

A new moto bucket has no default encryption (AWS buckets get SSE-S3 since 2023),
which is what makes the unencrypted case seedable here.
"""

from __future__ import annotations

import pydantic
import pytest

from lw_map_s3.remediations.encryption import REMEDIATION
from lw_remediate import ResourceChanged, Status

BUCKET = "customer-uploads"
SSE_S3 = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}


def rules_of(s3):
    try:
        return s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    except s3.exceptions.ClientError as exc:
        if exc.response["Error"]["Code"] == "ServerSideEncryptionConfigurationNotFoundError":
            return None
        raise


def algorithms(s3):
    return [r["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] for r in rules_of(s3) or []]


@pytest.fixture
def kms_key(admin_client, moto_server):
    return admin_client("kms").create_key(Description="s3 default")["KeyMetadata"]["Arn"]


def kms_options(key, **extra):
    return {"sse_algorithm": "aws:kms", "kms_key_arn": key, **extra}


async def test_sets_sse_s3_and_revert_removes_it(
    bucket, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_14", BUCKET))
    assert record.status is Status.REMEDIATED, record.detail
    assert algorithms(bucket) == ["AES256"]
    assert record.before_image == {"ServerSideEncryptionConfiguration": None}
    [change] = record.plan.changes
    assert change.after == {"Rules": [SSE_S3]} and change.before is None

    detail = await revert_action(REMEDIATION, record)
    assert "deleted" in detail
    assert rules_of(bucket) is None


async def test_sse_kms_option_uses_the_validated_key(
    bucket, kms_key, make_violation, run_remediation
):
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_14", BUCKET), options=kms_options(kms_key)
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert rules_of(bucket) == [
        {
            "ApplyServerSideEncryptionByDefault": {
                "SSEAlgorithm": "aws:kms",
                "KMSMasterKeyID": kms_key,
            },
            "BucketKeyEnabled": True,
        }
    ]
    assert any("kms:Decrypt" in note for note in record.plan.notes)


async def test_sse_kms_replaces_sse_s3_and_revert_restores_it(
    bucket, kms_key, make_violation, run_remediation, revert_action
):
    bucket.put_bucket_encryption(
        Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [SSE_S3]}
    )
    options = kms_options(kms_key)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_14", BUCKET), options=options)
    assert record.status is Status.REMEDIATED
    assert algorithms(bucket) == ["aws:kms"]
    await revert_action(REMEDIATION, record, options=options)
    assert algorithms(bucket) == ["AES256"]


async def test_unusable_kms_key_is_refused(
    bucket, kms_key, admin_client, make_violation, run_remediation, writes
):
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_14", BUCKET), options=kms_options(missing)
    )
    assert record.status is Status.REFUSED
    assert "does not exist" in record.detail

    admin_client("kms").disable_key(KeyId=kms_key.rsplit("/", 1)[1])  # moto: id, not ARN
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_14", BUCKET), options=kms_options(kms_key)
    )
    assert record.status is Status.REFUSED
    assert "it is Disabled" in record.detail
    assert writes(record) == [] and rules_of(bucket) is None


@pytest.mark.parametrize(
    ("existing", "options"),
    [
        (SSE_S3, {}),
        (
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}},
            {},
        ),  # stronger than SSE-S3
        (
            {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"}},
            {"sse_algorithm": "aws:kms", "kms_key_arn": "arn:aws:kms:{region}:{account}:alias/s3"},
        ),  # accept_existing_kms
    ],
    ids=["sse-s3", "kms-for-sse-s3", "other-kms-key-accepted"],
)
async def test_compliant_bucket_is_resolved_without_a_write(
    existing, options, bucket, make_violation, run_remediation, writes
):
    bucket.put_bucket_encryption(
        Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [existing]}
    )
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-217", BUCKET), options=options
    )
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_aes256_bucket_violates_when_kms_is_required(
    bucket, kms_key, make_violation, run_remediation
):
    bucket.put_bucket_encryption(
        Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [SSE_S3]}
    )
    record = await run_remediation(
        REMEDIATION,
        make_violation("LW_S3_14", BUCKET),
        options=kms_options(kms_key),
        mode="dry-run",
    )
    assert record.status is Status.PLANNED
    assert f"SSE-KMS with {kms_key}" in record.detail
    assert algorithms(bucket) == ["AES256"]


async def test_dry_run_changes_nothing(bucket, make_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_14", BUCKET), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "SSE-S3 (AES256)" in record.detail
    assert writes(record) == [] and rules_of(bucket) is None


async def test_revert_refuses_when_encryption_changed_since(
    bucket, kms_key, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_14", BUCKET))
    bucket.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": {
                        "SSEAlgorithm": "aws:kms",
                        "KMSMasterKeyID": kms_key,
                    }
                }
            ]
        },
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert algorithms(bucket) == ["aws:kms"]


def test_kms_needs_a_key():
    with pytest.raises(pydantic.ValidationError, match="needs kms_key_arn"):
        REMEDIATION.parse_options({"sse_algorithm": "aws:kms"})
    with pytest.raises(pydantic.ValidationError, match="KMS key or alias ARN"):
        REMEDIATION.parse_options({"sse_algorithm": "aws:kms", "kms_key_arn": "my-key"})
    with pytest.raises(pydantic.ValidationError, match="KMS key or alias ARN"):
        REMEDIATION.parse_options({"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:s3-key"})


async def test_least_privilege_including_revert(bucket, make_violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_14", BUCKET), revert=True)
    assert report.used == {"s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"}
    assert "DeleteBucketEncryption" in {c.operation for c in report.calls}


async def test_least_privilege_with_kms(bucket, kms_key, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_14", BUCKET), options=kms_options(kms_key), revert=True
    )
    assert "kms:DescribeKey" in report.used
    # Scoped to the configured key, not "*".
    assert {c.resource for c in report.calls if c.action == "kms:DescribeKey"} == {kms_key}


async def test_least_privilege_with_a_kms_alias(
    bucket, kms_key, admin_client, make_violation, least_privilege
):
    admin_client("kms").create_alias(AliasName="alias/s3-default", TargetKeyId=kms_key)
    options = kms_options("arn:aws:kms:{region}:{account}:alias/s3-default")
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_14", BUCKET), options=options, revert=True
    )
    assert {c.resource for c in report.calls if c.action == "kms:DescribeKey"} == {
        "arn:aws:kms:us-east-1:123456789012:alias/s3-default"
    }
