"""LW_S3_16: s3.enable_versioning against moto."""

from __future__ import annotations

import pytest

from lw_map_s3.remediations.versioning import REMEDIATION
from lw_remediate import Status
from lw_remediate.maps import RuleIndex

BUCKET = "unversioned"


async def test_enables_versioning_and_verifies(bucket, make_violation, run_remediation):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET))
    assert record.status is Status.REMEDIATED
    assert bucket.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Enabled"
    assert record.before_image == {"Status": None}
    assert record.plan is not None and record.plan.changes[0].after == "Enabled"


async def test_dry_run_plans_and_changes_nothing(bucket, make_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "enable versioning" in record.detail
    assert "Status" not in bucket.get_bucket_versioning(Bucket=BUCKET)
    assert writes(record) == []


async def test_dry_run_reads_the_status_once(bucket, make_violation, run_remediation):
    # plan builds on what check read in the same run (ctx.checked): one request, not two
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET), mode="dry-run")
    assert [c.operation for c in record.calls] == ["GetBucketVersioning"]


async def test_already_enabled_is_resolved_without_a_write(
    bucket, make_violation, run_remediation, writes
):
    bucket.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_suspended_bucket_is_re_enabled_and_revert_restores_suspended(
    bucket, make_violation, run_remediation, revert_action
):
    bucket.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET))
    assert record.before_image == {"Status": "Suspended"}
    detail = await revert_action(REMEDIATION, record)
    assert "as before" in detail
    assert bucket.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"
    assert record.status is Status.REVERTED


async def test_revert_refuses_when_bucket_changed_since(
    bucket, make_violation, run_remediation, revert_action
):
    from lw_remediate import ResourceChanged

    record = await run_remediation(REMEDIATION, make_violation("LW_S3_16", BUCKET))
    bucket.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege_including_revert(bucket, make_violation, least_privilege):
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_16", BUCKET), revert=True)
    assert report.used == {"s3:GetBucketVersioning", "s3:PutBucketVersioning"}
    assert bucket.get_bucket_versioning(Bucket=BUCKET)["Status"] == "Suspended"


def test_new_style_rule_id_reaches_the_same_remediation():
    index = RuleIndex([REMEDIATION])
    assert index.lookup("lacework-global-97").remediations == (REMEDIATION,)
    assert index.lookup("LW_S3_16").remediations == (REMEDIATION,)
