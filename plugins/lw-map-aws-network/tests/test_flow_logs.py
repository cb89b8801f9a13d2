"""network.enable_vpc_flow_logs (AWS_CIS_2_9, AWS_CIS_4_3)."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.flow_logs import REMEDIATION
from lw_remediate import ResourceChanged, Status

ROLE = "arn:aws:iam::123456789012:role/flow-logs-delivery"
CWL = {"log_group_name": "vpc-flow-logs-{region}", "delivery_role_arn": ROLE}


@pytest.fixture
def vpc_violation(make_violation, vpc_id):
    """A CIS 2.9 violation on the VPC ARN the core builds from a report's bare vpc id."""

    def _make(rule="AWS_CIS_2_9", vpc=None):
        arn = f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc or vpc_id}"
        return make_violation(rule, arn, region="us-east-1", reason="FlowLoggingNotEnabled")

    return _make


@pytest.fixture
def log_group(admin_client):
    admin_client("logs").create_log_group(logGroupName="vpc-flow-logs-us-east-1")


def flow_logs_of(ec2, vpc_id):
    return ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])["FlowLogs"]


async def test_refused_without_a_destination(vpc_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, vpc_violation())
    assert record.status is Status.REFUSED
    assert "no flow-log destination is configured" in record.detail
    assert writes(record) == []


async def test_cloudwatch_destination_and_undo(
    ec2, vpc_id, log_group, vpc_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, vpc_violation(), options=CWL)
    assert record.status is Status.REMEDIATED, record.detail
    [flow_log] = flow_logs_of(ec2, vpc_id)
    assert flow_log["LogGroupName"] == "vpc-flow-logs-us-east-1"
    assert flow_log["DeliverLogsPermissionArn"] == ROLE
    assert flow_log["TrafficType"] == "REJECT"
    assert record.before_image == {"VpcId": vpc_id, "FlowLogs": []}
    assert record.after_image["FlowLogIds"] == [flow_log["FlowLogId"]]
    detail = await revert_action(REMEDIATION, record, options=CWL)
    assert flow_log["FlowLogId"] in detail
    assert flow_logs_of(ec2, vpc_id) == []


async def test_s3_destination_with_all_traffic(
    ec2, vpc_id, admin_client, vpc_violation, run_remediation
):
    admin_client("s3").create_bucket(Bucket="flow-logs-123456789012")
    options = {"s3_bucket_arn": "arn:aws:s3:::flow-logs-{account}", "traffic_type": "ALL"}
    record = await run_remediation(REMEDIATION, vpc_violation("AWS_CIS_4_3"), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    [flow_log] = flow_logs_of(ec2, vpc_id)
    assert flow_log["LogDestination"] == "arn:aws:s3:::flow-logs-123456789012"
    assert flow_log["TrafficType"] == "ALL"


async def test_vpc_with_an_active_flow_log_is_resolved(
    ec2, vpc_id, log_group, vpc_violation, run_remediation, writes
):
    ec2.create_flow_logs(
        ResourceIds=[vpc_id],
        ResourceType="VPC",
        TrafficType="ALL",
        LogGroupName="vpc-flow-logs-us-east-1",
        DeliverLogsPermissionArn=ROLE,
    )
    record = await run_remediation(REMEDIATION, vpc_violation(), options=CWL)
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_missing_vpc_is_resolved(vpc_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION, vpc_violation(vpc="vpc-0123456789abcdef0"), options=CWL
    )
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail


async def test_undo_refuses_when_the_flow_log_is_gone(
    ec2, vpc_id, log_group, vpc_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, vpc_violation(), options=CWL)
    ec2.delete_flow_logs(FlowLogIds=record.after_image["FlowLogIds"])
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=CWL)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"log_group_name": "g"}, "needs delivery_role_arn"),
        (
            {"log_group_name": "g", "delivery_role_arn": ROLE, "s3_bucket_arn": "arn:aws:s3:::b"},
            "not both",
        ),
        ({"s3_bucket_arn": "my-bucket"}, "not an S3 bucket ARN"),
        ({"log_group_name": "g", "delivery_role_arn": "flow-role"}, "not an IAM role ARN"),
    ],
)
def test_bad_destinations_are_rejected(options, message):
    with pytest.raises(ValueError, match=message):
        REMEDIATION.parse_options(options)


def test_declared_policy_scopes_passrole_to_the_delivery_role():
    policy = REMEDIATION.policy_for(REMEDIATION.parse_options(CWL), revert=True)
    doc = policy.render(account="123456789012")
    [passrole] = [s for s in doc["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert passrole["Resource"] == ROLE
    assert passrole["Condition"] == {
        "StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}
    }


async def test_one_minute_aggregation(ec2, vpc_id, log_group, vpc_violation, run_remediation):
    options = {**CWL, "max_aggregation_interval": 60, "traffic_type": "ACCEPT"}
    record = await run_remediation(REMEDIATION, vpc_violation(), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    [flow_log] = flow_logs_of(ec2, vpc_id)
    assert (flow_log["MaxAggregationInterval"], flow_log["TrafficType"]) == (60, "ACCEPT")
