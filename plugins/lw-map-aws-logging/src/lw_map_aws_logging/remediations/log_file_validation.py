"""AWS_CIS_2_2: turn on log file validation for the trail the violation names.

CloudTrail then writes a signed digest file every hour next to the logs (a few bytes in
the trail's bucket), so tampering with delivered log files can be detected. Undo turns
validation off again; digests already written stay.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lw_remediate import IamPolicy, Remediation, RemediationContext, Violation

from .._aws import TRAIL
from .._trail import TrailUpdate, Wanted


def _compliant(trail: Mapping[str, Any], options: Any) -> str | None:
    if trail.get("LogFileValidationEnabled"):
        return f"trail {trail.get('Name')} has log file validation enabled"
    return None


async def _wanted(ctx: RemediationContext[Any], violation: Violation, trail: Any) -> Wanted:
    return Wanted({"LogFileValidationEnabled": True})


def _describe(settings: Mapping[str, Any]) -> str:
    state = "on" if settings.get("LogFileValidationEnabled") else "off"
    return f"log file validation {state}"


UPDATE = TrailUpdate(
    fields={"LogFileValidationEnabled": "EnableLogFileValidation"},
    compliant=_compliant,
    wanted=_wanted,
    describe=_describe,
    violating="log file validation is disabled",
)

REMEDIATION = Remediation(
    id="logging.enable_log_file_validation",
    rules=("AWS_CIS_2_2",),
    title="Enable CloudTrail log file validation",
    description="Turns on digest files for the trail (UpdateTrail EnableLogFileValidation).",
    resource_type="cloudtrail:trail",
    policy=IamPolicy.allow(["cloudtrail:GetTrail", "cloudtrail:UpdateTrail"], [TRAIL]),
    check=UPDATE.check,
    plan=UPDATE.plan,
    apply=UPDATE.apply,
    verify=UPDATE.verify,
    revert=UPDATE.revert,
)
