"""AWS_CIS_3_1 ... AWS_CIS_3_14: a metric filter and an alarm per CIS event class.

One data table (:mod:`.._patterns`) gives each rule its filter pattern and name; this one
remediation does the rest. On the log group of the multi-region trail that delivers to
CloudWatch Logs (AWS_CIS_2_4 is the prerequisite: without such a trail the action is
refused naming it), the account is compliant when a metric filter with the rule's pattern
(compared semantically) feeds a metric that has an alarm with actions. Otherwise the
remediation puts the filter (metric ``<namespace>/<name>``, value 1 per matching event)
and an alarm (sum >= 1 over ``period`` seconds) notifying the configured SNS topic, which
is created only when ``create_topic`` says so. A matching filter someone already has is
reused (only the alarm is added); a filter or alarm of the same name with other content is
never overwritten (refused). ``verify`` ends ``unverified`` when the topic has no confirmed
subscriber: the alarm then notifies nobody. Undo deletes the filter and alarm it created; a topic it
created stays (subscriptions may have been added since).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    Arn,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._aws import (
    ALARM,
    ANY,
    LOG_GROUP,
    TOPIC,
    check_template,
    fill,
    refuse_without,
    unless,
)
from .._patterns import RULES, MetricRule, same_pattern

ID = "logging.create_metric_filter_alarm"


class Options(RemediationOptions):
    """Where alarms notify, and the alarm's shape."""

    #: SNS topic the alarms notify, e.g. ``"arn:aws:sns:{region}:{account}:cis-alarms"``.
    sns_topic_arn: str | None = None
    #: Create the topic when it does not exist (otherwise the action is refused).
    create_topic: bool = False
    #: CloudWatch namespace of the metrics.
    namespace: str = "CISBenchmark"
    #: Seconds per alarm evaluation period.
    period: int = pydantic.Field(default=300, ge=60)
    #: Periods evaluated.
    evaluation_periods: int = pydantic.Field(default=1, ge=1)

    @pydantic.field_validator("sns_topic_arn")
    @classmethod
    def _topic(cls, value: str | None) -> str | None:
        check_template(value, {"account", "region"}, "sns_topic_arn")
        if value is not None:
            probe = value.replace("{account}", "000000000000").replace("{region}", "us-east-1")
            parsed = Arn.parse(probe) if probe.startswith("arn:") else None
            if parsed is None or parsed.service != "sns" or not parsed.resource:
                raise ValueError(f"not an SNS topic ARN: {value!r}")
        return value


def rule_of(violation: Violation) -> MetricRule:
    try:
        return RULES[violation.rule_id]
    except KeyError:
        raise RemediationError(f"{violation.rule_id} is not a CIS metric-filter rule") from None


def log_group_of(trail: Mapping[str, Any]) -> tuple[str, str]:
    """(region, name) of the trail's ``CloudWatchLogsLogGroupArn`` (``…:log-group:<name>:*``)."""
    arn = Arn.parse(str(trail["CloudWatchLogsLogGroupArn"]))
    name = arn.resource.split(":", 1)[1] if ":" in arn.resource else arn.resource
    return arn.region, name.removesuffix(":*")


async def integrated_group(ct: Any, region: str) -> tuple[str, str, str] | None:
    """(trail name, log group region, log group name) of a multi-region trail delivering to
    CloudWatch Logs, preferring a group in ``region``; None when there is none."""
    response = await ct.describe_trails(includeShadowTrails=True)
    found = [
        (str(t["Name"]), *log_group_of(t))
        for t in response.get("trailList", [])
        if t.get("IsMultiRegionTrail") and t.get("CloudWatchLogsLogGroupArn")
    ]
    found.sort(key=lambda f: f[1] != region)
    return found[0] if found else None


async def list_filters(logs: Any, group: str) -> list[dict[str, Any]]:
    paginator = logs.get_paginator("describe_metric_filters")
    filters: list[dict[str, Any]] = []
    async for page in paginator.paginate(logGroupName=group):
        filters += [dict(f) for f in page.get("metricFilters", [])]
    return filters


