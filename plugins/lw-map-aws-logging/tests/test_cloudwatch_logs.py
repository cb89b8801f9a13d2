"""logging.attach_trail_cloudwatch_logs (AWS_CIS_2_4)."""

from __future__ import annotations

import json

import pydantic
import pytest

from lw_map_aws_logging.remediations.cloudwatch_logs import REMEDIATION
from lw_remediate import ResourceChanged, Status

ROLE = "arn:aws:iam::123456789012:role/cloudtrail-to-cwl"
GROUP = "cloudtrail/123456789012/main"
GROUP_ARN = f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*"
OPTIONS = {"log_group_name": "cloudtrail/{account}/{trail}", "delivery_role_arn": ROLE}


TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


@pytest.fixture(autouse=True)
def role(admin_client):
    """The delivery role ROLE, trusted by CloudTrail."""
    admin_client("iam").create_role(
        RoleName="cloudtrail-to-cwl", AssumeRolePolicyDocument=json.dumps(TRUST)
    )


@pytest.fixture
def logs(admin_client):
    return admin_client("logs")


def cwl(cloudtrail):
    trail = cloudtrail.get_trail(Name="main")["Trail"]
    # moto returns '' for cleared fields where AWS omits them: compare falsy as None.
    return (
        trail.get("CloudWatchLogsLogGroupArn") or None,
        trail.get("CloudWatchLogsRoleArn") or None,
    )


async def test_attaches_an_existing_group_and_undo_clears_it(
    cloudtrail, logs, trail, trail_violation, run_remediation, revert_action, writes
):
    logs.create_log_group(logGroupName=GROUP)
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    assert cwl(cloudtrail) == (GROUP_ARN, ROLE)
    assert writes(record) == ["UpdateTrail"]  # the group existed: nothing created
    assert record.before_image["Settings"] == {
        "CloudWatchLogsLogGroupArn": None,
        "CloudWatchLogsRoleArn": None,
    }

    await revert_action(REMEDIATION, record, options=OPTIONS)
    assert cwl(cloudtrail) == (None, None)


async def test_refused_without_configuration(trail, trail_violation, run_remediation, writes):
    record = await run_remediation(
        REMEDIATION, trail_violation("AWS_CIS_2_4"), options={"delivery_role_arn": ROLE}
    )
    assert record.status is Status.REFUSED
    assert "set log_group_name under" in record.detail
    assert "logging.attach_trail_cloudwatch_logs" in record.detail
    assert writes(record) == []
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"))
    assert "set log_group_name and delivery_role_arn" in record.detail


async def test_a_missing_group_is_refused_unless_creation_is_configured(
    cloudtrail, logs, trail, trail_violation, run_remediation, revert_action, writes
):
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=OPTIONS)
    assert record.status is Status.REFUSED
    assert f"log group {GROUP} does not exist" in record.detail
    assert "create_log_group = true" in record.detail
    assert writes(record) == [] and cwl(cloudtrail) == (None, None)

    options = {**OPTIONS, "create_log_group": True, "retention_days": 365}
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    [group] = logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]
    assert group["retentionInDays"] == 365
    assert record.after_image["CreatedLogGroup"] == GROUP
    assert [c.operation for c in record.plan.changes] == ["create_log_group", "update_trail"]
    assert any("undo leaves log group" in n for n in record.plan.notes)

    await revert_action(REMEDIATION, record, options=options)
    assert cwl(cloudtrail) == (None, None)
    assert logs.describe_log_groups(logGroupNamePrefix=GROUP)["logGroups"]  # kept


async def test_already_integrated_is_resolved_without_a_write(
    cloudtrail, trail, trail_violation, run_remediation, writes
):
    cloudtrail.update_trail(
        Name="main", CloudWatchLogsLogGroupArn=GROUP_ARN, CloudWatchLogsRoleArn=ROLE
    )
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=OPTIONS)
    assert record.status is Status.RESOLVED
    assert "delivers to CloudWatch Logs" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_the_delivery_changed_since(
    cloudtrail, logs, trail, trail_violation, run_remediation, revert_action
):
    logs.create_log_group(logGroupName=GROUP)
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=OPTIONS)
    other = "arn:aws:logs:us-east-1:123456789012:log-group:other:*"
    cloudtrail.update_trail(
        Name="main", CloudWatchLogsLogGroupArn=other, CloudWatchLogsRoleArn=ROLE
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=OPTIONS)
    assert cwl(cloudtrail) == (other, ROLE)


@pytest.mark.parametrize(
    ("role_arn", "message"),
    [
        ("arn:aws:iam::123456789012:role/missing", "does not exist"),
        ("arn:aws:iam::123456789012:role/ec2-only", "does not trust cloudtrail.amazonaws.com"),
    ],
    ids=["missing", "untrusted"],
)
async def test_an_unusable_delivery_role_is_refused(
    role_arn,
    message,
    admin_client,
    cloudtrail,
    logs,
    trail,
    trail_violation,
    run_remediation,
    writes,
):
    ec2_trust = json.loads(json.dumps(TRUST).replace("cloudtrail", "ec2"))
    admin_client("iam").create_role(
        RoleName="ec2-only", AssumeRolePolicyDocument=json.dumps(ec2_trust)
    )
    logs.create_log_group(logGroupName=GROUP)
    options = {**OPTIONS, "delivery_role_arn": role_arn}
    record = await run_remediation(REMEDIATION, trail_violation("AWS_CIS_2_4"), options=options)
    assert record.status is Status.REFUSED
    assert message in record.detail
    assert writes(record) == [] and cwl(cloudtrail) == (None, None)


def test_options_are_validated():
    with pytest.raises(pydantic.ValidationError, match="not an IAM role ARN"):
        REMEDIATION.parse_options({"delivery_role_arn": "cloudtrail-role"})
    with pytest.raises(pydantic.ValidationError, match="may only use"):
        REMEDIATION.parse_options({"log_group_name": "ct/{bucket}"})
    with pytest.raises(pydantic.ValidationError):
        REMEDIATION.parse_options({"retention_days": 42})


def test_option_policy_passes_only_the_configured_role_to_cloudtrail():
    options = REMEDIATION.parse_options({**OPTIONS, "create_log_group": True})
    document = REMEDIATION.policy_for(options).render(account="123456789012")
    [pass_role] = [s for s in document["Statement"] if "iam:PassRole" in s["Action"]]
    assert pass_role["Resource"] == ROLE
    assert pass_role["Condition"] == {
        "StringEquals": {"iam:PassedToService": "cloudtrail.amazonaws.com"}
    }
    assert "logs:PutRetentionPolicy" not in REMEDIATION.policy_for(options).actions
