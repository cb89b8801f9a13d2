"""logging.create_metric_filter_alarm (AWS_CIS_3_1 ... AWS_CIS_3_14)."""

from __future__ import annotations

import pydantic
import pytest

from lw_map_aws_logging._patterns import RULES, same_pattern, terms
from lw_map_aws_logging.remediations.metric_alarms import REMEDIATION
from lw_remediate import ResourceChanged, Status

GROUP = "cloudtrail/main"
TOPIC = "arn:aws:sns:us-east-1:123456789012:cis-alarms"
OPTIONS = {"sns_topic_arn": "arn:aws:sns:{region}:{account}:cis-alarms"}


@pytest.fixture
def logs(admin_client):
    return admin_client("logs")


@pytest.fixture
def cloudwatch(admin_client):
    return admin_client("cloudwatch")


@pytest.fixture
def sns(admin_client):
    return admin_client("sns")


@pytest.fixture
def integrated(cloudtrail, logs, trail):
    """Trail ``main`` made multi-region and delivering to GROUP."""
    logs.create_log_group(logGroupName=GROUP)
    cloudtrail.update_trail(
        Name="main",
        IsMultiRegionTrail=True,
        CloudWatchLogsLogGroupArn=f"arn:aws:logs:us-east-1:123456789012:log-group:{GROUP}:*",
        CloudWatchLogsRoleArn="arn:aws:iam::123456789012:role/ct-cwl",
    )
    return GROUP


@pytest.fixture
def topic(sns):
    """The alarm topic, with a subscriber (moto confirms an email subscription at once)."""
    arn = sns.create_topic(Name="cis-alarms")["TopicArn"]
    sns.subscribe(TopicArn=arn, Protocol="email", Endpoint="secops@example.com")
    return arn


def filters(logs):
    return logs.describe_metric_filters(logGroupName=GROUP)["metricFilters"]


def alarms(cloudwatch):
    return cloudwatch.describe_alarms()["MetricAlarms"]


