"""LW_S3_13: enable server access logging to the operator's log bucket.

The target bucket and prefix are options (templates filled with the account, the
bucket's region and the bucket name). Without a configured target, or when the
target does not exist, is in another region or is the bucket itself, the action is
refused with the reason: lw-remediate never invents or creates a log bucket.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    VerifyResult,
    Violation,
)

from .._s3 import (
    bucket_args,
    bucket_policy,
    changed_since,
    error_code,
    error_message,
    gone,
    is_missing_bucket,
    region_of,
    resolves_missing_bucket,
)

_TARGET_FIELDS = {"account", "region"}
_PREFIX_FIELDS = {"account", "region", "bucket"}
_REFUSED_TARGET_CODES = {
    "InvalidTargetBucketForLogging",
    "CrossLocationLoggingProhibited",
    "InvalidBucketName",
}


def _template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


class Options(RemediationOptions):
    """Where the logs go. No default target: the operator must name one."""

    #: Log bucket, e.g. ``"s3-access-logs-{account}-{region}"`` (same account and region
    #: as the logged bucket, as S3 requires).
    target_bucket: str | None = None
    #: Key prefix in the log bucket, e.g. ``"{account}/{region}/{bucket}/"``.
    target_prefix: str = "{bucket}/"
    #: Also correct logging that is on but goes to another bucket or prefix.
    enforce_target: bool = False

    @pydantic.field_validator("target_bucket")
    @classmethod
    def _target(cls, value: str | None) -> str | None:
        if value is not None and not _template_fields(value) <= _TARGET_FIELDS:
            raise ValueError("target_bucket may only use {account} and {region}")
        return value

    @pydantic.field_validator("target_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not _template_fields(value) <= _PREFIX_FIELDS:
            raise ValueError("target_prefix may only use {account}, {region} and {bucket}")
        return value


async def read_logging(s3: Any, violation: Violation) -> dict[str, Any]:
    """The ``LoggingEnabled`` block, or ``{}`` when logging is off."""
    response = await s3.get_bucket_logging(**bucket_args(violation))
    return dict(response.get("LoggingEnabled") or {})


async def bucket_region(s3: Any, bucket: str, violation: Violation) -> str | None:
    """The region of ``bucket`` in the violation's account (None: no such bucket)."""
    try:
        response = await s3.get_bucket_location(
            Bucket=bucket, ExpectedBucketOwner=violation.account_id
        )
    except ClientError as exc:
        if is_missing_bucket(exc):
            return None
        raise
    return region_of(response.get("LocationConstraint"))


async def own_region(s3: Any, violation: Violation) -> str:
    """The region of the logged bucket itself (refused when it no longer exists)."""
    region = await bucket_region(s3, violation.resource_name, violation)
    if region is None:
        raise RemediationRefused(gone(violation))
    return region


def target_in(
    region: str, violation: Violation, target_bucket: str, options: Options
) -> dict[str, str]:
    """``{TargetBucket, TargetPrefix, Region}`` for this bucket, in ``region``."""
    values = {"account": violation.account_id, "region": region, "bucket": violation.resource_name}
    return {
        "TargetBucket": target_bucket.format(**values),
        "TargetPrefix": options.target_prefix.format(**values),
        "Region": region,
    }


def _matches(current: Mapping[str, Any], target: Mapping[str, Any]) -> bool:
    return current.get("TargetBucket") == target.get("TargetBucket") and current.get(
        "TargetPrefix", ""
    ) == target.get("TargetPrefix", "")


def _describe(logging: Mapping[str, Any]) -> str:
    return f"s3://{logging.get('TargetBucket')}/{logging.get('TargetPrefix', '')}"


