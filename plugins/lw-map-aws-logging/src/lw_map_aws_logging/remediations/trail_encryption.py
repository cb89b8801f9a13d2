"""AWS_CIS_2_7: encrypt the trail's log files with the configured customer-managed key.

Before anything is written, the key is checked: it must be enabled, customer managed,
symmetric, in the trail's region, and its key policy must let ``cloudtrail.amazonaws.com``
call ``kms:GenerateDataKey*``. Otherwise the action is refused with what to fix (the
daemon never edits key policies: that would let it grant itself access). Readers of the
logs (SIEM, Athena, Lacework's own CloudTrail ingestion) also need ``kms:Decrypt`` on the
key, which only the operator can judge: the plan says so. Undo restores the previous key
setting (files already written stay encrypted with the key they were written with).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    Arn,
    IamPolicy,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    Violation,
)

from .._aws import TRAIL, allows_service, as_list, fill, refuse_without, unless
from .._trail import TrailUpdate, Wanted

ID = "logging.encrypt_trail_with_cmk"
CLOUDTRAIL = "cloudtrail.amazonaws.com"

RUNBOOK = """\
Trail {trail} cannot be encrypted with key {key}: {why}.
1. Use a customer-managed, symmetric, enabled KMS key in {region}.
2. Add a key-policy statement letting CloudTrail use it, e.g.
   {{"Sid": "AllowCloudTrailEncrypt", "Effect": "Allow",
    "Principal": {{"Service": "cloudtrail.amazonaws.com"}},
    "Action": "kms:GenerateDataKey*", "Resource": "*",
    "Condition": {{"StringLike": {{"kms:EncryptionContext:aws:cloudtrail:arn":
      "arn:aws:cloudtrail:*:{account}:trail/*"}}}}}}
   plus kms:DescribeKey for the same principal, and kms:Decrypt for every reader of the logs.
3. Run the remediation again (or: aws cloudtrail update-trail --name {trail} --kms-key-id {key})."""


class Options(RemediationOptions):
    """The key. No default: the operator names it."""

    #: Key ARN, e.g. ``"arn:aws:kms:{region}:{account}:key/1234abcd-…"``.
    kms_key_arn: str | None = None

    @pydantic.field_validator("kms_key_arn")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        if value is None:
            return value
        probe = value.replace("{account}", "000000000000").replace("{region}", "us-east-1")
        parsed = Arn.parse(probe) if probe.startswith("arn:") else None
        if parsed is None or parsed.service != "kms" or not parsed.resource.startswith("key/"):
            raise ValueError(f"not a KMS key ARN (arn:…:kms:…:key/…): {value!r}")
        return value


def _compliant(trail: Mapping[str, Any], options: Any) -> str | None:
    key = trail.get("KmsKeyId")
    if key:
        return f"trail {trail.get('Name')} is encrypted with KMS key {key}"
    return None


def lets_cloudtrail_encrypt(policy: Mapping[str, Any]) -> bool:
    """True when an Allow statement of the key policy lets CloudTrail generate data keys.

    Conditions are not evaluated: CloudTrail's documented condition
    (``kms:EncryptionContext:aws:cloudtrail:arn``) is satisfied by its own calls."""
    return any(
        allows_service(s, CLOUDTRAIL, "kms:GenerateDataKey")
        for s in as_list(policy.get("Statement"))
    )


async def usable_key(
    ctx: RemediationContext[Any], violation: Violation, trail: Mapping[str, Any]
) -> str:
    """The configured key's ARN once it passed every check; refuse with the runbook if not."""
    options: Options = ctx.options
    if options.kms_key_arn is None:
        raise refuse_without("kms_key_arn", ID, f"no KMS key configured for trail {trail['Name']}")
    region = ctx.aws.region
    key = fill(options.kms_key_arn, violation, region)

    def refuse(why: str) -> RemediationRefused:
        return RemediationRefused(
            RUNBOOK.format(
                trail=trail["Name"], key=key, why=why, region=region, account=violation.account_id
            )
        )

    async with ctx.aws.client("kms") as kms:
        described = await unless(kms.describe_key(KeyId=key), "NotFoundException")
        if described is None:
            raise refuse("the key does not exist")
        meta = described["KeyMetadata"]
        problems = []
        if meta.get("KeyState") != "Enabled":
            problems.append(f"its state is {meta.get('KeyState')}")
        if meta.get("KeyManager") != "CUSTOMER":
            problems.append("it is AWS managed")
        if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            problems.append(f"it is a {meta.get('KeySpec')} key, not symmetric")
        if Arn.parse(meta["Arn"]).region != region:
            problems.append(f"it is in {Arn.parse(meta['Arn']).region}, the trail in {region}")
        if problems:
            raise refuse(", ".join(problems))
        response = await kms.get_key_policy(KeyId=meta["Arn"], PolicyName="default")
    if not lets_cloudtrail_encrypt(json.loads(response["Policy"])):
        raise refuse(
            "its key policy does not let cloudtrail.amazonaws.com use kms:GenerateDataKey*"
        )
    return str(meta["Arn"])


async def _wanted(
    ctx: RemediationContext[Any], violation: Violation, trail: Mapping[str, Any]
) -> Wanted:
    key = await usable_key(ctx, violation, trail)
    return Wanted(
        {"KmsKeyId": key},
        notes=[
            "every reader of the trail's log files (SIEM, Athena, Lacework's CloudTrail "
            "ingestion) needs kms:Decrypt on the key from now on",
        ],
    )


def _describe(settings: Mapping[str, Any]) -> str:
    key = settings.get("KmsKeyId")
    return f"KMS key {key}" if key else "no KMS key (SSE-S3)"


UPDATE = TrailUpdate(
    fields={"KmsKeyId": "KmsKeyId"},
    compliant=_compliant,
    wanted=_wanted,
    describe=_describe,
    violating="log files are not encrypted with a KMS key",
)


def option_policy(options: Options) -> IamPolicy:
    """Reading the configured key (its metadata and its key policy)."""
    if options.kms_key_arn is None:
        return IamPolicy()
    return IamPolicy.allow(["kms:DescribeKey", "kms:GetKeyPolicy"], [options.kms_key_arn])


REMEDIATION = Remediation(
    id=ID,
    rules=("AWS_CIS_2_7",),
    title="Encrypt CloudTrail log files with a customer-managed KMS key",
    description=(
        "Sets the configured key on the trail after checking it is enabled, customer managed, "
        "symmetric, in the region, and its key policy lets CloudTrail use it; refuses otherwise."
    ),
    resource_type="cloudtrail:trail",
    policy=IamPolicy.allow(["cloudtrail:GetTrail", "cloudtrail:UpdateTrail"], [TRAIL]),
    option_policy=option_policy,
    options=Options,
    check=UPDATE.check,
    plan=UPDATE.plan,
    apply=UPDATE.apply,
    verify=UPDATE.verify,
    revert=UPDATE.revert,
)
