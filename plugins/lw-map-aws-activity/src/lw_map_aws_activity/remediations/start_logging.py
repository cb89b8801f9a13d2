"""CloudTrail logging stopped (``StopLogging``): start it again.

The event itself is the violation, so ``check`` reads the trail's status: a trail that
logs again (or is gone) ends ``resolved``. Undo stops logging again, unless somebody
changed the trail's logging since.
"""

from __future__ import annotations

from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._aws import TRAIL, unless

ID = "activity.start_logging"
_GONE = ("TrailNotFoundException", "InvalidTrailNameException")


async def _is_logging(ctx: RemediationContext[Any], trail: str) -> bool | None:
    async with ctx.aws.client("cloudtrail") as ct:
        status = await unless(ct.get_trail_status(Name=trail), *_GONE)
    return None if status is None else bool(status.get("IsLogging"))


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    logging = await _is_logging(ctx, violation.resource_arn)
    if logging is None:
        return CheckResult.compliant(f"trail {violation.resource_name} no longer exists")
    if logging:
        return CheckResult.compliant(f"trail {violation.resource_name} is logging", IsLogging=True)
    return CheckResult.violating(f"trail {violation.resource_name} is not logging", IsLogging=False)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    trail = violation.resource_arn
    return Plan(
        f"start logging on trail {violation.resource_name}",
        [Change("start_logging", trail, before=False, after=True)],
        notes=("undo stops logging again",),
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> dict[str, Any]:
    trail = ctx.violation.resource_arn
    if await _is_logging(ctx, trail) is not False:
        return {"TrailARN": trail, "IsLogging": True}
    await ctx.record_before({"TrailARN": trail, "IsLogging": False})
    async with ctx.aws.client("cloudtrail") as ct:
        await ct.start_logging(Name=trail)
    return {"TrailARN": trail, "IsLogging": True}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    if await _is_logging(ctx, violation.resource_arn):
        return VerifyResult.verified("trail is logging")
    return VerifyResult.failed("trail is still not logging")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    trail = record.violation.resource_arn
    if await _is_logging(ctx, trail) is not True:
        raise ResourceChanged(f"trail {record.violation.resource_name} is no longer logging")
    async with ctx.aws.client("cloudtrail") as ct:
        await ct.stop_logging(Name=trail)
    return f"stopped logging on trail {record.violation.resource_name} again"


REMEDIATION = Remediation(
    id=ID,
    rules=("ACTIVITY:STOP_LOGGING",),
    title="Start CloudTrail logging again after StopLogging",
    description="CloudTrail StartLogging on the trail an activity alert says was stopped.",
    resource_type="cloudtrail:trail",
    policy=IamPolicy.allow(["cloudtrail:GetTrailStatus", "cloudtrail:StartLogging"], [TRAIL]),
    revert_policy=IamPolicy.allow(["cloudtrail:StopLogging"], [TRAIL]),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
