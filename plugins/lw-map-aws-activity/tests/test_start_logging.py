"""activity.start_logging: StopLogging is undone."""

from __future__ import annotations

import pytest

from lw_map_aws_activity.remediations.start_logging import REMEDIATION
from lw_remediate import ResourceChanged, Status

ACCOUNT = "123456789012"
REGION = "us-east-1"

TRAIL = f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main"


@pytest.fixture
def cloudtrail(admin_client):
    admin_client("s3").create_bucket(Bucket="ct-logs")
    ct = admin_client("cloudtrail")
    ct.create_trail(Name="main", S3BucketName="ct-logs")
    return ct


def logging(ct):
    return ct.get_trail_status(Name="main")["IsLogging"]


async def test_starts_logging_and_undo_stops_it(
    cloudtrail, make_violation, run_remediation, revert_action
):
    violation = make_violation("ACTIVITY:STOP_LOGGING", TRAIL, region=REGION)
    record = await run_remediation(REMEDIATION, violation)
    assert record.status is Status.REMEDIATED, record.detail
    assert logging(cloudtrail) is True
    assert record.before_image == {"TrailARN": TRAIL, "IsLogging": False}
    [change] = record.plan.changes
    assert (change.operation, change.before, change.after) == ("start_logging", False, True)
    assert "stopped logging" in await revert_action(REMEDIATION, record)
    assert logging(cloudtrail) is False


async def test_a_logging_trail_is_resolved_without_a_write(
    cloudtrail, make_violation, run_remediation, writes
):
    cloudtrail.start_logging(Name="main")
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_LOGGING", TRAIL, region=REGION)
    )
    assert record.status is Status.RESOLVED and "is logging" in record.detail
    assert writes(record) == []


async def test_a_deleted_trail_is_resolved(moto_server, make_violation, run_remediation, writes):
    gone = TRAIL.replace("main", "gone")
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_LOGGING", gone, region=REGION)
    )
    assert record.status is Status.RESOLVED and "no longer exists" in record.detail
    assert writes(record) == []


async def test_dry_run_changes_nothing(cloudtrail, make_violation, run_remediation, writes):
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_LOGGING", TRAIL, region=REGION), mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert writes(record) == [] and logging(cloudtrail) is False


async def test_undo_refuses_when_logging_was_stopped_again(
    cloudtrail, make_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_LOGGING", TRAIL, region=REGION)
    )
    cloudtrail.stop_logging(Name="main")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege(cloudtrail, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("ACTIVITY:STOP_LOGGING", TRAIL, region=REGION), revert=True
    )
    assert report.used == {
        "cloudtrail:GetTrailStatus",
        "cloudtrail:StartLogging",
        "cloudtrail:StopLogging",
    }