@pytest.mark.parametrize("rule", sorted(RULES, key=lambda r: int(r.rsplit("_", 1)[1])))
async def test_every_rule_gets_its_filter_and_alarm(
    rule, integrated, topic, logs, cloudwatch, account_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, account_violation(rule), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    name, pattern = RULES[rule].name, RULES[rule].pattern
    [f] = filters(logs)
    assert (f["filterName"], f["filterPattern"]) == (name, pattern)
    assert f["metricTransformations"][0]["metricNamespace"] == "CISBenchmark"
    [alarm] = alarms(cloudwatch)
    assert alarm["AlarmName"] == name and alarm["AlarmActions"] == [TOPIC]
    assert alarm["MetricName"] == name
    assert (alarm["Statistic"], alarm["Threshold"], alarm["Period"]) == ("Sum", 1.0, 300)

    detail = await revert_action(REMEDIATION, record, options=OPTIONS)
    assert f"deleted alarm {name} and metric filter {name}" == detail
    assert filters(logs) == [] and alarms(cloudwatch) == []


async def test_compliant_account_is_resolved_without_a_write(
    integrated, topic, logs, cloudwatch, account_violation, run_remediation, writes
):
    # An equivalent pattern written differently (spacing, quoting, order) counts.
    logs.put_metric_filter(
        logGroupName=GROUP,
        filterName="root-usage",
        filterPattern='{ $.eventType != "AwsServiceEvent" && $.userIdentity.invokedBy NOT EXISTS '
        '&& $.userIdentity.type = "Root" }',
        metricTransformations=[
            {"metricName": "Root", "metricNamespace": "Security", "metricValue": "1"}
        ],
    )
    cloudwatch.put_metric_alarm(
        AlarmName="root",
        MetricName="Root",
        Namespace="Security",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=[topic],
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_3"), options=OPTIONS)
    assert record.status is Status.RESOLVED, record.detail
    assert "metric filter root-usage for use of the root account with alarm root" in record.detail
    assert writes(record) == []


async def test_an_existing_matching_filter_is_reused_and_only_the_alarm_added(
    integrated, topic, logs, cloudwatch, account_violation, run_remediation, revert_action
):
    logs.put_metric_filter(
        logGroupName=GROUP,
        filterName="mine",
        filterPattern=RULES["AWS_CIS_3_5"].pattern,
        metricTransformations=[
            {"metricName": "Trail", "metricNamespace": "Sec", "metricValue": "1"}
        ],
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_5"), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    assert [c.operation for c in record.plan.changes] == ["put_metric_alarm"]
    [alarm] = alarms(cloudwatch)
    assert (alarm["Namespace"], alarm["MetricName"]) == ("Sec", "Trail")

    await revert_action(REMEDIATION, record, options=OPTIONS)
    assert [f["filterName"] for f in filters(logs)] == ["mine"]  # not ours: kept
    assert alarms(cloudwatch) == []


async def test_without_an_integrated_trail_it_refuses_naming_cis_2_4(
    trail, topic, account_violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_1"), options=OPTIONS)
    assert record.status is Status.REFUSED
    assert "remediate AWS_CIS_2_4 first" in record.detail
    assert writes(record) == []


async def test_refused_without_a_topic_and_when_it_does_not_exist(
    integrated, account_violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_1"))
    assert record.status is Status.REFUSED
    assert 'set sns_topic_arn under [remediation."logging.create_metric_filter_alarm"]' in (
        record.detail
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_1"), options=OPTIONS)
    assert record.status is Status.REFUSED
    assert f"SNS topic {TOPIC} does not exist" in record.detail and "create_topic" in record.detail
    assert writes(record) == []


async def test_create_topic_option(
    integrated, sns, cloudwatch, account_violation, run_remediation, revert_action
):
    options = {**OPTIONS, "create_topic": True}
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_1"), options=options)
    # A new topic has no subscriber yet: the alarm is in place but notifies nobody.
    assert record.status is Status.UNVERIFIED, record.detail
    assert f"SNS topic {TOPIC} has no confirmed subscriber" in record.detail
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [TOPIC]
    assert alarms(cloudwatch)[0]["AlarmActions"] == [TOPIC]
    detail = await revert_action(REMEDIATION, record, options=options)
    assert "stays" in detail
    assert [t["TopicArn"] for t in sns.list_topics()["Topics"]] == [TOPIC]


async def test_an_alarm_of_the_same_name_is_never_overwritten(
    integrated, topic, cloudwatch, account_violation, run_remediation, writes
):
    cloudwatch.put_metric_alarm(
        AlarmName="UnauthorizedAPICalls",
        MetricName="Other",
        Namespace="Team",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=5,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
    )
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_1"), options=OPTIONS)
    assert record.status is Status.REFUSED
    assert "alarm UnauthorizedAPICalls already exists" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_the_alarm_changed_since(
    integrated, topic, cloudwatch, account_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_2"), options=OPTIONS)
    alarm = alarms(cloudwatch)[0]
    cloudwatch.put_metric_alarm(
        AlarmName=alarm["AlarmName"],
        MetricName=alarm["MetricName"],
        Namespace=alarm["Namespace"],
        Statistic="Sum",
        Period=300,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        AlarmActions=["arn:aws:sns:us-east-1:123456789012:other"],
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=OPTIONS)


def test_patterns_compare_semantically():
    cis = RULES["AWS_CIS_3_5"].pattern
    reordered = (
        '{ ($.eventName = StopLogging) || ($.eventName = "CreateTrail") || '
        "($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || ($.eventName = StartLogging) }"
    )
    assert same_pattern(cis, reordered)
    assert not same_pattern(cis, cis.replace(" || ($.eventName=StopLogging)", ""))
    assert not same_pattern(cis, cis.replace("||", "&&"))
    assert terms(RULES["AWS_CIS_3_3"].pattern)[("userIdentity.invokedBy", "NOT EXISTS", "")] == 1
    assert len({r.name for r in RULES.values()}) == 14
    assert set(RULES) == {f"AWS_CIS_3_{n}" for n in range(1, 15)}


def test_topic_option_is_validated():
    with pytest.raises(pydantic.ValidationError, match="not an SNS topic ARN"):
        REMEDIATION.parse_options({"sns_topic_arn": "cis-alarms"})


async def test_dry_run_reads_the_filters_once(integrated, topic, account_violation, plans_on_check):
    # plan builds on the trail, log group and filters check read (ctx.checked); it reads
    # the topic and the alarm name itself
    operations, _ = await plans_on_check(
        REMEDIATION, account_violation("AWS_CIS_3_3"), options=OPTIONS
    )
    assert operations.count("DescribeTrails") == 1
    assert operations.count("DescribeMetricFilters") == 1
