"""LW_S3_16: enable bucket versioning; revert suspends it again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._s3 import bucket_args, bucket_policy, resolves_missing_bucket


class Options(RemediationOptions):
    """No options: versioning is either on or off."""


async def _status(ctx: RemediationContext[Any], violation: Violation) -> str | None:
    """The live versioning status: ``Enabled``, ``Suspended`` or None (never enabled)."""
    async with ctx.aws.client("s3") as s3:
        response = await s3.get_bucket_versioning(**bucket_args(violation))
    status = response.get("Status")
    return str(status) if status else None


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    status = await _status(ctx, violation)
    if status == "Enabled":
        return CheckResult.compliant("versioning is already enabled", status=status)
    return CheckResult.violating(f"versioning is {status or 'not enabled'}", status=status)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the status moments ago in this run: no second GetBucketVersioning
    status = await ctx.checked_or_read("status", lambda: _status(ctx, violation))
    if status == "Enabled":
        return Plan("versioning is already enabled")
    return Plan(
        summary=f"enable versioning on bucket {violation.resource_name} (now {status or 'never enabled'})",
        changes=[Change("put_bucket_versioning", violation.resource_arn, status, "Enabled")],
        notes=[
            "undo suspends versioning: a bucket can never return to 'never enabled', and "
            "object versions created meanwhile remain",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    status = await _status(ctx, violation)  # re-read right before writing
    if status == "Enabled":
        return {"Status": "Enabled"}
    await ctx.record_before({"Status": status})
    async with ctx.aws.client("s3") as s3:
        await s3.put_bucket_versioning(
            **bucket_args(violation), VersioningConfiguration={"Status": "Enabled"}
        )
    return {"Status": "Enabled"}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    status = await _status(ctx, violation)
    if status == "Enabled":
        return VerifyResult.verified("versioning is enabled")
    return VerifyResult.failed(f"versioning is {status or 'not enabled'} after the change")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    violation = record.violation
    status = await _status(ctx, violation)
    if status != "Enabled":
        raise ResourceChanged(f"versioning is now {status or 'not enabled'}; not reverting")
    async with ctx.aws.client("s3") as s3:
        await s3.put_bucket_versioning(
            **bucket_args(violation), VersioningConfiguration={"Status": "Suspended"}
        )
    before = (record.before_image or {}).get("Status")
    if before is None:
        return "versioning suspended (the bucket was never versioned; that state cannot return)"
    return "versioning suspended, as before"


REMEDIATION = Remediation(
    id="s3.enable_versioning",
    rules=("LW_S3_16",),
    title="Enable S3 bucket versioning",
    description="Turns versioning on (never touches MFA delete); undo suspends it.",
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketVersioning", "s3:PutBucketVersioning"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