async def alarms_for(cw: Any, metric: Mapping[str, Any]) -> list[dict[str, Any]]:
    response = await cw.describe_alarms_for_metric(
        MetricName=metric["metricName"], Namespace=metric["metricNamespace"]
    )
    return [dict(a) for a in response.get("MetricAlarms", [])]


async def _state(ctx: RemediationContext[Any], rule: MetricRule) -> dict[str, Any]:
    """The trail/log group, the filters on it, and the first filter+alarm that satisfy CIS."""
    async with ctx.aws.client("cloudtrail") as ct:
        found = await integrated_group(ct, ctx.aws.region)
    if found is None:
        return {"Group": None}
    trail, region, group = found
    state: dict[str, Any] = {"Trail": trail, "Region": region, "Group": group, "Filters": []}
    if region != ctx.aws.region:
        return state
    async with ctx.aws.client("logs") as logs, ctx.aws.client("cloudwatch") as cw:
        filters = await list_filters(logs, group)
        state["Filters"] = filters
        for f in filters:
            if not same_pattern(f.get("filterPattern", ""), rule.pattern):
                continue
            state.setdefault("Matching", f)
            for metric in f.get("metricTransformations", []):
                for alarm in await alarms_for(cw, metric):
                    if alarm.get("AlarmActions"):
                        state["Satisfied"] = (f["filterName"], alarm["AlarmName"])
                        state["Actions"] = list(alarm["AlarmActions"])
                        return state
    return state


