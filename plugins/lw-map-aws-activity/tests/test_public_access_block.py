"""activity.restore_public_access_block: a removed or weakened block comes back."""

from __future__ import annotations

import pydantic
import pytest

from lw_map_aws_activity.remediations.public_access_block import FLAGS, REMEDIATION
from lw_remediate import ResourceChanged, Status

ARN = "arn:aws:s3:::pab-bucket"


@pytest.fixture
def s3(admin_client):
    client = admin_client("s3")
    client.create_bucket(Bucket="pab-bucket")
    return client


def block(s3):
    try:
        return s3.get_public_access_block(Bucket="pab-bucket")["PublicAccessBlockConfiguration"]
    except s3.exceptions.ClientError:
        return None


async def test_a_removed_block_is_restored_and_undo_removes_it(
    s3, make_violation, run_remediation, revert_action
):
    violation = make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1")
    record = await run_remediation(REMEDIATION, violation)
    assert record.status is Status.REMEDIATED, record.detail
    assert block(s3) == dict.fromkeys(FLAGS, True)
    assert record.before_image == {"PublicAccessBlock": None}
    await revert_action(REMEDIATION, record)
    assert block(s3) is None


async def test_a_weakened_block_keeps_what_was_on_and_undo_writes_it_back(
    s3, make_violation, run_remediation, revert_action
):
    weak = {**dict.fromkeys(FLAGS, False), "BlockPublicAcls": True}
    s3.put_public_access_block(Bucket="pab-bucket", PublicAccessBlockConfiguration=weak)
    violation = make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1")
    record = await run_remediation(
        REMEDIATION, violation, options={"settings": ["BlockPublicPolicy"]}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert block(s3) == {**weak, "BlockPublicPolicy": True}
    await revert_action(REMEDIATION, record, options={"settings": ["BlockPublicPolicy"]})
    assert block(s3) == weak


async def test_a_full_block_is_resolved(s3, make_violation, run_remediation, writes):
    s3.put_public_access_block(
        Bucket="pab-bucket", PublicAccessBlockConfiguration=dict.fromkeys(FLAGS, True)
    )
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1")
    )
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_a_deleted_bucket_is_resolved(moto_server, make_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION,
        make_violation(
            "ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", "arn:aws:s3:::gone-bkt", region="us-east-1"
        ),
    )
    assert record.status is Status.RESOLVED and "no longer exists" in record.detail


async def test_undo_refuses_when_the_block_changed(
    s3, make_violation, run_remediation, revert_action
):
    violation = make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1")
    record = await run_remediation(REMEDIATION, violation)
    s3.delete_public_access_block(Bucket="pab-bucket")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


def test_unknown_settings_are_rejected():
    with pytest.raises(pydantic.ValidationError, match="choose among"):
        REMEDIATION.parse_options({"settings": ["BlockEverything"]})


async def test_least_privilege(s3, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION,
        make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1"),
        revert=True,
    )
    assert {"s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"} <= report.used


async def test_dry_run_reads_the_block_once(s3, make_violation, plans_on_check):
    # plan builds on the block check read (ctx.checked); plan alone reads it itself
    violation = make_violation("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED", ARN, region="us-east-1")
    operations, _ = await plans_on_check(REMEDIATION, violation)
    assert operations == ["GetPublicAccessBlock"]
