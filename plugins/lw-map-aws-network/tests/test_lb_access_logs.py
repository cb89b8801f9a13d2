"""network.enable_lb_access_logs (LW_AWS_NETWORKING_49)."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_network.remediations.lb_access_logs import REMEDIATION
from lw_remediate import ResourceChanged, Status

BUCKET = "elb-logs-123456789012"
OPTIONS = {"bucket": "elb-logs-{account}", "prefix": "{region}/"}


@pytest.fixture
def log_bucket(admin_client):
    s3 = admin_client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_policy(
        Bucket=BUCKET,
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": f"arn:aws:s3:::{BUCKET}/*",
                    }
                ],
            }
        ),
    )
    return s3


def alb_logging(admin_client, arn):
    attrs = admin_client("elbv2").describe_load_balancer_attributes(LoadBalancerArn=arn)
    return {a["Key"]: a["Value"] for a in attrs["Attributes"] if a["Key"].startswith("access_logs")}


async def test_refused_without_a_bucket(alb, lb_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", alb))
    assert record.status is Status.REFUSED
    assert "no access-log bucket is configured" in record.detail
    assert writes(record) == []


async def test_alb_logs_enabled_and_undo(
    alb, log_bucket, admin_client, lb_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", alb), options=OPTIONS
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert alb_logging(admin_client, alb) == {
        "access_logs.s3.enabled": "true",
        "access_logs.s3.bucket": BUCKET,
        "access_logs.s3.prefix": "us-east-1",
    }
    await revert_action(REMEDIATION, record, options=OPTIONS)
    assert alb_logging(admin_client, alb)["access_logs.s3.enabled"] == "false"


async def test_classic_lb_logs_enabled_and_undo(
    classic_lb, log_bucket, admin_client, lb_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", classic_lb), options=OPTIONS
    )
    assert record.status is Status.REMEDIATED, record.detail
    elb = admin_client("elb")
    log = elb.describe_load_balancer_attributes(LoadBalancerName="legacy")[
        "LoadBalancerAttributes"
    ]["AccessLog"]
    assert log["Enabled"] is True and log["S3BucketName"] == BUCKET
    await revert_action(REMEDIATION, record, options=OPTIONS)
    log = elb.describe_load_balancer_attributes(LoadBalancerName="legacy")[
        "LoadBalancerAttributes"
    ]["AccessLog"]
    assert log["Enabled"] is False


async def test_bucket_without_delivery_grant_is_refused(
    alb, admin_client, lb_violation, run_remediation, writes
):
    admin_client("s3").create_bucket(Bucket=BUCKET)
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", alb), options=OPTIONS
    )
    assert record.status is Status.REFUSED
    assert "has no policy" in record.detail
    assert writes(record) == []


async def test_enabled_logs_are_resolved(
    alb, log_bucket, admin_client, lb_violation, run_remediation, writes
):
    admin_client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=alb,
        Attributes=[
            {"Key": "access_logs.s3.enabled", "Value": "true"},
            {"Key": "access_logs.s3.bucket", "Value": "elsewhere"},
        ],
    )
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", alb), options=OPTIONS
    )
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_undo_refuses_when_changed(
    alb, log_bucket, admin_client, lb_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", alb), options=OPTIONS
    )
    admin_client("elbv2").modify_load_balancer_attributes(
        LoadBalancerArn=alb, Attributes=[{"Key": "access_logs.s3.bucket", "Value": "other"}]
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=OPTIONS)


async def test_bucket_check_can_be_skipped_and_classic_interval(
    classic_lb, admin_client, lb_violation, run_remediation, writes
):
    admin_client("s3").create_bucket(Bucket=BUCKET)  # no policy: the check would refuse
    options = {**OPTIONS, "check_bucket_policy": False, "emit_interval": 5}
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_49", classic_lb), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert not any(c.operation == "GetBucketPolicy" for c in record.calls)
    log = admin_client("elb").describe_load_balancer_attributes(LoadBalancerName="legacy")[
        "LoadBalancerAttributes"
    ]["AccessLog"]
    assert (log["EmitInterval"], log["S3BucketPrefix"]) == (5, "us-east-1")


async def test_dry_run_reads_the_attributes_once(alb, log_bucket, lb_violation, plans_on_check):
    # plan builds on the attributes check read (ctx.checked); plan alone reads them itself
    await plans_on_check(
        REMEDIATION,
        lb_violation("LW_AWS_NETWORKING_49", alb),
        "DescribeLoadBalancerAttributes",
        options=OPTIONS,
    )
