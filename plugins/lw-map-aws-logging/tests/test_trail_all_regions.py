"""logging.enable_multi_region_trail (AWS_CIS_2_1, account-level)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pydantic
import pytest

from lw_map_aws_logging.remediations.trail_all_regions import REMEDIATION
from lw_remediate import AwsSession, ResourceChanged, Status

BUCKET = "cloudtrail-123456789012"
CREATE = {"create_trail": True, "bucket_name": "cloudtrail-{account}"}
NEW_ARN = "arn:aws:cloudtrail:us-east-1:123456789012:trail/lw-remediate-all-regions"


def state(cloudtrail, name="main"):
    trail = cloudtrail.get_trail(Name=name)["Trail"]
    return trail["IsMultiRegionTrail"], cloudtrail.get_trail_status(Name=name)["IsLogging"]


def bucket_policy(s3, bucket=BUCKET):
    try:
        return s3.get_bucket_policy(Bucket=bucket)["Policy"]
    except s3.exceptions.ClientError:
        return None


async def test_makes_the_trail_multi_region_and_logging_and_undo_restores_it(
    cloudtrail, trail, account_violation, run_remediation, revert_action
):
    violation = account_violation("AWS_CIS_2_1", reason="NoTrail")
    record = await run_remediation(REMEDIATION, violation)
    assert record.status is Status.REMEDIATED, record.detail
    assert state(cloudtrail) == (True, True)
    assert record.before_image == {
        "TrailARN": trail,
        "IsMultiRegionTrail": False,
        "IncludeGlobalServiceEvents": True,
        "IsLogging": False,
        "EventSelectors": [],
    }
    assert [c.operation for c in record.plan.changes] == ["update_trail", "start_logging"]
    assert "covers every region" in record.detail

    await revert_action(REMEDIATION, record)
    assert state(cloudtrail) == (False, False)


async def test_a_multi_region_trail_that_stopped_is_only_started(
    cloudtrail, trail, account_violation, run_remediation, writes
):
    cloudtrail.update_trail(Name="main", IsMultiRegionTrail=True)
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REMEDIATED, record.detail
    assert writes(record) == ["StartLogging"]
    assert state(cloudtrail) == (True, True)


async def test_a_logging_multi_region_trail_is_resolved_without_a_write(
    cloudtrail, trail, account_violation, run_remediation, writes
):
    cloudtrail.update_trail(Name="main", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="main")
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.RESOLVED
    assert "main (multi-region, logging, home us-east-1) covers every region" in record.detail
    assert writes(record) == []


async def test_a_trail_of_another_home_region_is_refused_with_that_region(
    admin_client, s3, account_violation, run_remediation, writes
):
    s3.create_bucket(
        Bucket="eu-logs", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    admin_client("cloudtrail", region="eu-west-1").create_trail(
        Name="eu-trail", S3BucketName="eu-logs", IsMultiRegionTrail=True
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REFUSED
    assert "trail eu-trail lives in eu-west-1" in record.detail
    assert writes(record) == []


async def test_several_trails_need_trail_name(
    cloudtrail, trail, account_violation, run_remediation, writes
):
    cloudtrail.create_trail(Name="second", S3BucketName="cloudtrail-logs-123456789012")
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REFUSED
    assert "2 trails in us-east-1 (main, second)" in record.detail and "trail_name" in record.detail
    assert writes(record) == []

    record = await run_remediation(
        REMEDIATION, account_violation("AWS_CIS_2_1"), options={"trail_name": "second"}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert state(cloudtrail, "second") == (True, True)
    assert state(cloudtrail, "main") == (False, False)


async def test_no_trail_is_refused_unless_creation_is_configured(
    moto_server, account_violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REFUSED
    assert "no CloudTrail trail in account 123456789012" in record.detail
    assert "set create_trail = true and bucket_name" in record.detail
    record = await run_remediation(
        REMEDIATION, account_violation("AWS_CIS_2_1"), options={"create_trail": True}
    )
    assert record.status is Status.REFUSED
    assert "set bucket_name under" in record.detail
    assert writes(record) == []


async def test_creates_a_trail_with_the_bucket_policy_cloudtrail_needs_and_undo_deletes_it(
    cloudtrail, s3, account_violation, run_remediation, revert_action
):
    s3.create_bucket(Bucket=BUCKET)
    other = {
        "Sid": "Keep",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteObject",
        "Resource": f"arn:aws:s3:::{BUCKET}/*",
    }
    original = json.dumps({"Version": "2012-10-17", "Statement": [other]})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=original)

    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"), options=CREATE)
    assert record.status is Status.REMEDIATED, record.detail
    trail = cloudtrail.get_trail(Name=NEW_ARN)["Trail"]
    assert trail["IsMultiRegionTrail"] and trail["LogFileValidationEnabled"]
    assert trail["S3BucketName"] == BUCKET
    assert cloudtrail.get_trail_status(Name=NEW_ARN)["IsLogging"] is True
    tags = cloudtrail.list_tags(ResourceIdList=[NEW_ARN])["ResourceTagList"][0]["TagsList"]
    assert {"Key": "managed-by", "Value": "lw-remediate"} in tags
    statements = json.loads(bucket_policy(s3))["Statement"]
    assert statements[0] == other
    assert {s["Action"] for s in statements[1:]} == {"s3:GetBucketAcl", "s3:PutObject"}
    assert all(s["Condition"]["StringEquals"]["aws:SourceArn"] == NEW_ARN for s in statements[1:])
    assert record.before_image == {"Created": None, "Bucket": BUCKET, "BucketPolicy": original}

    detail = await revert_action(REMEDIATION, record, options=CREATE)
    assert "deleted trail" in detail and "restored the policy" in detail
    assert cloudtrail.describe_trails()["trailList"] == []
    assert bucket_policy(s3) == original


async def test_create_keeps_a_policy_that_already_lets_cloudtrail_write(
    cloudtrail, s3, account_violation, run_remediation, revert_action, writes
):
    s3.create_bucket(Bucket=BUCKET)
    statements = [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": ["s3:GetBucketAcl", "s3:PutObject"],
            "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
        }
    ]
    original = json.dumps({"Version": "2012-10-17", "Statement": statements})
    s3.put_bucket_policy(Bucket=BUCKET, Policy=original)
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"), options=CREATE)
    assert record.status is Status.REMEDIATED, record.detail
    assert "PutBucketPolicy" not in writes(record)
    await revert_action(REMEDIATION, record, options=CREATE)
    assert bucket_policy(s3) == original


async def test_create_without_the_bucket_is_refused(
    moto_server, account_violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"), options=CREATE)
    assert record.status is Status.REFUSED
    assert f"bucket {BUCKET} (bucket_name) does not exist" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_the_trail_changed_since(
    cloudtrail, trail, account_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    cloudtrail.stop_logging(Name="main")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert state(cloudtrail) == (True, False)


def test_options_are_validated_and_scope_the_bucket():
    with pytest.raises(pydantic.ValidationError, match="not a valid trail name"):
        REMEDIATION.parse_options({"new_trail_name": "x"})
    with pytest.raises(pydantic.ValidationError, match="may only use"):
        REMEDIATION.parse_options({"bucket_name": "{bucket}"})
    options = REMEDIATION.parse_options(CREATE)
    document = REMEDIATION.policy_for(options, revert=True).render(account="123456789012")
    s3_statements = [s for s in document["Statement"] if s["Action"][0].startswith("s3:")]
    assert {s["Resource"] for s in s3_statements} == {"arn:aws:s3:::cloudtrail-123456789012"}
    assert not any(
        a.startswith("s3:") for a in REMEDIATION.policy_for(revert=True).actions
    )  # no bucket access unless creating


READ_ONLY_DATA = {
    "ReadWriteType": "ReadOnly",
    "IncludeManagementEvents": True,
    "DataResources": [{"Type": "AWS::S3::Object", "Values": ["arn:aws:s3:::payroll/"]}],
}


async def test_management_events_left_out_get_a_selector_and_undo_removes_it(
    cloudtrail, trail, account_violation, run_remediation, revert_action, writes
):
    cloudtrail.update_trail(Name="main", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="main")
    cloudtrail.put_event_selectors(TrailName="main", EventSelectors=[READ_ONLY_DATA])
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REMEDIATED, record.detail
    assert writes(record) == ["PutEventSelectors"]
    selectors = cloudtrail.get_event_selectors(TrailName="main")["EventSelectors"]
    assert selectors[0] == READ_ONLY_DATA  # the operator's selector is kept as it was
    assert selectors[1]["ReadWriteType"] == "All" and selectors[1]["IncludeManagementEvents"]
    assert "log all management events" in record.plan.summary

    await revert_action(REMEDIATION, record)
    assert cloudtrail.get_event_selectors(TrailName="main")["EventSelectors"] == [READ_ONLY_DATA]
    assert state(cloudtrail) == (True, True)


async def test_advanced_selectors_without_management_events_are_refused(
    cloudtrail, trail, account_violation, run_remediation, writes
):
    cloudtrail.update_trail(Name="main", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="main")
    cloudtrail.put_event_selectors(
        TrailName="main",
        AdvancedEventSelectors=[
            {
                "Name": "s3 data only",
                "FieldSelectors": [
                    {"Field": "eventCategory", "Equals": ["Data"]},
                    {"Field": "resources.type", "Equals": ["AWS::S3::Object"]},
                ],
            }
        ],
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert record.status is Status.REFUSED, record.detail
    assert "advanced event selectors" in record.detail
    assert writes(record) == []


PUBLIC_READ = {
    "Sid": "PublicRead",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": f"arn:aws:s3:::{BUCKET}/*",
}


@pytest.mark.parametrize("first", ["create_trail", "public_policy"])
async def test_create_and_a_bucket_policy_remediation_concurrently_both_take_effect(
    cloudtrail, s3, account_violation, make_violation, run_remediation, first
):
    """The create path edits the bucket policy under lw-map-s3's per-bucket lock, like every
    other writer of that policy: run together with LW_S3_11 (remove the public statement),
    neither read-modify-write loses the other's edit."""
    from lw_map_s3.remediations import public_policy

    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(
        Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [PUBLIC_READ]})
    )
    runs = {
        "create_trail": run_remediation(
            REMEDIATION, account_violation("AWS_CIS_2_1"), options=CREATE
        ),
        "public_policy": run_remediation(
            public_policy.REMEDIATION, make_violation("LW_S3_11", BUCKET, region="us-east-1")
        ),
    }
    order = [first, *(k for k in runs if k != first)]
    records = await asyncio.gather(*(runs[k] for k in order))
    assert [r.status for r in records] == [Status.REMEDIATED, Status.REMEDIATED], [
        r.detail for r in records
    ]
    statements = json.loads(bucket_policy(s3))["Statement"]
    assert PUBLIC_READ["Sid"] not in {s.get("Sid") for s in statements}  # S3_11's edit
    assert {s["Action"] for s in statements} == {"s3:GetBucketAcl", "s3:PutObject"}  # 2.1's


