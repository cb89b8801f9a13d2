"""LW_S3_12: MFA delete (manual only).

Only the account's root user, signing with its own credentials and its MFA device,
can enable MFA delete; no IAM role can, so lw-remediate never tries. ``check``
reads the versioning configuration (the alert may be stale) and the action ends
``manual`` with the exact root command in the runbook.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
)

from .._s3 import bucket_args, bucket_policy, resolves_missing_bucket


def mfa_delete_enabled(versioning: Mapping[str, Any]) -> bool:
    """True when a ``GetBucketVersioning`` answer shows MFA delete on."""
    return versioning.get("MFADelete") == "Enabled"


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("s3") as s3:
        versioning = await s3.get_bucket_versioning(**bucket_args(violation))
    state = {"Status": versioning.get("Status"), "MFADelete": versioning.get("MFADelete")}
    if mfa_delete_enabled(versioning):
        return CheckResult.compliant("MFA delete is enabled", **state)
    return CheckResult.violating(
        f"MFA delete is {versioning.get('MFADelete') or 'not enabled'} "
        f"(versioning {versioning.get('Status') or 'never enabled'})",
        **state,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    return Plan("manual: only the root user can enable MFA delete (see the runbook)")


RUNBOOK = """\
Enable MFA delete on bucket {resource_name} (account {account}, rule {rule_id}). Only the \
root user of account {account} can do this, with its own access key and its MFA device, \
from the CLI or API (the console cannot), over HTTPS. Signed in with root credentials, run:

  aws s3api put-bucket-versioning --bucket {resource_name} \
--expected-bucket-owner {account} \
--versioning-configuration Status=Enabled,MFADelete=Enabled \
--mfa "arn:{partition}:iam::{account}:mfa/root-account-mfa-device 123456"

replacing "arn:{partition}:iam::{account}:mfa/root-account-mfa-device" with the serial \
number of the root user's MFA device (a virtual device's ARN, or a hardware device's \
serial) and 123456 with its current code. This also enables versioning if it is off. Check with aws s3api get-bucket-versioning --bucket \
{resource_name}: MFADelete must read Enabled. Then delete the root access key you used \
(CIS 1.12).
"""


REMEDIATION = Remediation(
    id="s3.enable_mfa_delete",
    rules=("LW_S3_12",),
    title="Enable MFA delete on an S3 bucket (root user only: manual)",
    description="Manual only: the runbook gives the root user's exact CLI command.",
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketVersioning"),
    check=check,
    plan=plan,
    auto_remediable=False,
    runbook=RUNBOOK,
)
