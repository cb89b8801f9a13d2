"""services.enable_ebs_default_encryption (GENERAL_SECURITY_2) and
services.remove_public_snapshot_permission (GENERAL_SECURITY_3)."""

from __future__ import annotations

import pytest

from lw_map_aws_services.remediations import ebs_encryption, public_snapshot
from lw_remediate import ResourceChanged, Status

ACCOUNT = "123456789012"
OTHER = "210987654321"
REGION = "us-east-1"
GS2 = "LW_AWS_GENERAL_SECURITY_2"
GS3 = "LW_AWS_GENERAL_SECURITY_3"


def volume_arn(volume: str) -> str:
    return f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{volume}"


def snapshot_arn(snapshot: str) -> str:
    return f"arn:aws:ec2:{REGION}::snapshot/{snapshot}"


def default_on(ec2) -> bool:
    return bool(ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"])


# -- GENERAL_SECURITY_2 -------------------------------------------------------------------


async def test_region_default_turned_on_and_undone(
    writes, ec2, volume, violation, run_remediation, revert_action
):
    record = await run_remediation(ebs_encryption.REMEDIATION, violation(GS2, volume_arn(volume)))
    assert record.status is Status.REMEDIATED, record.detail
    assert default_on(ec2)
    assert writes(record) == ["EnableEbsEncryptionByDefault"]
    assert record.before_image == {"EbsEncryptionByDefault": False}
    # the volume itself is not touched: the plan and the result say it needs the runbook
    [volume_state] = ec2.describe_volumes(VolumeIds=[volume])["Volumes"]
    assert volume_state["Encrypted"] is False
    assert f"--volume-id {volume}" in "\n".join(record.plan.notes)
    assert "stays unencrypted" in record.detail
    detail = await revert_action(ebs_encryption.REMEDIATION, record)
    assert "off again" in detail
    assert not default_on(ec2)


async def test_dry_run_plans_without_writing(writes, ec2, volume, violation, run_remediation):
    record = await run_remediation(
        ebs_encryption.REMEDIATION, violation(GS2, volume_arn(volume)), mode="dry-run"
    )
    assert record.status is Status.PLANNED
    [change] = record.plan.changes
    assert (change.operation, change.before, change.after) == (
        "enable_ebs_encryption_by_default",
        False,
        True,
    )
    assert writes(record) == []
    assert not default_on(ec2)


async def test_default_already_on_ends_manual_with_the_volume_runbook(
    writes, ec2, volume, violation, run_remediation
):
    ec2.enable_ebs_encryption_by_default()
    record = await run_remediation(ebs_encryption.REMEDIATION, violation(GS2, volume_arn(volume)))
    assert record.status is Status.MANUAL
    assert "already on" in record.detail
    assert f"aws ec2 create-snapshot --region {REGION} --volume-id {volume}" in record.detail
    assert writes(record) == []


async def test_encrypted_or_gone_volume_is_resolved(writes, ec2, violation, run_remediation):
    encrypted = ec2.create_volume(AvailabilityZone="us-east-1a", Size=1, Encrypted=True)
    for volume in (encrypted["VolumeId"], "vol-0123456789abcdef0"):
        record = await run_remediation(
            ebs_encryption.REMEDIATION, violation(GS2, volume_arn(volume))
        )
        assert record.status is Status.RESOLVED, record.detail
        assert writes(record) == []


async def test_option_off_is_manual_with_reads_only(
    writes, ec2, volume, violation, run_remediation
):
    record = await run_remediation(
        ebs_encryption.REMEDIATION,
        violation(GS2, volume_arn(volume)),
        options={"enable_region_default": False},
    )
    assert record.status is Status.MANUAL
    assert f"--volume-id {volume}" in record.detail
    assert writes(record) == []
    assert not default_on(ec2)


async def test_undo_refuses_when_the_default_was_turned_off_since(
    ec2, volume, violation, run_remediation, revert_action
):
    record = await run_remediation(ebs_encryption.REMEDIATION, violation(GS2, volume_arn(volume)))
    ec2.disable_ebs_encryption_by_default()
    with pytest.raises(ResourceChanged):
        await revert_action(ebs_encryption.REMEDIATION, record)


# -- GENERAL_SECURITY_3 -------------------------------------------------------------------


@pytest.fixture
def public_snap(ec2, volume):
    """A snapshot restorable by everyone and by one named account."""
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        UserIds=[OTHER],
    )
    return snapshot


def permissions(ec2, snapshot):
    response = ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission"
    )
    return response["CreateVolumePermissions"]


async def test_public_snapshot_loses_only_all_and_undo(
    writes, ec2, public_snap, violation, run_remediation, revert_action
):
    record = await run_remediation(
        public_snapshot.REMEDIATION, violation(GS3, snapshot_arn(public_snap))
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert permissions(ec2, public_snap) == [{"UserId": OTHER}]
    assert writes(record) == ["ModifySnapshotAttribute"]
    assert {"Group": "all"} in record.before_image["CreateVolumePermissions"]
    await revert_action(public_snapshot.REMEDIATION, record)
    assert {"Group": "all"} in permissions(ec2, public_snap)
    assert {"UserId": OTHER} in permissions(ec2, public_snap)


async def test_private_or_gone_snapshot_is_resolved(
    writes, ec2, volume, violation, run_remediation
):
    private = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    for snapshot in (private, "snap-0123456789abcdef0"):
        record = await run_remediation(
            public_snapshot.REMEDIATION, violation(GS3, snapshot_arn(snapshot))
        )
        assert record.status is Status.RESOLVED, record.detail
        assert writes(record) == []


async def test_snapshot_arn_with_account_and_bad_id(ec2, public_snap, violation, run_remediation):
    with_account = f"arn:aws:ec2:{REGION}:{ACCOUNT}:snapshot/{public_snap}"
    record = await run_remediation(public_snapshot.REMEDIATION, violation(GS3, with_account))
    assert record.status is Status.REMEDIATED
    record = await run_remediation(
        public_snapshot.REMEDIATION, violation(GS3, f"arn:aws:ec2:{REGION}::snapshot/nope")
    )
    assert record.status is Status.FAILED
    assert "expected a snap-" in record.detail


async def test_snapshot_undo_refuses_when_changed_since(
    ec2, public_snap, violation, run_remediation, revert_action
):
    record = await run_remediation(
        public_snapshot.REMEDIATION, violation(GS3, snapshot_arn(public_snap))
    )
    ec2.modify_snapshot_attribute(
        SnapshotId=public_snap,
        Attribute="createVolumePermission",
        OperationType="remove",
        UserIds=[OTHER],
    )
    with pytest.raises(ResourceChanged):
        await revert_action(public_snapshot.REMEDIATION, record)
