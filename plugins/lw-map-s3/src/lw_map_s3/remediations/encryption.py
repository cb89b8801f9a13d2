"""LW_S3_14: default encryption at rest, SSE-S3 by default, SSE-KMS with a configured key.

Only new objects are affected; existing objects are not re-encrypted. Before using a
KMS key the remediation checks that it exists, is enabled, is a symmetric
encryption key and lives in the bucket's region: S3 accepts any key id, and a wrong
one would make every later upload fail.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Arn,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    VerifyResult,
    Violation,
)

from .._s3 import (
    bucket_policy,
    changed_since,
    error_code,
    get_or_none,
    put_or_delete,
    resolves_missing_bucket,
)

NOT_FOUND = "ServerSideEncryptionConfigurationNotFoundError"
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
_KMS_ARN_RE = re.compile(r"^(arn:[^:]+:kms:[^:]*:[^:]*):(key|alias)/[^:]+$")


class Options(RemediationOptions):
    """Which default encryption to require."""

    #: ``AES256`` (SSE-S3) or ``aws:kms`` (SSE-KMS with ``kms_key_arn``).
    sse_algorithm: Literal["AES256", "aws:kms"] = "AES256"
    #: Key for SSE-KMS: a key or alias ARN; may use ``{account}`` and ``{region}``.
    kms_key_arn: str | None = None
    #: With SSE-KMS, use an S3 Bucket Key (far fewer KMS requests).
    bucket_key_enabled: bool = True
    #: With SSE-KMS, accept a bucket already encrypted with any KMS key.
    accept_existing_kms: bool = True

    @pydantic.field_validator("kms_key_arn")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fields = {n for _, n, _, _ in string.Formatter().parse(value) if n is not None}
        if not fields <= {"account", "region"} or not _KMS_ARN_RE.match(value):
            raise ValueError(
                "kms_key_arn must be a KMS key or alias ARN ({account}, {region} allowed)"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _kms_needs_key(self) -> Options:
        if self.sse_algorithm == "aws:kms" and not self.kms_key_arn:
            raise ValueError("sse_algorithm = 'aws:kms' needs kms_key_arn")
        return self


def key_arn(ctx: RemediationContext[Any]) -> str:
    return str(ctx.options.kms_key_arn).format(account=ctx.aws.account_id, region=ctx.aws.region)


def desired_rule(ctx: RemediationContext[Any]) -> dict[str, Any]:
    if ctx.options.sse_algorithm == "AES256":
        return {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    return {
        "ApplyServerSideEncryptionByDefault": {
            "SSEAlgorithm": "aws:kms",
            "KMSMasterKeyID": key_arn(ctx),
        },
        "BucketKeyEnabled": ctx.options.bucket_key_enabled,
    }


def _essence(config: Mapping[str, Any] | None) -> list[tuple[str, str, bool]]:
    """The parts of an encryption configuration that matter, for comparing."""
    rules = (config or {}).get("Rules", [])
    return sorted(
        (
            str(r.get("ApplyServerSideEncryptionByDefault", {}).get("SSEAlgorithm", "")),
            str(r.get("ApplyServerSideEncryptionByDefault", {}).get("KMSMasterKeyID", "")),
            bool(r.get("BucketKeyEnabled", False)),
        )
        for r in rules
    )


def satisfied_by(config: Mapping[str, Any] | None, ctx: RemediationContext[Any]) -> str | None:
    """Why ``config`` meets the options (None: it does not)."""
    for algorithm, key, _ in _essence(config):
        if ctx.options.sse_algorithm == "AES256" and (
            algorithm == "AES256" or algorithm in KMS_ALGORITHMS
        ):
            return f"default encryption is {algorithm}"
        if algorithm in KMS_ALGORITHMS and (ctx.options.accept_existing_kms or key == key_arn(ctx)):
            return f"default encryption is {algorithm} with key {key or 'aws/s3'}"
    return None


async def get_encryption(s3: Any, violation: Violation) -> dict[str, Any] | None:
    """The ``ServerSideEncryptionConfiguration``, or None when the bucket has none."""
    response = await get_or_none(s3.get_bucket_encryption, violation, NOT_FOUND)
    return None if response is None else dict(response["ServerSideEncryptionConfiguration"])


async def read_encryption(
    ctx: RemediationContext[Any], violation: Violation
) -> dict[str, Any] | None:
    """:func:`get_encryption` with a client of its own."""
    async with ctx.aws.client("s3") as s3:
        return await get_encryption(s3, violation)


async def write_encryption(s3: Any, violation: Violation, config: Mapping[str, Any] | None) -> None:
    await put_or_delete(
        s3.put_bucket_encryption,
        s3.delete_bucket_encryption,
        violation,
        "ServerSideEncryptionConfiguration",
        None if config is None else dict(config),
    )


async def validate_key(ctx: RemediationContext[Any]) -> str:
    """Refuse unless the configured key can encrypt this region's objects; return its ARN."""
    wanted = key_arn(ctx)
    async with ctx.aws.client("kms") as kms:
        try:
            meta = (await kms.describe_key(KeyId=wanted))["KeyMetadata"]
        except ClientError as exc:
            if error_code(exc) in {"NotFoundException", "InvalidArnException"}:
                raise RemediationRefused(f"KMS key {wanted} does not exist") from exc
            raise
    problems = []
    if meta.get("KeyState") != "Enabled":
        problems.append(f"it is {meta.get('KeyState')}")
    # S3 encrypts only with symmetric keys; SYMMETRIC_DEFAULT keys are ENCRYPT_DECRYPT keys.
    spec = meta.get("KeySpec") or meta.get("CustomerMasterKeySpec")
    usage = meta.get("KeyUsage")
    if spec != "SYMMETRIC_DEFAULT" or usage not in (None, "ENCRYPT_DECRYPT"):
        problems.append(f"it is not a symmetric encryption key ({spec})")
    region = Arn.parse(str(meta["Arn"])).region
    if region != ctx.aws.region:
        problems.append(f"it is in {region}, the bucket in {ctx.aws.region}")
    if problems:
        raise RemediationRefused(f"KMS key {wanted} cannot be used: " + "; ".join(problems))
    return str(meta["Arn"])


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    config = await read_encryption(ctx, violation)
    reason = satisfied_by(config, ctx)
    if reason:
        return CheckResult.compliant(reason, configuration=config)
    if config is None:
        return CheckResult.violating("the bucket has no default encryption", configuration=None)
    return CheckResult.violating(
        "default encryption does not meet the configured "
        + ctx.options.sse_algorithm
        + " requirement",
        configuration=config,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the configuration in this run: no second GetBucketEncryption (apply re-reads)
    config: dict[str, Any] | None = await ctx.checked_or_read(
        "configuration", lambda: read_encryption(ctx, violation)
    )
    if satisfied_by(config, ctx):
        return Plan("default encryption already meets the requirement")
    notes = ["existing objects are not re-encrypted; only new uploads are"]
    if ctx.options.sse_algorithm == "aws:kms":
        await validate_key(ctx)
        notes.append(
            "writers now need kms:GenerateDataKey and readers kms:Decrypt on the key; a log "
            "target bucket must not use SSE-KMS"
        )
    wanted = {"Rules": [desired_rule(ctx)]}
    rule = wanted["Rules"][0]["ApplyServerSideEncryptionByDefault"]
    what = (
        "SSE-S3 (AES256)"
        if rule["SSEAlgorithm"] == "AES256"
        else f"SSE-KMS with {rule['KMSMasterKeyID']}"
    )
    notes.append(
        "undo puts the previous configuration back, or deletes it (on AWS a bucket then "
        "falls back to SSE-S3)"
    )
    return Plan(
        summary=f"set default encryption of bucket {violation.resource_name} to {what}",
        changes=[Change("put_bucket_encryption", violation.resource_arn, config, wanted)],
        notes=notes,
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    async with ctx.aws.client("s3") as s3:
        config = await get_encryption(s3, violation)  # re-read right before writing
        if satisfied_by(config, ctx):
            return {"ServerSideEncryptionConfiguration": config}
        wanted = {"Rules": [desired_rule(ctx)]}
        await ctx.record_before({"ServerSideEncryptionConfiguration": config})
        await write_encryption(s3, violation, wanted)
    return {"ServerSideEncryptionConfiguration": wanted}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    reason = satisfied_by(await read_encryption(ctx, violation), ctx)
    if reason:
        return VerifyResult.verified(reason)
    return VerifyResult.failed("default encryption does not meet the requirement after the change")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    violation = record.violation
    before = (record.before_image or {}).get("ServerSideEncryptionConfiguration")
    after = (record.after_image or {}).get("ServerSideEncryptionConfiguration")
    async with ctx.aws.client("s3") as s3:
        live = await get_encryption(s3, violation)
        if _essence(live) != _essence(after):
            raise changed_since(violation, "the default encryption")
        await write_encryption(s3, violation, before)
    if before is None:
        return f"deleted the default encryption of bucket {violation.resource_name}, as before"
    return f"restored the previous default encryption of bucket {violation.resource_name}"


def describe_key_policy(kms_key_arn: str) -> IamPolicy:
    """``kms:DescribeKey`` on the configured key only (``{account}``/``{region}`` filled
    in when the policy is rendered).

    IAM authorises an operation on a KMS key against the key's ARN, never an alias ARN.
    For an alias the statement allows the account's keys in that region when the request
    names that alias (``kms:RequestAlias``); the alias ARN is listed too because that is
    the resource the kit records for a call by alias.
    """
    match = _KMS_ARN_RE.match(kms_key_arn)
    if match is None or match.group(2) == "key":
        return IamPolicy.allow(["kms:DescribeKey"], [kms_key_arn])
    alias = kms_key_arn[len(match.group(1)) + 1 :]
    return IamPolicy.allow(
        ["kms:DescribeKey"],
        [kms_key_arn, f"{match.group(1)}:key/*"],
        conditions={"StringEquals": {"kms:RequestAlias": alias}},
    )


def option_policy(options: Options) -> IamPolicy:
    if options.sse_algorithm == "aws:kms" and options.kms_key_arn:
        return describe_key_policy(options.kms_key_arn)
    return IamPolicy()


REMEDIATION = Remediation(
    id="s3.enable_default_encryption",
    rules=("LW_S3_14",),
    title="Enable S3 default encryption",
    description="SSE-S3 (AES256) by default; SSE-KMS with a validated, configured key as an option.",
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetEncryptionConfiguration", "s3:PutEncryptionConfiguration"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    option_policy=option_policy,
)
