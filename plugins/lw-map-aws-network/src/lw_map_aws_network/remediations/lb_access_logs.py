"""LW_AWS_NETWORKING_49: load balancer access logs enabled.

Turns on access logging to the configured S3 bucket (and prefix) for an application,
network or classic load balancer. Before writing it reads the bucket policy and refuses
unless some statement lets a log-delivery principal put objects there (AWS rejects the
change otherwise; moto does not check). Refused until a bucket is configured. Undo writes
the recorded access-log attributes back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    Violation,
    aws_error_code,
)

from .._ec2 import verify_by
from .._elb import LOAD_BALANCER, NOT_FOUND, LoadBalancer

DELIVERY_SERVICES = frozenset(
    {"logdelivery.elasticloadbalancing.amazonaws.com", "delivery.logs.amazonaws.com"}
)
_KEYS = ("access_logs.s3.enabled", "access_logs.s3.bucket", "access_logs.s3.prefix")


class Options(RemediationOptions):
    """Where the logs go."""

    #: Bucket for the logs (``{account}`` and ``{region}`` are filled in), e.g.
    #: ``"elb-logs-{account}-{region}"``. Required: the action is refused without it.
    bucket: str | None = None
    #: Key prefix (``{account}``, ``{region}`` filled in); empty for none.
    prefix: str = ""
    #: Classic load balancers: minutes between log files (5 or 60).
    emit_interval: int = pydantic.Field(60, ge=5, le=60)
    #: Read the bucket policy first and refuse unless it lets ELB log delivery write.
    check_bucket_policy: bool = True


def _fill(template: str, violation: Violation) -> str:
    return template.replace("{account}", violation.account_id).replace(
        "{region}", violation.region or violation.arn.region
    )


def _bucket(options: Options, violation: Violation) -> tuple[str, str]:
    if not options.bucket:
        raise RemediationRefused(
            "no access-log bucket is configured: set bucket under "
            '[remediation."network.enable_lb_access_logs"]'
        )
    return _fill(options.bucket, violation), _fill(options.prefix, violation).strip("/")


async def read_logging(ctx: RemediationContext[Any], lb: LoadBalancer) -> dict[str, Any] | None:
    """``{"enabled", "bucket", "prefix"}`` (plus ``emit_interval`` for classic), or None
    when the load balancer does not exist."""
    async with ctx.aws.client(lb.service) as client:
        try:
            response = await client.describe_load_balancer_attributes(**lb.args)
        except ClientError as exc:
            if aws_error_code(exc) in NOT_FOUND:
                return None
            raise
    if lb.classic:
        log = response.get("LoadBalancerAttributes", {}).get("AccessLog", {})
        return {
            "enabled": bool(log.get("Enabled")),
            "bucket": log.get("S3BucketName", ""),
            "prefix": log.get("S3BucketPrefix", ""),
            "emit_interval": log.get("EmitInterval", 60),
        }
    attrs = {a["Key"]: a.get("Value", "") for a in response.get("Attributes", [])}
    return {
        "enabled": attrs.get("access_logs.s3.enabled") == "true",
        "bucket": attrs.get("access_logs.s3.bucket", ""),
        "prefix": attrs.get("access_logs.s3.prefix", ""),
    }


async def write_logging(
    ctx: RemediationContext[Any], lb: LoadBalancer, state: Mapping[str, Any]
) -> None:
    async with ctx.aws.client(lb.service) as client:
        if lb.classic:
            log: dict[str, Any] = {"Enabled": bool(state["enabled"])}
            if state.get("bucket"):
                log["S3BucketName"] = state["bucket"]
                log["S3BucketPrefix"] = state.get("prefix", "")
                log["EmitInterval"] = int(state.get("emit_interval") or 60)
            await client.modify_load_balancer_attributes(
                LoadBalancerName=lb.name, LoadBalancerAttributes={"AccessLog": log}
            )
        else:
            values = ["true" if state["enabled"] else "false", state["bucket"], state["prefix"]]
            await client.modify_load_balancer_attributes(
                LoadBalancerArn=lb.arn,
                Attributes=[
                    {"Key": k, "Value": str(v)} for k, v in zip(_KEYS, values, strict=True)
                ],
            )


def _allows_delivery(policy: Mapping[str, Any], bucket: str) -> bool:
    """Some Allow statement lets a log-delivery principal (a delivery service or an AWS
    account principal, e.g. the region's ELB account) put objects into the bucket."""
    statements = policy.get("Statement", [])
    for st in statements if isinstance(statements, list) else [statements]:
        if st.get("Effect") != "Allow":
            continue
        actions = st.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if not any(a in {"s3:PutObject", "s3:*", "*"} for a in actions):
            continue
        resources = st.get("Resource", [])
        resources = [resources] if isinstance(resources, str) else resources
        if not any(str(r).split(":::", 1)[-1].split("/", 1)[0] == bucket for r in resources):
            continue
        principal = st.get("Principal", {})
        if not isinstance(principal, dict):
            continue
        services = principal.get("Service", [])
        services = [services] if isinstance(services, str) else services
        if set(services) & DELIVERY_SERVICES or principal.get("AWS"):
            return True
    return False


async def check_bucket(ctx: RemediationContext[Any], bucket: str) -> None:
    async with ctx.aws.client("s3") as s3:
        try:
            text = (await s3.get_bucket_policy(Bucket=bucket))["Policy"]
        except ClientError as exc:
            code = aws_error_code(exc)
            if code in {"NoSuchBucketPolicy", "NoSuchBucket"}:
                raise RemediationRefused(
                    f"bucket {bucket} {'does not exist' if code == 'NoSuchBucket' else 'has no policy'}: "
                    "it must let ELB log delivery (logdelivery.elasticloadbalancing.amazonaws.com, "
                    "or the region's ELB account) put objects"
                ) from exc
            raise
    if not _allows_delivery(json.loads(text), bucket):
        raise RemediationRefused(
            f"the policy of bucket {bucket} lets no log-delivery principal put objects "
            "(logdelivery.elasticloadbalancing.amazonaws.com or the region's ELB account)"
        )


def _wanted(options: Options, violation: Violation, lb: LoadBalancer) -> dict[str, Any]:
    bucket, prefix = _bucket(options, violation)
    wanted: dict[str, Any] = {"enabled": True, "bucket": bucket, "prefix": prefix}
    if lb.classic:
        wanted["emit_interval"] = options.emit_interval
    return wanted


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    lb = LoadBalancer.of(violation)
    state = await read_logging(ctx, lb)
    if state is None:
        return CheckResult.compliant(f"load balancer {lb.name} no longer exists")
    if state["enabled"]:
        return CheckResult.compliant(
            f"load balancer {lb.name} logs to s3://{state['bucket']}/{state['prefix']}"
        )
    return CheckResult.violating(f"load balancer {lb.name} has access logs disabled", logging=state)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    lb = LoadBalancer.of(violation)
    wanted = _wanted(ctx.options, violation, lb)
    if ctx.options.check_bucket_policy:
        await check_bucket(ctx, wanted["bucket"])
    # check read the attributes in this run: no second DescribeLoadBalancerAttributes
    state: dict[str, Any] | None = await ctx.checked_or_read(
        "logging", lambda: read_logging(ctx, lb)
    )
    if state is None:
        return Plan(f"load balancer {lb.name} no longer exists")
    return Plan(
        summary=(
            f"enable access logs of load balancer {lb.name} to "
            f"s3://{wanted['bucket']}/{wanted['prefix']}"
        ),
        changes=[Change("modify_load_balancer_attributes", lb.arn, state, wanted)],
        notes=["undo writes the recorded access-log attributes back"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    lb = LoadBalancer.of(violation)
    wanted = _wanted(ctx.options, violation, lb)
    state = await read_logging(ctx, lb)  # re-read right before writing
    if state is None:
        raise RemediationRefused(f"load balancer {lb.name} no longer exists")
    if state["enabled"]:
        return state
    await ctx.record_before(state)
    await write_logging(ctx, lb, wanted)
    return wanted


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    lb = LoadBalancer.of(record.violation)
    before = record.before_image or {}
    after = record.after_image or {}
    live = await read_logging(ctx, lb)
    if live is None or {k: live.get(k) for k in after} != dict(after):
        raise ResourceChanged(
            f"the access-log settings of {lb.name} changed since the remediation; not reverting"
        )
    await write_logging(ctx, lb, before)
    return f"restored the access-log settings of load balancer {lb.name} (enabled={before.get('enabled')})"


def option_policy(options: Options) -> IamPolicy:
    if options.bucket and options.check_bucket_policy:
        return IamPolicy.allow(["s3:GetBucketPolicy"], [f"arn:{{partition}}:s3:::{options.bucket}"])
    return IamPolicy()


REMEDIATION = Remediation(
    id="network.enable_lb_access_logs",
    rules=("LW_AWS_NETWORKING_49",),
    title="Enable load balancer access logs to the configured S3 bucket",
    description=(
        "ALB/NLB and classic ELB: access logs on, to the configured bucket and prefix, after "
        "checking the bucket policy lets ELB log delivery write; refused without a bucket."
    ),
    resource_type="elasticloadbalancing:loadbalancer",
    policy=IamPolicy.allow(["elasticloadbalancing:DescribeLoadBalancerAttributes"])
    + IamPolicy.allow(["elasticloadbalancing:ModifyLoadBalancerAttributes"], [LOAD_BALANCER]),
    option_policy=option_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
