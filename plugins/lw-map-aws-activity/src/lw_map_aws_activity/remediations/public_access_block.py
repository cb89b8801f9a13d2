"""S3 public access block removed or weakened: put it back.

``check`` reads the bucket's public access block; a bucket with all four settings on
(or gone) is ``resolved``. The plan turns on the settings that are off (the configured
``settings``, all four by default) and keeps those already on. Undo writes the recorded
block back (deletes it when there was none), unless the block changed since. A bucket
that must stay public is exempted (a tag or ARN exemption), not answered here.
"""

from __future__ import annotations

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
    ResourceChanged,
    VerifyResult,
    Violation,
    aws_error_code,
)

from .._aws import BUCKET

ID = "activity.restore_public_access_block"
FLAGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
_NONE = "NoSuchPublicAccessBlockConfiguration"


class Options(RemediationOptions):
    #: The settings to turn on (default: all four).
    settings: tuple[str, ...] = FLAGS

    @pydantic.field_validator("settings")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(FLAGS))
        if unknown or not value:
            raise ValueError(f"choose among {', '.join(FLAGS)} (got {', '.join(unknown)})")
        return value


class _Gone(Exception):
    pass


async def _read(ctx: RemediationContext[Any], bucket: str) -> dict[str, bool] | None:
    """The bucket's block (None: none set); raises _Gone when the bucket is gone."""
    async with ctx.aws.client("s3") as s3:
        try:
            answer = await s3.get_public_access_block(Bucket=bucket)
        except ClientError as exc:
            if aws_error_code(exc) == _NONE:
                return None
            if aws_error_code(exc) == "NoSuchBucket":
                raise _Gone from exc
            raise
    config = answer.get("PublicAccessBlockConfiguration", {})
    return {f: bool(config.get(f)) for f in FLAGS}


def _wanted(current: dict[str, bool] | None, options: Options) -> dict[str, bool]:
    base = dict(current or dict.fromkeys(FLAGS, False))
    return {f: base[f] or f in options.settings for f in FLAGS}


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    bucket = violation.resource_name
    try:
        current = await _read(ctx, bucket)
    except _Gone:
        return CheckResult.compliant(f"bucket {bucket} no longer exists")
    if current is not None and current == _wanted(current, ctx.options):
        return CheckResult.compliant(f"bucket {bucket} blocks public access", block=current)
    return CheckResult.violating(
        f"bucket {bucket} has {'no' if current is None else 'a weakened'} public access block",
        block=current,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    bucket = violation.resource_name
    # check read the block in this run: no second GetPublicAccessBlock (apply re-reads)
    current: dict[str, bool] | None = await ctx.checked_or_read("block", lambda: _read(ctx, bucket))
    wanted = _wanted(current, ctx.options)
    return Plan(
        f"put the public access block of bucket {bucket} back ({', '.join(k for k, v in wanted.items() if v)})",
        [Change("put_public_access_block", violation.resource_arn, before=current, after=wanted)],
        data={"wanted": wanted},
        notes=("undo writes the recorded block back (or deletes it when there was none)",),
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> dict[str, Any]:
    bucket = ctx.violation.resource_name
    current = await _read(ctx, bucket)
    wanted = dict(plan.data["wanted"])
    await ctx.record_before({"PublicAccessBlock": current})
    async with ctx.aws.client("s3") as s3:
        await s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration=wanted)
    return {"PublicAccessBlock": wanted}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    current = await _read(ctx, violation.resource_name)
    if current is not None and current == _wanted(current, ctx.options):
        return VerifyResult.verified("public access block in place")
    return VerifyResult.failed(f"public access block is {current}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    bucket = record.violation.resource_name
    current = await _read(ctx, bucket)
    left = (record.after_image or {}).get("PublicAccessBlock")
    if current != left:
        raise ResourceChanged(f"the public access block of bucket {bucket} changed since")
    before = (record.before_image or {}).get("PublicAccessBlock")
    async with ctx.aws.client("s3") as s3:
        if before is None:
            await s3.delete_public_access_block(Bucket=bucket)
        else:
            await s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=dict(before)
            )
    return f"wrote the recorded public access block of bucket {bucket} back"


REMEDIATION = Remediation(
    id=ID,
    rules=("ACTIVITY:PUBLIC_ACCESS_BLOCK_REMOVED",),
    title="Put a removed or weakened S3 public access block back",
    description="S3 PutPublicAccessBlock on the bucket an activity alert names.",
    resource_type="s3:public-access-block",
    policy=IamPolicy.allow(
        ["s3:GetBucketPublicAccessBlock", "s3:PutBucketPublicAccessBlock"], [BUCKET]
    ),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
