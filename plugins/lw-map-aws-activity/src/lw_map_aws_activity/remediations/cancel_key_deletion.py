"""KMS key scheduled for deletion (``ScheduleKeyDeletion``): cancel the deletion.

A key may be retired on purpose, so every cancellation waits for an operator's approval
by default, even in ``auto`` mode (``require_approval``). After ``CancelKeyDeletion`` AWS
leaves the key **disabled**; ``enable_key`` (off by default: the key may have been
disabled before it was scheduled) enables it too. Undo schedules the deletion again with
``pending_window_days``.
"""

from __future__ import annotations

from typing import Any

import pydantic

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
)

from .._aws import KEY, unless

ID = "activity.cancel_key_deletion"


class Options(RemediationOptions):
    #: Make every cancellation wait for an operator, even in auto mode.
    require_approval: bool = True
    #: Enable the key after cancelling (AWS leaves it disabled).
    enable_key: bool = False
    #: The waiting period undo schedules the deletion with (7-30 days).
    pending_window_days: int = pydantic.Field(default=30, ge=7, le=30)


async def _state(ctx: RemediationContext[Any], key: str) -> dict[str, Any] | None:
    async with ctx.aws.client("kms") as kms:
        answer = await unless(kms.describe_key(KeyId=key), "NotFoundException")
    return None if answer is None else dict(answer["KeyMetadata"])


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    meta = await _state(ctx, violation.resource_arn)
    if meta is None:
        return CheckResult.compliant(f"key {violation.resource_name} no longer exists")
    state = str(meta.get("KeyState"))
    if state != "PendingDeletion":
        return CheckResult.compliant(
            f"key {violation.resource_name} is not pending deletion ({state})", KeyState=state
        )
    return CheckResult.violating(
        f"key {violation.resource_name} is scheduled for deletion on {meta.get('DeletionDate')}",
        KeyState=state,
        DeletionDate=str(meta.get("DeletionDate")),
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    options: Options = ctx.options
    key = violation.resource_arn
    changes = [Change("cancel_key_deletion", key, before="PendingDeletion", after="Disabled")]
    notes = ["AWS leaves a cancelled key disabled"]
    if options.enable_key:
        changes.append(Change("enable_key", key, before="Disabled", after="Enabled"))
    else:
        notes.append("enable_key is off: enable the key by hand if it was in use")
    notes.append(
        f"undo schedules the deletion again with a {options.pending_window_days}-day window"
    )
    return Plan(
        f"cancel the scheduled deletion of key {violation.resource_name}",
        changes,
        notes=tuple(notes),
        requires_approval=options.require_approval,
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> dict[str, Any]:
    options: Options = ctx.options
    key = ctx.violation.resource_arn
    meta = await _state(ctx, key)
    if meta is None or meta.get("KeyState") != "PendingDeletion":
        return {"KeyState": None if meta is None else meta.get("KeyState")}
    await ctx.record_before(
        {"KeyState": "PendingDeletion", "DeletionDate": str(meta.get("DeletionDate"))}
    )
    key_id = str(meta["KeyId"])  # (moto resolves only the bare id in these calls)
    async with ctx.aws.client("kms") as kms:
        await kms.cancel_key_deletion(KeyId=key_id)
        if options.enable_key:
            await kms.enable_key(KeyId=key_id)
    return {"KeyState": "Enabled" if options.enable_key else "Disabled"}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    meta = await _state(ctx, violation.resource_arn)
    state = None if meta is None else meta.get("KeyState")
    if state in (None, "PendingDeletion"):
        return VerifyResult.failed(f"key state is {state}")
    return VerifyResult.verified(f"key state is {state}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    options: Options = ctx.options
    key = record.violation.resource_arn
    meta = await _state(ctx, key)
    left = (record.after_image or {}).get("KeyState")
    if meta is None or meta.get("KeyState") != left:
        state = None if meta is None else meta.get("KeyState")
        raise ResourceChanged(f"key {record.violation.resource_name} is {state}, not {left}")
    async with ctx.aws.client("kms") as kms:
        await kms.schedule_key_deletion(
            KeyId=str(meta["KeyId"]), PendingWindowInDays=options.pending_window_days
        )
    return f"scheduled the deletion of key {record.violation.resource_name} again"


def _option_policy(options: Any) -> IamPolicy:
    return IamPolicy.allow(["kms:EnableKey"], [KEY]) if options.enable_key else IamPolicy()


REMEDIATION = Remediation(
    id=ID,
    rules=("lacework-global-19",),
    title="Cancel the scheduled deletion of a KMS key (approval required by default)",
    description="KMS CancelKeyDeletion on the key an activity alert says was scheduled for deletion.",
    resource_type="kms:key",
    policy=IamPolicy.allow(["kms:DescribeKey", "kms:CancelKeyDeletion"], [KEY]),
    option_policy=_option_policy,
    revert_policy=IamPolicy.allow(["kms:ScheduleKeyDeletion"], [KEY]),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
