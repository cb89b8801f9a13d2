"""logging.enable_key_rotation (AWS_CIS_2_8)."""

from __future__ import annotations

import pydantic
import pytest

from lw_map_aws_logging.remediations.key_rotation import REMEDIATION
from lw_remediate import ResourceChanged, Status


@pytest.fixture
def kms(admin_client):
    return admin_client("kms")


@pytest.fixture
def key_violation(make_violation):
    def _make(arn):
        return make_violation("AWS_CIS_2_8", arn, region="us-east-1", reason="RotationNotEnabled")

    return _make


def rotation(kms, key):
    return kms.get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]


async def test_enables_rotation_and_undo_disables_it(
    kms, key_violation, run_remediation, revert_action
):
    key = kms.create_key()["KeyMetadata"]["Arn"]
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.REMEDIATED, record.detail
    assert rotation(kms, key) is True
    assert record.before_image == {"KeyRotationEnabled": False}
    assert "(every 365 days)" in record.plan.summary

    detail = await revert_action(REMEDIATION, record)
    assert "disabled automatic rotation" in detail
    assert rotation(kms, key) is False


async def test_rotation_period_option(kms, key_violation, run_remediation):
    key = kms.create_key()["KeyMetadata"]["Arn"]
    record = await run_remediation(
        REMEDIATION, key_violation(key), options={"rotation_period_days": 180}
    )
    assert record.status is Status.REMEDIATED
    # moto does not return the period from GetKeyRotationStatus: the plan states it.
    [change] = record.plan.changes
    assert change.after == {"KeyRotationEnabled": True, "RotationPeriodInDays": 180}
    assert "every 180 days" in record.plan.summary


async def test_already_rotating_is_resolved_without_a_write(
    kms, key_violation, run_remediation, writes
):
    key = kms.create_key()["KeyMetadata"]["Arn"]
    kms.enable_key_rotation(KeyId=key)
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.RESOLVED
    assert "has automatic rotation enabled" in record.detail
    assert writes(record) == []


async def test_an_asymmetric_key_ends_manual_with_the_procedure(
    kms, key_violation, run_remediation, writes
):
    key = kms.create_key(KeySpec="RSA_2048", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.MANUAL
    assert "is a RSA_2048 key" in record.detail and "Rotate by hand" in record.detail
    # moto would accept enable_key_rotation here (AWS: UnsupportedOperationException)
    assert writes(record) == [] and rotation(kms, key) is False


async def test_imported_key_material_ends_manual(kms, key_violation, run_remediation, writes):
    key = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["Arn"]
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.MANUAL
    assert "key material from EXTERNAL" in record.detail
    assert writes(record) == []


async def test_disabled_key_is_refused_and_deleted_key_resolved(
    kms, key_violation, run_remediation, writes
):
    meta = kms.create_key()["KeyMetadata"]
    key = meta["Arn"]
    kms.disable_key(KeyId=meta["KeyId"])  # moto answers 500 to DisableKey by ARN
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.REFUSED
    assert "is Disabled" in record.detail
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    record = await run_remediation(REMEDIATION, key_violation(key))
    assert record.status is Status.RESOLVED
    assert "pending deletion" in record.detail
    missing = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    record = await run_remediation(REMEDIATION, key_violation(missing))
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_rotation_was_turned_off_since(
    kms, key_violation, run_remediation, revert_action
):
    key = kms.create_key()["KeyMetadata"]["Arn"]
    record = await run_remediation(REMEDIATION, key_violation(key))
    kms.disable_key_rotation(KeyId=key)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


def test_rotation_period_is_validated():
    with pytest.raises(pydantic.ValidationError):
        REMEDIATION.parse_options({"rotation_period_days": 30})


async def test_an_aws_managed_key_is_resolved_without_a_write(
    moto_server, kms, key_violation, run_remediation, writes
):
    """moto answers KeyManager CUSTOMER even for alias/aws/* keys, so the test marks a key
    AWS managed in moto's backend (state the API cannot set)."""
    from moto.kms.models import kms_backends

    meta = kms.create_key(Description="Default key that protects my S3 objects")["KeyMetadata"]
    kms_backends["123456789012"]["us-east-1"].keys[meta["KeyId"]].key_manager = "AWS"
    record = await run_remediation(REMEDIATION, key_violation(meta["Arn"]))
    assert record.status is Status.RESOLVED
    assert "is AWS managed: AWS rotates it every year" in record.detail
    assert writes(record) == []


async def test_dry_run_reads_the_key_once(kms, key_violation, plans_on_check):
    # plan builds on the key and rotation status check read (ctx.checked)
    key = kms.create_key()["KeyMetadata"]["Arn"]
    operations, _ = await plans_on_check(REMEDIATION, key_violation(key))
    assert operations == ["DescribeKey", "GetKeyRotationStatus"]
