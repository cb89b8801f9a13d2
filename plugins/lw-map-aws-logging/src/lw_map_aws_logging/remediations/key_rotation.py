"""AWS_CIS_2_8: enable automatic rotation of a customer-managed KMS key.

AWS rotates only symmetric encryption keys whose material it generated (``KeySpec``
``SYMMETRIC_DEFAULT``, ``Origin`` ``AWS_KMS``). The other cases end without a write:

- an AWS-managed key is rotated by AWS every year: ``resolved``, saying so;
- a key that no longer exists or is pending deletion: ``resolved``;
- an asymmetric or HMAC key, imported key material or a custom key store: ``manual``
  with what to do by hand (create a new key and move aliases/users to it);
- a disabled key: ``refused`` (AWS rejects rotation changes on it).

Rotation keeps every old key version, so nothing already encrypted is affected. Undo
disables rotation again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    ManualActionRequired,
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

from .._aws import KEY, unless

ID = "logging.enable_key_rotation"


class Options(RemediationOptions):
    """How often to rotate."""

    #: Days between rotations (90-2560); None keeps AWS's default (365).
    rotation_period_days: int | None = pydantic.Field(default=None, ge=90, le=2560)


def key_id(violation: Violation) -> str:
    arn = violation.arn
    if arn.service != "kms" or not arn.resource.startswith("key/"):
        raise RemediationError(f"{violation.rule_id}: expected a KMS key ARN, got {arn}")
    return violation.resource_arn


async def describe(kms: Any, key: str) -> dict[str, Any] | None:
    response = await unless(kms.describe_key(KeyId=key), "NotFoundException")
    return None if response is None else dict(response["KeyMetadata"])


def no_rotation_reason(meta: Mapping[str, Any]) -> str | None:
    """Why AWS cannot rotate this key automatically (None: it can)."""
    name = meta.get("KeyId")
    if meta.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
        why = f"key {name} is a {meta.get('KeySpec')} key"
    elif meta.get("Origin", "AWS_KMS") != "AWS_KMS":
        why = f"key {name} has key material from {meta.get('Origin')}"
    else:
        return None
    return (
        f"{why}: AWS rotates only symmetric keys with AWS-generated material. Rotate by hand: "
        "create a new key, point its aliases and users at it, and schedule the old key's "
        "deletion once nothing uses it"
    )


async def _state(
    ctx: RemediationContext[Any], violation: Violation
) -> tuple[dict[str, Any] | None, bool, str | None]:
    """(key metadata, rotation on, why nothing is to be done)."""
    key = key_id(violation)
    async with ctx.aws.client("kms") as kms:
        meta = await describe(kms, key)
        if meta is None:
            return None, False, f"key {violation.resource_name} no longer exists"
        if meta.get("KeyState") == "PendingDeletion":
            return meta, False, f"key {meta['KeyId']} is pending deletion"
        if meta.get("KeyManager") == "AWS":
            return meta, False, f"key {meta['KeyId']} is AWS managed: AWS rotates it every year"
        if no_rotation_reason(meta):
            return meta, False, None
        status = await kms.get_key_rotation_status(KeyId=key)
    enabled = bool(status.get("KeyRotationEnabled"))
    return meta, enabled, f"key {meta['KeyId']} has automatic rotation enabled" if enabled else None


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    meta, enabled, done = await _state(ctx, violation)
    if done:
        return CheckResult.compliant(done, rotation=enabled)
    seen = {"done": None, "meta": _facts(meta)}
    if meta is not None and no_rotation_reason(meta):
        return CheckResult.violating(str(no_rotation_reason(meta)), key=seen)
    return CheckResult.violating(f"key {violation.resource_name} has rotation disabled", key=seen)


def _facts(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What ``plan`` needs of a key's metadata (its dates are not kept)."""
    if meta is None:
        return None
    return {k: meta[k] for k in ("KeyId", "KeyState", "KeySpec", "Origin") if k in meta}


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    async def live() -> dict[str, Any]:
        meta, _, done = await _state(ctx, violation)
        return {"done": done, "meta": _facts(meta)}

    # check read the key and its rotation status in this run: not again (apply re-reads)
    seen: dict[str, Any] = await ctx.checked_or_read("key", live)
    meta, done = seen["meta"], seen["done"]
    if done or meta is None:
        return Plan(done or "nothing to do")
    reason = no_rotation_reason(meta)
    if reason:
        raise ManualActionRequired(str(reason))
    if meta.get("KeyState") != "Enabled":
        raise RemediationRefused(
            f"key {meta['KeyId']} is {meta.get('KeyState')}: AWS changes rotation only on an "
            "enabled key; enable it first (or schedule its deletion if it is unused)"
        )
    period = ctx.options.rotation_period_days
    after = {"KeyRotationEnabled": True, **({"RotationPeriodInDays": period} if period else {})}
    return Plan(
        summary=f"enable automatic rotation of KMS key {meta['KeyId']}"
        + (f" every {period} days" if period else " (every 365 days)"),
        changes=[
            Change(
                "enable_key_rotation", violation.resource_arn, {"KeyRotationEnabled": False}, after
            )
        ],
        notes=["undo disables rotation again; old key versions stay usable either way"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    key = key_id(ctx.violation)
    period = ctx.options.rotation_period_days
    async with ctx.aws.client("kms") as kms:
        status = await kms.get_key_rotation_status(KeyId=key)  # re-read right before writing
        if status.get("KeyRotationEnabled"):
            return {"KeyRotationEnabled": True}
        await ctx.record_before({"KeyRotationEnabled": False})
        await kms.enable_key_rotation(
            KeyId=key, **({"RotationPeriodInDays": period} if period else {})
        )
    return {"KeyRotationEnabled": True}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("kms") as kms:
        status = await kms.get_key_rotation_status(KeyId=key_id(violation))
    if status.get("KeyRotationEnabled"):
        return VerifyResult.verified(
            f"key {violation.resource_name} has automatic rotation enabled"
        )
    return VerifyResult.failed(f"key {violation.resource_name} still has rotation disabled")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    key = key_id(record.violation)
    async with ctx.aws.client("kms") as kms:
        status = await kms.get_key_rotation_status(KeyId=key)
        if not status.get("KeyRotationEnabled"):
            raise ResourceChanged(
                f"rotation of key {record.violation.resource_name} was turned off since; "
                "not reverting"
            )
        await kms.disable_key_rotation(KeyId=key)
    return f"disabled automatic rotation of key {record.violation.resource_name}, as before"


REMEDIATION = Remediation(
    id=ID,
    rules=("AWS_CIS_2_8",),
    title="Enable automatic rotation of a customer-managed KMS key",
    description=(
        "Enables rotation on symmetric customer-managed keys; AWS-managed keys end resolved, "
        "keys AWS cannot rotate end manual with the procedure."
    ),
    resource_type="kms:key",
    policy=IamPolicy.allow(
        ["kms:DescribeKey", "kms:GetKeyRotationStatus", "kms:EnableKeyRotation"], [KEY]
    ),
    revert_policy=IamPolicy.allow(["kms:DisableKeyRotation"], [KEY]),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