async def test_the_bucket_policy_edit_and_its_undo_hold_the_s3_maps_bucket_lock(
    cloudtrail, s3, account_violation, make_violation, run_remediation, revert_action, monkeypatch
):
    """Each bucket-policy call of the create path and of its undo is made while lw-map-s3's
    lock of that bucket is held (the lock every LW_S3 policy/ACL writer takes), so the
    read-modify-write cannot interleave with theirs. The plan's read needs no lock."""
    from lw_map_s3 import bucket_lock

    s3.create_bucket(Bucket=BUCKET)
    lock = bucket_lock(make_violation("LW_S3_11", BUCKET))
    seen: list[tuple[str, bool]] = []
    original = AwsSession.client

    @contextlib.asynccontextmanager
    async def client(self, service):
        async with original(self, service) as made:
            if service == "s3":
                for op in ("GetBucketPolicy", "PutBucketPolicy", "DeleteBucketPolicy"):
                    made.meta.events.register(
                        f"before-call.s3.{op}",
                        lambda event_name, **_: seen.append(
                            (event_name.rsplit(".", 1)[1], lock.locked())
                        ),
                        unique_id=f"lw-test-lock-{op}",
                    )
            yield made

    monkeypatch.setattr(AwsSession, "client", client)
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_2_1"), options=CREATE)
    assert record.status is Status.REMEDIATED, record.detail
    assert seen[-2:] == [("GetBucketPolicy", True), ("PutBucketPolicy", True)], seen
    assert not lock.locked()
    seen.clear()
    await revert_action(REMEDIATION, record, options=CREATE)
    assert seen == [("GetBucketPolicy", True), ("DeleteBucketPolicy", True)]
    assert bucket_policy(s3) is None


async def test_dry_run_reads_the_trails_once(trail, account_violation, plans_on_check):
    # plan builds on the trails, their status and selectors check read (ctx.checked)
    operations, _ = await plans_on_check(REMEDIATION, account_violation("AWS_CIS_2_1"))
    assert operations == ["DescribeTrails", "GetTrailStatus", "GetEventSelectors"]
