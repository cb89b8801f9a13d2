"""LW_S3_13: s3.enable_access_logging against moto.

moto validates the target the way S3 does (exists, same region, the logging service
may write), so each target here gets a policy for logging.s3.amazonaws.com.
"""

from __future__ import annotations

import json

import pydantic
import pytest

from lw_map_s3.remediations.access_logging import REMEDIATION
from lw_remediate import ResourceChanged, Status

SOURCE = "app-data"
OPTIONS = {
    "target_bucket": "logs-{account}-{region}",
    "target_prefix": "{account}/{region}/{bucket}/",
}
TARGET = "logs-123456789012-us-east-1"
PREFIX = f"123456789012/us-east-1/{SOURCE}/"


def make_target(s3, name, region="us-east-1", *, writable=True):
    config = (
        {}
        if region == "us-east-1"
        else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    )
    s3.create_bucket(Bucket=name, **config)
    if writable:
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{name}/*",
            "Condition": {"StringEquals": {"aws:SourceAccount": "123456789012"}},
        }
        s3.put_bucket_policy(
            Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        )


def logging_of(s3, bucket=SOURCE):
    return s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled")


@pytest.fixture
def buckets(s3):
    s3.create_bucket(Bucket=SOURCE)
    make_target(s3, TARGET)
    return s3


async def test_enables_logging_to_the_templated_target_and_revert_disables_it(
    buckets, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_13", SOURCE), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    assert logging_of(buckets) == {"TargetBucket": TARGET, "TargetPrefix": PREFIX}
    assert record.before_image == {"BucketLoggingStatus": {}}
    [change] = record.plan.changes
    assert (change.operation, change.before, change.after) == (
        "put_bucket_logging",
        None,
        {"TargetBucket": TARGET, "TargetPrefix": PREFIX},
    )

    detail = await revert_action(REMEDIATION, record, options=OPTIONS)
    assert "disabled" in detail
    assert logging_of(buckets) is None


async def test_bucket_in_another_region_logs_to_that_regions_target(
    s3, make_violation, run_remediation
):
    s3.create_bucket(Bucket=SOURCE, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    make_target(s3, "logs-123456789012-eu-west-1", "eu-west-1")
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_13", SOURCE, region="eu-west-1"), options=OPTIONS
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert logging_of(s3) == {
        "TargetBucket": "logs-123456789012-eu-west-1",
        "TargetPrefix": f"123456789012/eu-west-1/{SOURCE}/",
    }


async def test_refuses_without_a_configured_target(
    buckets, make_violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_13", SOURCE))
    assert record.status is Status.REFUSED
    assert "no log target configured" in record.detail and "target_bucket" in record.detail
    assert writes(record) == [] and logging_of(buckets) is None


@pytest.mark.parametrize(
    ("target", "region", "writable", "message"),
    [
        ("central-logs", None, True, "central-logs does not exist in account 123456789012"),
        ("central-logs", "eu-west-1", True, "S3 logs only to a bucket in the same region"),
        (SOURCE, None, True, "is the configured log target itself"),
        ("central-logs", "us-east-1", False, "S3 refused log target s3://central-logs/"),
    ],
    ids=["missing", "other-region", "itself", "not-writable"],
)
async def test_refuses_an_unusable_target(
    target, region, writable, message, s3, make_violation, run_remediation
):
    s3.create_bucket(Bucket=SOURCE)
    if region:
        make_target(s3, target, region, writable=writable)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_13", SOURCE), options={"target_bucket": target}
    )
    assert record.status is Status.REFUSED
    assert message in record.detail
    assert logging_of(s3) is None


async def test_logging_already_enabled_is_resolved_without_a_write(
    buckets, make_violation, run_remediation, writes
):
    make_target(buckets, "other-logs")
    buckets.put_bucket_logging(
        Bucket=SOURCE,
        BucketLoggingStatus={
            "LoggingEnabled": {"TargetBucket": "other-logs", "TargetPrefix": "x/"}
        },
    )
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-95", SOURCE), options=OPTIONS
    )
    assert record.status is Status.RESOLVED
    assert "other-logs" in record.detail
    assert writes(record) == []


async def test_enforce_target_moves_logging_and_revert_restores_the_old_target(
    buckets, make_violation, run_remediation, revert_action
):
    make_target(buckets, "other-logs")
    old = {"TargetBucket": "other-logs", "TargetPrefix": "x/"}
    buckets.put_bucket_logging(Bucket=SOURCE, BucketLoggingStatus={"LoggingEnabled": old})
    options = {**OPTIONS, "enforce_target": True}
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_13", SOURCE), options=options)
    assert record.status is Status.REMEDIATED
    assert logging_of(buckets) == {"TargetBucket": TARGET, "TargetPrefix": PREFIX}
    assert record.before_image == {"BucketLoggingStatus": {"LoggingEnabled": old}}

    await revert_action(REMEDIATION, record, options=options)
    assert logging_of(buckets) == old


async def test_revert_refuses_when_logging_changed_since(
    buckets, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_13", SOURCE), options=OPTIONS)
    buckets.put_bucket_logging(
        Bucket=SOURCE,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": TARGET, "TargetPrefix": "new/"}},
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=OPTIONS)
    assert logging_of(buckets)["TargetPrefix"] == "new/"


async def test_dry_run_changes_nothing(buckets, make_violation, run_remediation, writes):
    record = await run_remediation(
        REMEDIATION, make_violation("LW_S3_13", SOURCE), options=OPTIONS, mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert f"s3://{TARGET}/{PREFIX}" in record.detail
    assert writes(record) == [] and logging_of(buckets) is None


def test_templates_are_validated():
    with pytest.raises(pydantic.ValidationError, match="only use"):
        REMEDIATION.parse_options({"target_bucket": "logs-{bucket}"})
    with pytest.raises(pydantic.ValidationError, match="only use"):
        REMEDIATION.parse_options({"target_prefix": "{acount}/"})


async def test_least_privilege_including_revert(buckets, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_S3_13", SOURCE), options=OPTIONS, revert=True
    )
    assert report.used == {"s3:GetBucketLogging", "s3:GetBucketLocation", "s3:PutBucketLogging"}
    # The target is only read (its location); the logging service writes to it, not us.
    assert {c.resource for c in report.calls if c.operation == "GetBucketLocation"} == {
        f"arn:aws:s3:::{SOURCE}",
        f"arn:aws:s3:::{TARGET}",
    }
