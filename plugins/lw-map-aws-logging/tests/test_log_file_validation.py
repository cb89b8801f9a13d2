"""logging.enable_log_file_validation (AWS_CIS_2_2)."""

from __future__ import annotations

import pytest

from lw_map_aws_logging.remediations.log_file_validation import REMEDIATION
from lw_remediate import ResourceChanged, Status


def validation(cloudtrail):
    return cloudtrail.get_trail(Name="main")["Trail"]["LogFileValidationEnabled"]


async def test_enables_validation_and_undo_disables_it(
    cloudtrail, trail, trail_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_2"))
    assert record.status is Status.REMEDIATED, record.detail
    assert validation(cloudtrail) is True
    assert record.before_image == {
        "TrailARN": trail,
        "Settings": {"LogFileValidationEnabled": None},
    }
    [change] = record.plan.changes
    assert (change.operation, change.target) == ("update_trail", trail)
    assert change.after == {"LogFileValidationEnabled": True}

    detail = await revert_action(REMEDIATION, record)
    assert "log file validation off" in detail
    assert validation(cloudtrail) is False


async def test_already_enabled_is_resolved_without_a_write(
    cloudtrail, trail, trail_violation, run_remediation, writes
):
    cloudtrail.update_trail(Name="main", EnableLogFileValidation=True)
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_2"))
    assert record.status is Status.RESOLVED
    assert "has log file validation enabled" in record.detail
    assert writes(record) == []


async def test_a_deleted_trail_is_resolved(moto_server, trail_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_2", "gone"))
    assert record.status is Status.RESOLVED
    assert record.detail == "trail gone no longer exists"
    assert writes(record) == []


async def test_dry_run_changes_nothing(cloudtrail, trail, trail_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_2"), mode="dry-run")
    assert record.status is Status.PLANNED
    assert "set log file validation on (now log file validation off)" in record.detail
    assert writes(record) == [] and validation(cloudtrail) is False


async def test_refused_outside_the_trails_home_region(
    admin_client, s3, make_violation, run_remediation, writes
):
    """A multi-region trail seen from another region is changed only in its home region."""
    s3.create_bucket(
        Bucket="eu-trail-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    admin_client("cloudtrail", region="eu-west-1").create_trail(
        Name="eu-trail", S3BucketName="eu-trail-logs", IsMultiRegionTrail=True
    )
    arn = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/eu-trail"
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_2_2", arn, region="us-east-1")
    )
    assert record.status is Status.REFUSED, record.detail
    assert "lives in eu-west-1" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_the_trail_changed_since(
    cloudtrail, trail, trail_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_2"))
    cloudtrail.update_trail(Name="main", EnableLogFileValidation=False)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