def _satisfied(current: Mapping[str, Any], wanted: Mapping[str, Any], options: Options) -> bool:
    return bool(current) and (not options.enforce_target or _matches(current, wanted))


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("s3") as s3:
        current = await read_logging(s3, violation)
        if not current:
            return CheckResult.violating("server access logging is disabled", logging=current)
        target_bucket = ctx.options.target_bucket
        if not ctx.options.enforce_target or target_bucket is None:
            return CheckResult.compliant(
                f"server access logging is enabled to {_describe(current)}", logging=current
            )
        region = await own_region(s3, violation)
    target = target_in(region, violation, target_bucket, ctx.options)
    if not _matches(current, target):
        return CheckResult.violating(
            f"access logs go to {_describe(current)}, not the approved {_describe(target)}",
            logging=current,
            region=region,
        )
    return CheckResult.compliant(
        f"server access logging is enabled to {_describe(current)}", logging=current
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    name = violation.resource_name
    target_bucket = ctx.options.target_bucket
    if target_bucket is None:
        raise RemediationRefused(
            f"no log target configured: set target_bucket for s3.enable_access_logging to "
            f"enable access logging on bucket {name}"
        )
    async with ctx.aws.client("s3") as s3:
        # what check read in this run (the logging block; with enforce_target the bucket's
        # region too) is not requested again; apply re-reads the logging before writing
        region: str = await ctx.checked_or_read("region", lambda: own_region(s3, violation))
        target = target_in(region, violation, target_bucket, ctx.options)
        log_bucket = target["TargetBucket"]
        if log_bucket == name:
            raise RemediationRefused(
                f"bucket {name} is the configured log target itself; logging it into itself "
                "would loop"
            )
        log_region = await bucket_region(s3, log_bucket, violation)
        if log_region is None:
            raise RemediationRefused(
                f"log target bucket {log_bucket} does not exist in account "
                f"{violation.account_id}; create it (with a policy letting "
                "logging.s3.amazonaws.com write) first"
            )
        if log_region != target["Region"]:
            raise RemediationRefused(
                f"log target bucket {log_bucket} is in {log_region}, bucket {name} in "
                f"{target['Region']}; S3 logs only to a bucket in the same region"
            )
        current: dict[str, Any] = await ctx.checked_or_read(
            "logging", lambda: read_logging(s3, violation)
        )
    wanted = {"TargetBucket": log_bucket, "TargetPrefix": target["TargetPrefix"]}
    if _satisfied(current, wanted, ctx.options):
        return Plan(f"server access logging is already enabled to {_describe(current)}")
    return Plan(
        summary=f"enable server access logging on bucket {name} to {_describe(wanted)}"
        + (f" (now {_describe(current)})" if current else ""),
        changes=[Change("put_bucket_logging", violation.resource_arn, current or None, wanted)],
        data={"LoggingEnabled": wanted},
        notes=["undo restores the previous logging configuration (disables logging if it was off)"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    wanted = dict(plan.data["LoggingEnabled"])
    async with ctx.aws.client("s3") as s3:
        current = await read_logging(s3, violation)  # re-read right before writing
        if _satisfied(current, wanted, ctx.options):
            return {"LoggingEnabled": current}
        before = {"LoggingEnabled": current} if current else {}
        await ctx.record_before({"BucketLoggingStatus": before})
        try:
            await s3.put_bucket_logging(
                **bucket_args(violation), BucketLoggingStatus={"LoggingEnabled": wanted}
            )
        except ClientError as exc:
            if error_code(exc) in _REFUSED_TARGET_CODES:
                raise RemediationRefused(
                    f"S3 refused log target {_describe(wanted)}: {error_message(exc)}"
                ) from exc
            raise
    return {"LoggingEnabled": wanted}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("s3") as s3:
        current = await read_logging(s3, violation)
    if not current:
        return VerifyResult.failed("server access logging is still disabled")
    return VerifyResult.verified(f"server access logging is enabled to {_describe(current)}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    violation = record.violation
    before = (record.before_image or {}).get("BucketLoggingStatus", {})
    after = (record.after_image or {}).get("LoggingEnabled", {})
    async with ctx.aws.client("s3") as s3:
        current = await read_logging(s3, violation)
        if not current or not _matches(current, after):
            raise changed_since(violation, "the logging configuration")
        await s3.put_bucket_logging(**bucket_args(violation), BucketLoggingStatus=dict(before))
    if not before:
        return f"disabled server access logging on bucket {violation.resource_name}, as before"
    return f"restored access logging to {_describe(before['LoggingEnabled'])}"


REMEDIATION = Remediation(
    id="s3.enable_access_logging",
    rules=("LW_S3_13",),
    title="Enable S3 server access logging",
    description=(
        "Logs to the configured target bucket/prefix (templates with account and region); "
        "refuses when no target is configured or the target does not exist."
    ),
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketLogging", "s3:GetBucketLocation", "s3:PutBucketLogging"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
