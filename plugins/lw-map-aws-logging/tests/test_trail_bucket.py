"""logging.restrict_trail_bucket (AWS_CIS_2_3) and logging.enable_trail_bucket_logging
(AWS_CIS_2_6): lw-map-s3's remediations on the trail's bucket."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_logging.remediations.trail_bucket import REMEDIATION_LOGGING, REMEDIATION_PUBLIC
from lw_remediate import ResourceChanged, Status

TRAIL_BUCKET = "cloudtrail-logs-123456789012"  # the conftest's trail fixture writes here
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
LOG_DELIVERY = "http://acs.amazonaws.com/groups/s3/LogDelivery"
CLOUDTRAIL_WRITE = {
    "Sid": "AWSCloudTrailWrite",
    "Effect": "Allow",
    "Principal": {"Service": "cloudtrail.amazonaws.com"},
    "Action": "s3:PutObject",
    "Resource": f"arn:aws:s3:::{TRAIL_BUCKET}/AWSLogs/123456789012/*",
    "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control"}},
}
PUBLIC_READ = {
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{TRAIL_BUCKET}/*",
}
LOG_OPTIONS = {"target_bucket": "access-logs-{account}-{region}"}
LOG_TARGET = "access-logs-123456789012-us-east-1"


def policy_document(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def make_log_target(s3, name=LOG_TARGET):
    s3.create_bucket(Bucket=name)
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{name}/*",
    }
    s3.put_bucket_policy(Bucket=name, Policy=policy_document(statement))


def group(uri, permission):
    return {"Grantee": {"Type": "Group", "URI": uri}, "Permission": permission}


def grants(s3, bucket=TRAIL_BUCKET):
    return {
        (g["Grantee"].get("URI", g["Grantee"].get("ID")), g["Permission"])
        for g in s3.get_bucket_acl(Bucket=bucket)["Grants"]
    }


def make_public(s3):
    owner = s3.get_bucket_acl(Bucket=TRAIL_BUCKET)["Owner"]
    s3.put_bucket_acl(
        Bucket=TRAIL_BUCKET,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                {
                    "Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
                    "Permission": "FULL_CONTROL",
                },
                group(ALL_USERS, "READ"),
                group(AUTHENTICATED, "READ_ACP"),
                group(LOG_DELIVERY, "WRITE"),
            ],
        },
    )
    s3.put_bucket_policy(Bucket=TRAIL_BUCKET, Policy=policy_document(CLOUDTRAIL_WRITE, PUBLIC_READ))


def statements(s3, bucket=TRAIL_BUCKET):
    return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]


@pytest.mark.parametrize("named", ["trail", "bucket"])
async def test_public_grants_and_statements_go_and_undo_restores_them(
    named, s3, trail, make_violation, run_remediation, revert_action
):
    make_public(s3)
    before_grants = grants(s3)
    arn = trail if named == "trail" else f"arn:aws:s3:::{TRAIL_BUCKET}"
    violation = make_violation("AWS_CIS_2_3", arn, region="us-east-1" if named == "trail" else None)
    record = await run_remediation(REMEDIATION_PUBLIC, violation)
    assert record.status is Status.REMEDIATED, record.detail
    left = grants(s3)
    assert (ALL_USERS, "READ") not in left and (AUTHENTICATED, "READ_ACP") not in left
    assert (LOG_DELIVERY, "WRITE") in left  # not public: kept
    assert statements(s3) == [CLOUDTRAIL_WRITE]
    assert set(record.before_image["Parts"]) == {"AllUsers", "AuthenticatedUsers", "Policy"}
    assert f"trail bucket {TRAIL_BUCKET}" in record.plan.summary

    detail = await revert_action(REMEDIATION_PUBLIC, record)
    assert TRAIL_BUCKET in detail
    assert grants(s3) == before_grants
    assert statements(s3) == [CLOUDTRAIL_WRITE, PUBLIC_READ]


async def test_a_private_trail_bucket_is_resolved_without_a_write(
    s3, trail, trail_violation, run_remediation
):
    s3.put_bucket_policy(Bucket=TRAIL_BUCKET, Policy=policy_document(CLOUDTRAIL_WRITE))
    record = await run_remediation(REMEDIATION_PUBLIC, trail_violation("AWS_CIS_2_3"))
    assert record.status is Status.RESOLVED, record.detail
    assert record.detail.startswith(f"trail bucket {TRAIL_BUCKET}: ")
    assert [c.operation for c in record.calls if c.operation.startswith(("Put", "Delete"))] == []


async def test_public_access_block_option(s3, trail, trail_violation, run_remediation):
    make_public(s3)
    record = await run_remediation(
        REMEDIATION_PUBLIC,
        trail_violation("AWS_CIS_2_3"),
        options={"apply_public_access_block": True},
    )
    assert record.status is Status.REMEDIATED, record.detail
    block = s3.get_public_access_block(Bucket=TRAIL_BUCKET)["PublicAccessBlockConfiguration"]
    assert block["BlockPublicAcls"] and block["IgnorePublicAcls"]


async def test_a_deleted_trail_is_resolved(moto_server, trail_violation, run_remediation):
    record = await run_remediation(REMEDIATION_PUBLIC, trail_violation("AWS_CIS_2_3", "gone"))
    assert record.status is Status.RESOLVED
    assert record.detail == "trail gone no longer exists"


async def test_access_logging_on_the_trails_bucket_and_undo(
    s3, trail, trail_violation, run_remediation, revert_action
):
    make_log_target(s3)
    record = await run_remediation(
        REMEDIATION_LOGGING, trail_violation("AWS_CIS_2_6"), options=LOG_OPTIONS
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert s3.get_bucket_logging(Bucket=TRAIL_BUCKET)["LoggingEnabled"] == {
        "TargetBucket": LOG_TARGET,
        "TargetPrefix": f"{TRAIL_BUCKET}/",
    }
    assert record.before_image == {
        "Bucket": TRAIL_BUCKET,
        "Parts": {"Logging": {"BucketLoggingStatus": {}}},
    }
    await revert_action(REMEDIATION_LOGGING, record, options=LOG_OPTIONS)
    assert "LoggingEnabled" not in s3.get_bucket_logging(Bucket=TRAIL_BUCKET)


async def test_access_logging_on_a_bucket_named_by_the_report(
    s3, trail, make_violation, run_remediation
):
    """CIS 2.6 rows name the bucket (no region)."""
    make_log_target(s3)
    violation = make_violation(
        "AWS_CIS_2_6", f"arn:aws:s3:::{TRAIL_BUCKET}", region=None, reason="LoggingNotEnabled"
    )
    record = await run_remediation(REMEDIATION_LOGGING, violation, options=LOG_OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    assert (
        s3.get_bucket_logging(Bucket=TRAIL_BUCKET)["LoggingEnabled"]["TargetBucket"] == LOG_TARGET
    )


async def test_access_logging_is_refused_without_a_target_naming_this_option(
    s3, trail, trail_violation, run_remediation
):
    record = await run_remediation(REMEDIATION_LOGGING, trail_violation("AWS_CIS_2_6"))
    assert record.status is Status.REFUSED
    assert 'set target_bucket under [remediation."logging.enable_trail_bucket_logging"]' in (
        record.detail
    )


async def test_access_logging_never_targets_the_trail_bucket_itself(
    s3, trail, trail_violation, run_remediation
):
    record = await run_remediation(
        REMEDIATION_LOGGING, trail_violation("AWS_CIS_2_6"), options={"target_bucket": TRAIL_BUCKET}
    )
    assert record.status is Status.REFUSED
    assert "is the configured log target itself" in record.detail


async def test_revert_refuses_when_the_bucket_changed_since(
    s3, trail, trail_violation, run_remediation, revert_action
):
    make_log_target(s3)
    record = await run_remediation(
        REMEDIATION_LOGGING, trail_violation("AWS_CIS_2_6"), options=LOG_OPTIONS
    )
    s3.put_bucket_logging(
        Bucket=TRAIL_BUCKET,
        BucketLoggingStatus={"LoggingEnabled": {"TargetBucket": LOG_TARGET, "TargetPrefix": "x/"}},
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION_LOGGING, record, options=LOG_OPTIONS)


def test_policies_are_lw_map_s3s_plus_reading_the_trail():
    from lw_map_s3.remediations import access_logging, public_acl, public_policy

    assert REMEDIATION_PUBLIC.policy.actions == (
        public_acl.REMEDIATION.policy.actions
        | public_policy.REMEDIATION.policy.actions
        | {"cloudtrail:GetTrail"}
    )
    assert REMEDIATION_LOGGING.policy.actions == (
        access_logging.REMEDIATION.policy.actions | {"cloudtrail:GetTrail"}
    )
    options = REMEDIATION_PUBLIC.parse_options({"apply_public_access_block": True})
    assert "s3:PutBucketPublicAccessBlock" in REMEDIATION_PUBLIC.policy_for(options).actions
