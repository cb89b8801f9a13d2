"""logging.encrypt_trail_with_cmk (AWS_CIS_2_7)."""

from __future__ import annotations

import json

import pydantic
import pytest

from lw_map_aws_logging.remediations.trail_encryption import REMEDIATION
from lw_remediate import Status

ROOT = {
    "Sid": "Enable IAM User Permissions",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
    "Action": "kms:*",
    "Resource": "*",
}
CLOUDTRAIL = {
    "Sid": "AllowCloudTrailEncrypt",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": ["kms:GenerateDataKey*", "kms:DescribeKey"],
    "Resource": "*",
    "Condition": {
        "StringLike": {
            "kms:EncryptionContext:aws:cloudtrail:arn": "arn:aws:cloudtrail:*:123456789012:trail/*"
        }
    },
}


@pytest.fixture
def kms(admin_client):
    return admin_client("kms")


def make_key(kms, *statements, **kwargs):
    policy = json.dumps({"Version": "2012-10-17", "Statement": list(statements)})
    return kms.create_key(Policy=policy, **kwargs)["KeyMetadata"]["Arn"]


def key_of(cloudtrail):
    return cloudtrail.get_trail(Name="main")["Trail"].get("KmsKeyId") or None


async def test_sets_a_key_cloudtrail_may_use_and_undo_removes_it(
    cloudtrail, kms, trail, trail_violation, run_remediation, revert_action
):
    key = make_key(kms, ROOT, CLOUDTRAIL)
    options = {"kms_key_arn": key}
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_7"), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    assert key_of(cloudtrail) == key
    assert record.before_image["Settings"] == {"KmsKeyId": None}
    assert any("kms:Decrypt" in n for n in record.plan.notes)

    detail = await revert_action(REMEDIATION, record, options=options)
    assert "no KMS key" in detail
    assert key_of(cloudtrail) is None


async def test_key_template_is_filled_in(cloudtrail, kms, trail, trail_violation, run_remediation):
    key = make_key(kms, ROOT, CLOUDTRAIL)
    template = key.replace("123456789012", "{account}").replace("us-east-1", "{region}")
    record = await run_remediation(
        REMEDIATION, trail_violation("AWS_CIS_2_7"), options={"kms_key_arn": template}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert key_of(cloudtrail) == key


async def test_refused_without_a_configured_key(trail, trail_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_7"))
    assert record.status is Status.REFUSED
    assert "set kms_key_arn under" in record.detail
    assert writes(record) == []


@pytest.mark.parametrize(
    ("statements", "create", "why"),
    [
        ([ROOT], {}, "its key policy does not let cloudtrail.amazonaws.com use"),
        (
            [ROOT, {**CLOUDTRAIL, "Effect": "Deny", "Action": "kms:GenerateDataKey*"}],
            {},
            "its key policy does not let cloudtrail.amazonaws.com use",
        ),
        (
            [ROOT, CLOUDTRAIL],
            {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
            "RSA_2048 key, not symmetric",
        ),
    ],
    ids=["no-cloudtrail-statement", "deny-only", "asymmetric"],
)
async def test_refuses_an_unusable_key_with_the_runbook(
    statements, create, why, cloudtrail, kms, trail, trail_violation, run_remediation, writes
):
    key = make_key(kms, *statements, **create)
    record = await run_remediation(
        REMEDIATION, trail_violation("AWS_CIS_2_7"), options={"kms_key_arn": key}
    )
    assert record.status is Status.REFUSED
    assert why in record.detail
    assert '"Principal": {"Service": "cloudtrail.amazonaws.com"}' in record.detail  # runbook
    assert writes(record) == [] and key_of(cloudtrail) is None


async def test_refuses_a_disabled_or_missing_key(
    cloudtrail, kms, trail, trail_violation, run_remediation
):
    key = make_key(kms, ROOT, CLOUDTRAIL)
    kms.disable_key(KeyId=key.rsplit("/", 1)[-1])  # moto answers 500 to DisableKey by ARN
    record = await run_remediation(
        REMEDIATION, trail_violation("AWS_CIS_2_7"), options={"kms_key_arn": key}
    )
    assert record.status is Status.REFUSED
    assert "its state is Disabled" in record.detail
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    record = await run_remediation(
        REMEDIATION, trail_violation("AWS_CIS_2_7"), options={"kms_key_arn": missing}
    )
    assert record.status is Status.REFUSED
    assert "the key does not exist" in record.detail
    assert key_of(cloudtrail) is None


async def test_already_encrypted_is_resolved_without_a_write(
    cloudtrail, kms, trail, trail_violation, run_remediation, writes
):
    key = make_key(kms, ROOT, CLOUDTRAIL)
    cloudtrail.update_trail(Name="main", KmsKeyId=key)
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_7"))
    assert record.status is Status.RESOLVED
    assert key in record.detail
    assert writes(record) == []


def test_key_option_is_validated_and_scopes_the_policy():
    with pytest.raises(pydantic.ValidationError, match="not a KMS key ARN"):
        REMEDIATION.parse_options({"kms_key_arn": "alias/cloudtrail"})
    key = "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    policy = REMEDIATION.policy_for(REMEDIATION.parse_options({"kms_key_arn": key}))
    document = policy.render(account="123456789012", region="eu-west-1")
    [statement] = [s for s in document["Statement"] if "kms:DescribeKey" in s["Action"]]
    assert statement["Action"] == ["kms:DescribeKey", "kms:GetKeyPolicy"]
    assert statement["Resource"] == (
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