def _no_trail(rule_id: str) -> str:
    return (
        f"{rule_id} needs a multi-region trail delivering to CloudWatch Logs; there is none "
        "(remediate AWS_CIS_2_4 first)"
    )


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    rule = rule_of(violation)
    state = await _state(ctx, rule)
    if state["Group"] is None:
        return CheckResult.violating(_no_trail(violation.rule_id), state=state)
    if "Satisfied" in state:
        name, alarm = state["Satisfied"]
        return CheckResult.compliant(
            f"log group {state['Group']} has metric filter {name} for {rule.what} with alarm "
            f"{alarm}"
        )
    if "Matching" in state:
        return CheckResult.violating(
            f"metric filter {state['Matching']['filterName']} for {rule.what} on log group "
            f"{state['Group']} has no alarm with actions",
            state=state,
        )
    return CheckResult.violating(
        f"no metric filter for {rule.what} on log group {state['Group']}", state=state
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    options: Options = ctx.options
    rule = rule_of(violation)
    region = ctx.aws.region
    # check read the trail, its log group, the filters and their alarms in this run: not
    # again (apply re-reads before writing)
    state: dict[str, Any] = await ctx.checked_or_read("state", lambda: _state(ctx, rule))
    if state["Group"] is None:
        raise RemediationRefused(_no_trail(violation.rule_id))
    if state["Region"] != region:
        raise RemediationRefused(
            f"trail {state['Trail']} delivers to log group {state['Group']} in "
            f"{state['Region']}; this action runs in {region}"
        )
    if "Satisfied" in state:
        return Plan(f"log group {state['Group']} already alarms on {rule.what}")
    if options.sns_topic_arn is None:
        raise refuse_without("sns_topic_arn", ID, f"no SNS topic for the {rule.what} alarm")
    topic = fill(options.sns_topic_arn, violation, region)
    group = state["Group"]
    group_arn = (
        f"arn:{violation.arn.partition}:logs:{region}:{violation.account_id}:log-group:{group}"
    )
    changes: list[Change] = []
    async with ctx.aws.client("sns") as sns, ctx.aws.client("cloudwatch") as cw:
        exists = await unless(sns.get_topic_attributes(TopicArn=topic), "NotFound")
        if exists is None:
            if not options.create_topic:
                raise RemediationRefused(
                    f"SNS topic {topic} does not exist: create it (with subscribers), or set "
                    f'create_topic = true under [remediation."{ID}"]'
                )
            changes.append(Change("create_topic", topic, None, {"Name": Arn.parse(topic).resource}))
        taken = (await cw.describe_alarms(AlarmNames=[rule.name])).get("MetricAlarms", [])
    if taken:
        raise RemediationRefused(
            f"alarm {rule.name} already exists (on {taken[0].get('Namespace')}/"
            f"{taken[0].get('MetricName')}, actions {taken[0].get('AlarmActions') or 'none'}); "
            "not overwriting it"
        )
    matching = state.get("Matching")
    if matching is None:
        if any(f.get("filterName") == rule.name for f in state["Filters"]):
            raise RemediationRefused(
                f"metric filter {rule.name} on log group {group} has another pattern; "
                "not overwriting it"
            )
        metric = {"metricName": rule.name, "metricNamespace": options.namespace, "metricValue": "1"}
        filter_request = {
            "logGroupName": group,
            "filterName": rule.name,
            "filterPattern": rule.pattern,
            "metricTransformations": [metric],
        }
        changes.append(Change("put_metric_filter", group_arn, None, filter_request))
    else:
        metric = dict(matching["metricTransformations"][0])
        filter_request = None
    alarm = {
        "AlarmName": rule.name,
        "AlarmDescription": f"CIS {violation.rule_id}: {rule.what} (lw-remediate)",
        "MetricName": metric["metricName"],
        "Namespace": metric["metricNamespace"],
        "Statistic": "Sum",
        "Period": options.period,
        "EvaluationPeriods": options.evaluation_periods,
        "Threshold": 1.0,
        "ComparisonOperator": "GreaterThanOrEqualToThreshold",
        "TreatMissingData": "notBreaching",
        "AlarmActions": [topic],
    }
    alarm_arn = f"arn:{violation.arn.partition}:cloudwatch:{region}:{violation.account_id}:alarm:{rule.name}"
    changes.append(Change("put_metric_alarm", alarm_arn, None, alarm))
    reuse = (
        f"reuse metric filter {matching['filterName']}"
        if matching
        else f"add metric filter {rule.name}"
    )
    return Plan(
        summary=(f"log group {group}: {reuse} for {rule.what} and alarm {rule.name} to {topic}"),
        changes=changes,
        data={
            "Group": group,
            "Filter": filter_request,
            "Alarm": alarm,
            "CreateTopic": topic if exists is None else None,
        },
        notes=["undo deletes the filter and alarm this action created; a created topic stays"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    rule = rule_of(ctx.violation)
    data = plan.data
    state = await _state(ctx, rule)  # re-read right before writing
    if "Satisfied" in state:
        return {"Unchanged": True}
    if state["Group"] != data["Group"]:
        raise RemediationRefused("the trail's log group changed since the plan; run again")
    await ctx.record_before({"Group": data["Group"], "Filter": None, "Alarm": None})
    created_topic = None
    if data.get("CreateTopic"):
        async with ctx.aws.client("sns") as sns:
            response = await sns.create_topic(Name=Arn.parse(data["CreateTopic"]).resource)
        created_topic = response["TopicArn"]
    if data.get("Filter"):
        async with ctx.aws.client("logs") as logs:
            await logs.put_metric_filter(**data["Filter"])
    async with ctx.aws.client("cloudwatch") as cw:
        await cw.put_metric_alarm(**data["Alarm"])
    return {
        "Group": data["Group"],
        "FilterName": data["Filter"]["filterName"] if data.get("Filter") else None,
        "Pattern": data["Filter"]["filterPattern"] if data.get("Filter") else None,
        "AlarmName": data["Alarm"]["AlarmName"],
        "AlarmActions": data["Alarm"]["AlarmActions"],
        "CreatedTopic": created_topic,
    }


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    rule = rule_of(violation)
    state = await _state(ctx, rule)
    if "Satisfied" not in state:
        return VerifyResult.failed(f"still no metric filter and alarm for {rule.what}")
    name, alarm = state["Satisfied"]
    done = f"log group {state['Group']}: metric filter {name} and alarm {alarm}"
    silent = await topics_without_subscribers(ctx, state["Actions"])
    if silent:
        return VerifyResult.unverified(
            f"{done}, but SNS topic {', '.join(silent)} has no confirmed subscriber: nobody "
            "is notified yet (subscribe the security team; see AWS_CIS_3_15)"
        )
    return VerifyResult.verified(done)


async def topics_without_subscribers(ctx: RemediationContext[Any], actions: list[str]) -> list[str]:
    """The SNS topics among an alarm's actions that have no confirmed subscription."""
    silent = []
    async with ctx.aws.client("sns") as sns:
        for topic in (a for a in actions if a.startswith("arn:") and Arn.parse(a).service == "sns"):
            confirmed = False
            paginator = sns.get_paginator("list_subscriptions_by_topic")
            async for page in paginator.paginate(TopicArn=topic):
                confirmed = confirmed or any(
                    s.get("SubscriptionArn", "").startswith("arn:")
                    for s in page.get("Subscriptions", [])
                )
            if not confirmed:
                silent.append(topic)
    return silent


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    after = dict(record.after_image or {})
    if after.get("Unchanged"):
        return "the remediation changed nothing; nothing to undo"
    group, alarm_name, filter_name = after["Group"], after["AlarmName"], after["FilterName"]
    async with ctx.aws.client("logs") as logs, ctx.aws.client("cloudwatch") as cw:
        alarms = (await cw.describe_alarms(AlarmNames=[alarm_name])).get("MetricAlarms", [])
        if not alarms or alarms[0].get("AlarmActions") != after["AlarmActions"]:
            raise ResourceChanged(
                f"alarm {alarm_name} changed since the remediation; not reverting"
            )
        if filter_name:
            filters = await list_filters(logs, group)
            mine = [f for f in filters if f.get("filterName") == filter_name]
            if not mine or any(f.get("filterPattern") != after["Pattern"] for f in mine):
                raise ResourceChanged(
                    f"metric filter {filter_name} changed since the remediation; not reverting"
                )
        await cw.delete_alarms(AlarmNames=[alarm_name])
        if filter_name:
            await logs.delete_metric_filter(logGroupName=group, filterName=filter_name)
    done = f"deleted alarm {alarm_name}" + (
        f" and metric filter {filter_name}" if filter_name else ""
    )
    if after.get("CreatedTopic"):
        done += f"; topic {after['CreatedTopic']} (created by the action) stays"
    return done


def option_policy(options: Options) -> IamPolicy:
    if not options.create_topic:
        return IamPolicy()
    return IamPolicy.allow(["sns:CreateTopic"], [options.sns_topic_arn or TOPIC])


REMEDIATION = Remediation(
    id=ID,
    rules=tuple(RULES),
    title="Add the CIS metric filter and alarm for an event class",
    description=(
        "On the CloudWatch-integrated trail's log group: the rule's CIS filter pattern, a "
        "metric and an alarm to the configured SNS topic; refused without that trail or topic."
    ),
    resource_type="aws:account",
    policy=IamPolicy.allow(["cloudtrail:DescribeTrails", "cloudwatch:DescribeAlarmsForMetric"], ANY)
    + IamPolicy.allow(["logs:DescribeMetricFilters", "logs:PutMetricFilter"], [LOG_GROUP])
    + IamPolicy.allow(["cloudwatch:DescribeAlarms", "cloudwatch:PutMetricAlarm"], [ALARM])
    + IamPolicy.allow(["sns:GetTopicAttributes", "sns:ListSubscriptionsByTopic"], [TOPIC]),
    option_policy=option_policy,
    revert_policy=IamPolicy.allow(["logs:DeleteMetricFilter"], [LOG_GROUP])
    + IamPolicy.allow(["cloudwatch:DeleteAlarms"], [ALARM]),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
