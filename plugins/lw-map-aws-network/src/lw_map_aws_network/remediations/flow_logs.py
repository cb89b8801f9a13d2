"""AWS_CIS_2_9 / AWS_CIS_4_3: VPC flow logging enabled in every VPC.

Creates one flow log for the VPC to the configured destination: a CloudWatch Logs group
(with the delivery role the flow-logs service assumes) or an S3 bucket. Without a
configured destination the action is refused, saying what to configure. Reports name
the VPC by its bare ``vpc-…`` id; the core turns it into the VPC ARN. Undo deletes the
flow log the action created (lossless: nothing else changed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    AwsCall,
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
    aws_error_code,
)

from .._ec2 import VPC, VPC_FLOW_LOG, describe_policy, resource_id

_ROLE_RE = re.compile(r"^arn:[a-z-]+:iam::(\d{12}|\{account\}):role/[\w+=,.@/-]+$")
_BUCKET_RE = re.compile(r"^arn:[a-z-]+:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/.*)?$")


class Options(RemediationOptions):
    """The destination (one of the two) and what to log."""

    #: CloudWatch Logs group to deliver to (``{account}`` and ``{region}`` are filled in);
    #: needs ``delivery_role_arn``.
    log_group_name: str | None = None
    #: Role the flow-logs service assumes to write to the log group (trusted by
    #: ``vpc-flow-logs.amazonaws.com``).
    delivery_role_arn: str | None = None
    #: S3 bucket ARN to deliver to (``arn:aws:s3:::bucket`` or ``…:::bucket/prefix/``;
    #: ``{account}`` and ``{region}`` are filled in). Its policy must let
    #: ``delivery.logs.amazonaws.com`` write.
    s3_bucket_arn: str | None = None
    #: What to log: ``REJECT`` (the CIS choice), ``ACCEPT`` or ``ALL``.
    traffic_type: Literal["ALL", "ACCEPT", "REJECT"] = "REJECT"
    #: Seconds per aggregation window (60 or 600).
    max_aggregation_interval: Literal[60, 600] = 600

    @pydantic.model_validator(mode="after")
    def _one_destination(self) -> Options:
        if self.log_group_name and self.s3_bucket_arn:
            raise ValueError(
                "set log_group_name (with delivery_role_arn) or s3_bucket_arn, not both"
            )
        if self.log_group_name and not self.delivery_role_arn:
            raise ValueError("log_group_name needs delivery_role_arn")
        if self.delivery_role_arn and not _ROLE_RE.match(self.delivery_role_arn):
            raise ValueError(f"not an IAM role ARN: {self.delivery_role_arn!r}")
        if self.s3_bucket_arn and not _BUCKET_RE.match(
            self.s3_bucket_arn.replace("{account}", "000000000000").replace("{region}", "region")
        ):
            raise ValueError(f"not an S3 bucket ARN: {self.s3_bucket_arn!r}")
        return self


def _fill(template: str, violation: Violation) -> str:
    return template.replace("{account}", violation.account_id).replace(
        "{region}", violation.region or ""
    )


def destination(options: Options, violation: Violation) -> dict[str, Any]:
    """The ``CreateFlowLogs`` destination arguments, or refuse when none is configured."""
    if options.log_group_name:
        return {
            "LogDestinationType": "cloud-watch-logs",
            "LogGroupName": _fill(options.log_group_name, violation),
            "DeliverLogsPermissionArn": _fill(str(options.delivery_role_arn), violation),
        }
    if options.s3_bucket_arn:
        return {
            "LogDestinationType": "s3",
            "LogDestination": _fill(options.s3_bucket_arn, violation),
        }
    raise RemediationRefused(
        "no flow-log destination is configured: set log_group_name and delivery_role_arn, "
        'or s3_bucket_arn, under [remediation."network.enable_vpc_flow_logs"]'
    )


async def read_flow_logs(ec2: Any, vpc_id: str) -> list[dict[str, Any]]:
    response = await ec2.describe_flow_logs(Filters=[{"Name": "resource-id", "Values": [vpc_id]}])
    return [dict(f) for f in response.get("FlowLogs", [])]


async def vpc_exists(ec2: Any, vpc_id: str) -> bool:
    try:
        await ec2.describe_vpcs(VpcIds=[vpc_id])
    except ClientError as exc:
        if aws_error_code(exc) == "InvalidVpcID.NotFound":
            return False
        raise
    return True


def _active(flow_logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f for f in flow_logs if f.get("FlowLogStatus") == "ACTIVE"]


def _text(flow_log: Mapping[str, Any]) -> str:
    where = flow_log.get("LogDestination") or flow_log.get("LogGroupName") or "?"
    return f"{flow_log.get('FlowLogId')} ({flow_log.get('TrafficType')} to {where})"


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    vpc_id = resource_id(violation, "vpc")
    async with ctx.aws.client("ec2") as ec2:
        if not await vpc_exists(ec2, vpc_id):
            return CheckResult.compliant(f"VPC {vpc_id} no longer exists")
        active = _active(await read_flow_logs(ec2, vpc_id))
    if active:
        return CheckResult.compliant(
            f"VPC {vpc_id} has flow logging: " + ", ".join(_text(f) for f in active)
        )
    return CheckResult.violating(f"VPC {vpc_id} has no active flow log")


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    vpc_id = resource_id(violation, "vpc")
    target = destination(ctx.options, violation)
    request = {
        "ResourceIds": [vpc_id],
        "ResourceType": "VPC",
        "TrafficType": ctx.options.traffic_type,
        "MaxAggregationInterval": ctx.options.max_aggregation_interval,
        **target,
    }
    where = target.get("LogDestination") or target.get("LogGroupName")
    return Plan(
        summary=(
            f"create a flow log for VPC {vpc_id}: {ctx.options.traffic_type} traffic to "
            f"{target['LogDestinationType']} {where}"
        ),
        changes=[Change("create_flow_logs", violation.resource_arn, None, request)],
        data={"request": request},
        notes=["undo deletes the flow log this action created (logs already delivered stay)"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    vpc_id = resource_id(violation, "vpc")
    request = dict(plan.data["request"])
    async with ctx.aws.client("ec2") as ec2:
        existing = await read_flow_logs(ec2, vpc_id)  # re-read right before writing
        if _active(existing):
            return {"VpcId": vpc_id, "FlowLogIds": []}
        await ctx.record_before({"VpcId": vpc_id, "FlowLogs": existing})
        response = await ec2.create_flow_logs(**request)
    failures = response.get("Unsuccessful") or []
    if failures:
        errors = "; ".join(
            str((f.get("Error") or {}).get("Message") or f.get("Error")) for f in failures
        )
        raise RemediationError(f"CreateFlowLogs failed for {vpc_id}: {errors}")
    return {"VpcId": vpc_id, "FlowLogIds": list(response.get("FlowLogIds", []))}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    vpc_id = resource_id(violation, "vpc")
    async with ctx.aws.client("ec2") as ec2:
        flow_logs = await read_flow_logs(ec2, vpc_id)
    active = _active(flow_logs)
    if not active:
        return VerifyResult.failed(f"VPC {vpc_id} still has no active flow log")
    failed = [f for f in active if f.get("DeliverLogsStatus") == "FAILED"]
    if failed and len(failed) == len(active):
        return VerifyResult.unverified(
            f"flow log {', '.join(_text(f) for f in failed)} is active but delivery FAILED: "
            f"{failed[0].get('DeliverLogsErrorMessage', 'check the destination and role')}"
        )
    return VerifyResult.verified(
        f"VPC {vpc_id} has flow logging: " + ", ".join(_text(f) for f in active)
    )


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    after = record.after_image or {}
    vpc_id = str(after.get("VpcId"))
    created = list(after.get("FlowLogIds", []))
    if not created:
        return f"the remediation created no flow log for {vpc_id}; nothing to undo"
    async with ctx.aws.client("ec2") as ec2:
        live = {f.get("FlowLogId") for f in await read_flow_logs(ec2, vpc_id)}
        gone = [i for i in created if i not in live]
        if gone:
            raise ResourceChanged(
                f"flow log(s) {', '.join(gone)} of {vpc_id} no longer exist; not reverting"
            )
        response = await ec2.delete_flow_logs(FlowLogIds=created)
    failures = response.get("Unsuccessful") or []
    if failures:
        raise RemediationError(f"DeleteFlowLogs failed: {failures}")
    return f"deleted flow log(s) {', '.join(created)} of {vpc_id}"


def option_policy(options: Options) -> IamPolicy:
    """CloudWatch Logs: pass the delivery role. S3: the log-delivery actions AWS checks."""
    if options.delivery_role_arn:
        return IamPolicy.allow(
            ["iam:PassRole"],
            [options.delivery_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": "vpc-flow-logs.amazonaws.com"}},
        )
    if options.s3_bucket_arn:
        return IamPolicy.allow(["logs:CreateLogDelivery"])
    return IamPolicy()


def revert_policy(options: Options) -> IamPolicy:
    policy = IamPolicy.allow(["ec2:DeleteFlowLogs"], [VPC_FLOW_LOG])
    if options.s3_bucket_arn:
        policy += IamPolicy.allow(["logs:DeleteLogDelivery"])
    return policy


#: AWS authorises iam:PassRole on the delivery role inside CreateFlowLogs (CloudWatch Logs
#: destination only).
def _s3_delivery(params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
    """S3 delivery is authorised with logs:CreateLogDelivery (no resource type: ``*``)."""
    return "*" if params.get("LogDestinationType") == "s3" else None


PASS_ROLE = AwsCall(
    "ec2",
    "CreateFlowLogs",
    dependent=(
        ("iam:PassRole", "{DeliverLogsPermissionArn}"),
        ("logs:CreateLogDelivery", _s3_delivery),
    ),
)

REMEDIATION = Remediation(
    id="network.enable_vpc_flow_logs",
    rules=("AWS_CIS_2_9", "AWS_CIS_4_3"),
    aws_calls=(PASS_ROLE,),
    title="Create a VPC flow log to the configured CloudWatch Logs group or S3 bucket",
    description=(
        "Creates one flow log (REJECT traffic by default) for a VPC without an active one; "
        "refused until a destination is configured."
    ),
    resource_type="ec2:vpc",
    policy=describe_policy("ec2:DescribeVpcs", "ec2:DescribeFlowLogs")
    + IamPolicy.allow(["ec2:CreateFlowLogs"], [VPC, VPC_FLOW_LOG]),
    option_policy=option_policy,
    revert_policy=revert_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
