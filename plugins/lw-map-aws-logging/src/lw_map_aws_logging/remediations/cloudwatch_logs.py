"""AWS_CIS_2_4: deliver the trail to a CloudWatch Logs group.

The log group and the delivery role are options: lw-remediate never guesses them. The
role (trusted by ``cloudtrail.amazonaws.com``, allowed ``logs:CreateLogStream`` and
``logs:PutLogEvents`` on the group) must exist and trust CloudTrail (checked first); the log group is created only when
``create_log_group`` says so (with ``retention_days`` if set), otherwise it must exist.
Undo clears the trail's CloudWatch Logs settings (or restores the previous ones); a log
group the action created stays, with the events already delivered.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import unquote

import pydantic

from lw_remediate import (
    Arn,
    AwsCall,
    Change,
    IamPolicy,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    Violation,
)

from .._aws import (
    ANY,
    LOG_GROUP,
    TRAIL,
    allows_service,
    as_list,
    check_template,
    fill,
    refuse_without,
    unless,
)
from .._trail import TrailUpdate, Wanted

ID = "logging.attach_trail_cloudwatch_logs"
CLOUDTRAIL = "cloudtrail.amazonaws.com"
_ROLE_RE = re.compile(r"^arn:[a-z-]+:iam::(\d{12}|\{account\}):role/[\w+=,.@/-]+$")
_NAME_FIELDS = {"account", "region", "trail"}

#: The retention periods CloudWatch Logs accepts (days).
Retention = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
]  # fmt: skip


class Options(RemediationOptions):
    """Where the trail delivers. No default: both must be configured."""

    #: Log group name, e.g. ``"cloudtrail/{account}"`` (``{account}``, ``{region}`` and
    #: ``{trail}`` are filled in).
    log_group_name: str | None = None
    #: Role CloudTrail assumes to write to the group (``{account}`` is filled in).
    delivery_role_arn: str | None = None
    #: Create the log group when it does not exist (otherwise the action is refused).
    create_log_group: bool = False
    #: Retention of a log group this action creates (None: never expire).
    retention_days: Retention | None = None

    @pydantic.field_validator("log_group_name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return check_template(value, _NAME_FIELDS, "log_group_name")

    @pydantic.field_validator("delivery_role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_RE.match(value):
            raise ValueError(f"not an IAM role ARN: {value!r}")
        return value


def _compliant(trail: Mapping[str, Any], options: Any) -> str | None:
    group = trail.get("CloudWatchLogsLogGroupArn")
    if group:
        return f"trail {trail.get('Name')} delivers to CloudWatch Logs ({group})"
    return None


def group_arn(violation: Violation, region: str, name: str) -> str:
    return f"arn:{violation.arn.partition}:logs:{region}:{violation.account_id}:log-group:{name}:*"


async def log_group_exists(logs: Any, name: str) -> bool:
    paginator = logs.get_paginator("describe_log_groups")
    async for page in paginator.paginate(logGroupNamePrefix=name):
        if any(g.get("logGroupName") == name for g in page.get("logGroups", [])):
            return True
    return False


async def _wanted(
    ctx: RemediationContext[Any], violation: Violation, trail: Mapping[str, Any]
) -> Wanted:
    options: Options = ctx.options
    if options.log_group_name is None or options.delivery_role_arn is None:
        missing = " and ".join(
            o
            for o, v in (
                ("log_group_name", options.log_group_name),
                ("delivery_role_arn", options.delivery_role_arn),
            )
            if v is None
        )
        raise refuse_without(
            missing, ID, f"no CloudWatch Logs destination for trail {trail.get('Name')}"
        )
    region = ctx.aws.region
    name = fill(options.log_group_name, violation, region, trail=str(trail.get("Name")))
    role = options.delivery_role_arn.replace("{account}", violation.account_id)
    await require_delivery_role(ctx, role)
    arn = group_arn(violation, region, name)
    changes: list[Change] = []
    notes: list[str] = []
    async with ctx.aws.client("logs") as logs:
        exists = await log_group_exists(logs, name)
    if not exists:
        if not options.create_log_group:
            raise RemediationRefused(
                f"log group {name} does not exist in {region}: create it, or set "
                f'create_log_group = true under [remediation."{ID}"]'
            )
        changes.append(
            Change("create_log_group", arn, None, {"retentionInDays": options.retention_days})
        )
        notes.append(f"undo leaves log group {name} (created by this action) and its events")
    settings = {"CloudWatchLogsLogGroupArn": arn, "CloudWatchLogsRoleArn": role}
    return Wanted(settings, changes, {"create": None if exists else name}, notes)


async def require_delivery_role(ctx: RemediationContext[Any], role: str) -> None:
    """Refuse unless the delivery role exists and trusts CloudTrail (AWS would otherwise
    reject the update, or delivery would fail silently)."""
    async with ctx.aws.client("iam") as iam:
        found = await unless(iam.get_role(RoleName=Arn.parse(role).resource_name), "NoSuchEntity")
    if found is None:
        raise RemediationRefused(f"delivery role {role} (delivery_role_arn) does not exist")
    trust = found["Role"].get("AssumeRolePolicyDocument") or {}
    if isinstance(trust, str):
        trust = json.loads(unquote(trust))
    if not any(
        allows_service(s, CLOUDTRAIL, "sts:AssumeRole") for s in as_list(trust.get("Statement"))
    ):
        raise RemediationRefused(
            f"delivery role {role} does not trust {CLOUDTRAIL} (sts:AssumeRole in its trust "
            "policy); CloudTrail could not deliver with it"
        )


async def _prepare(ctx: RemediationContext[Any], data: Mapping[str, Any]) -> Mapping[str, Any]:
    name = data.get("create")
    if not name:
        return {}
    async with ctx.aws.client("logs") as logs:
        created = await unless(
            logs.create_log_group(logGroupName=name), "ResourceAlreadyExistsException"
        )
        if created is None:
            return {}
        if ctx.options.retention_days is not None:
            await logs.put_retention_policy(
                logGroupName=name, retentionInDays=ctx.options.retention_days
            )
    return {"CreatedLogGroup": name}


def _describe(settings: Mapping[str, Any]) -> str:
    group = settings.get("CloudWatchLogsLogGroupArn")
    if not group:
        return "no CloudWatch Logs delivery"
    return f"CloudWatch Logs group {group} via role {settings.get('CloudWatchLogsRoleArn')}"


#: AWS authorises iam:PassRole on the delivery role inside UpdateTrail (an undo that
#: clears it sends ``""``: nothing is passed).
PASS_ROLE = AwsCall(
    "cloudtrail", "UpdateTrail", dependent=(("iam:PassRole", "{CloudWatchLogsRoleArn}"),)
)

UPDATE = TrailUpdate(
    fields={
        "CloudWatchLogsLogGroupArn": "CloudWatchLogsLogGroupArn",
        "CloudWatchLogsRoleArn": "CloudWatchLogsRoleArn",
    },
    compliant=_compliant,
    wanted=_wanted,
    prepare=_prepare,
    describe=_describe,
    violating="no CloudWatch Logs delivery",
)


def option_policy(options: Options) -> IamPolicy:
    """Reading the delivery role and passing it to CloudTrail; creating the log group if
    asked."""
    policy = IamPolicy()
    if options.delivery_role_arn:
        policy += IamPolicy.allow(["iam:GetRole"], [options.delivery_role_arn])
        policy += IamPolicy.allow(
            ["iam:PassRole"],
            [options.delivery_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": CLOUDTRAIL}},
        )
    if options.create_log_group:
        actions = ["logs:CreateLogGroup"]
        if options.retention_days is not None:
            actions.append("logs:PutRetentionPolicy")
        policy += IamPolicy.allow(actions, [LOG_GROUP])
    return policy


REMEDIATION = Remediation(
    id=ID,
    rules=("AWS_CIS_2_4",),
    aws_calls=(PASS_ROLE,),
    title="Deliver a CloudTrail trail to CloudWatch Logs",
    description=(
        "Sets the configured log group and delivery role on the trail (creating the group "
        "if configured to); refused until both are configured."
    ),
    resource_type="cloudtrail:trail",
    policy=IamPolicy.allow(["cloudtrail:GetTrail", "cloudtrail:UpdateTrail"], [TRAIL])
    + IamPolicy.allow(["logs:DescribeLogGroups"], ANY),
    option_policy=option_policy,
    options=Options,
    check=UPDATE.check,
    plan=UPDATE.plan,
    apply=UPDATE.apply,
    verify=UPDATE.verify,
    revert=UPDATE.revert,
)
