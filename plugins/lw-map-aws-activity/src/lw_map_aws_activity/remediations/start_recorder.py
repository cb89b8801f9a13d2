"""AWS Config recorder stopped (``StopConfigurationRecorder``): start it again.

The target is the region (``arn:aws:iam:<region>:<account>:root``); ``check`` reads
every recorder's status there and the plan starts those that are not recording. A
region without a recorder ends ``resolved`` here (creating one is the logging map's
CIS 2.5 remediation). Undo stops the recorders the action started, unless one of them
stopped since.
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

from .._aws import RECORDER

ID = "activity.start_config_recorder"


async def _status(ctx: RemediationContext[Any]) -> dict[str, bool]:
    async with ctx.aws.client("config") as config:
        answer = await config.describe_configuration_recorder_status()
    return {
        str(s["name"]): bool(s.get("recording"))
        for s in answer.get("ConfigurationRecordersStatus", [])
    }


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    status = await _status(ctx)
    stopped = sorted(n for n, on in status.items() if not on)
    if not status:
        return CheckResult.compliant(f"no AWS Config recorder in {violation.region}")
    if not stopped:
        return CheckResult.compliant("every AWS Config recorder is recording", recorders=status)
    return CheckResult.violating(
        f"AWS Config recorder {', '.join(stopped)} is not recording", recorders=status
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the recorders' status in this run: no second
    # DescribeConfigurationRecorderStatus (apply re-reads)
    status: dict[str, bool] = await ctx.checked_or_read("recorders", lambda: _status(ctx))
    stopped = sorted(n for n, on in status.items() if not on)
    return Plan(
        f"start AWS Config recorder {', '.join(stopped)} in {violation.region}",
        [
            Change("start_configuration_recorder", name, before=False, after=True)
            for name in stopped
        ],
        data={"recorders": stopped},
        notes=("undo stops these recorders again",),
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> dict[str, Any]:
    status = await _status(ctx)
    stopped = [n for n in plan.data.get("recorders", []) if status.get(n) is False]
    await ctx.record_before({"stopped": stopped})
    async with ctx.aws.client("config") as config:
        for name in stopped:
            await config.start_configuration_recorder(ConfigurationRecorderName=name)
    return {"started": stopped}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    stopped = sorted(n for n, on in (await _status(ctx)).items() if not on)
    if stopped:
        return VerifyResult.failed(f"recorder {', '.join(stopped)} is still not recording")
    return VerifyResult.verified("every AWS Config recorder is recording")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    started = list((record.after_image or {}).get("started", []))
    status = await _status(ctx)
    changed = [n for n in started if status.get(n) is not True]
    if changed:
        raise ResourceChanged(f"recorder {', '.join(changed)} is no longer recording")
    async with ctx.aws.client("config") as config:
        for name in started:
            await config.stop_configuration_recorder(ConfigurationRecorderName=name)
    return f"stopped AWS Config recorder {', '.join(started) or '(none)'} again"


REMEDIATION = Remediation(
    id=ID,
    rules=("ACTIVITY:STOP_CONFIG_RECORDER",),
    title="Start the AWS Config recorder again after StopConfigurationRecorder",
    description="AWS Config StartConfigurationRecorder for every stopped recorder of the region.",
    resource_type="config:recorder",
    policy=IamPolicy.allow(
        ["config:DescribeConfigurationRecorderStatus", "config:StartConfigurationRecorder"],
        [RECORDER],
    ),
    revert_policy=IamPolicy.allow(["config:StopConfigurationRecorder"], [RECORDER]),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
