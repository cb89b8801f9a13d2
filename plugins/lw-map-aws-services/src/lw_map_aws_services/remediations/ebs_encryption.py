"""LW_AWS_GENERAL_SECURITY_2: an EBS volume is not encrypted.

An existing volume cannot be encrypted in place (snapshot, encrypted copy, new volume,
swap: downtime and new ids), so the volume itself is **manual** (the runbook). What can
be automated is the region-level prevention: **EBS encryption by default**, so no new
unencrypted volume appears in the region (forward-only; existing volumes stay as they
are). That is what this remediation applies; its plan and result say that the reported
volume still needs the runbook. With default encryption already on, there is nothing to
automate: the action ends ``manual`` with the volume runbook. ``enable_region_default =
false`` makes it manual-only.

Revert turns default encryption off again when it was off before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    ManualActionRequired,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    VerifyResult,
    Violation,
)

from .._common import on_star, or_none, unchanged


class Options(RemediationOptions):
    #: Turn EBS encryption by default on in the volume's region (false: runbook only).
    enable_region_default: bool = True


RUNBOOK = """\
EBS volume {resource_name} ({region}, account {account}) is not encrypted ({rule_id}). A
volume cannot be encrypted in place; re-create it encrypted (downtime for its instance):
1. aws ec2 create-snapshot --region {region} --volume-id {resource_name}
2. aws ec2 copy-snapshot --region {region} --source-region {region} \\
     --source-snapshot-id <snap-…> --encrypted [--kms-key-id <key>]
3. aws ec2 create-volume --region {region} --snapshot-id <encrypted snap-…> \\
     --availability-zone <the volume's zone> --volume-type <same type>
4. Stop the instance, aws ec2 detach-volume --volume-id {resource_name}, attach the new
   volume on the same device (aws ec2 attach-volume), start, check, then delete the old
   volume and both snapshots.
Prevent new ones: aws ec2 enable-ebs-encryption-by-default --region {region}"""


async def _volume(ctx: RemediationContext[Any], violation: Violation) -> dict[str, Any] | None:
    async with ctx.aws.client("ec2") as ec2:
        response = await or_none(ec2.describe_volumes(VolumeIds=[violation.resource_name]))
    volumes = (response or {}).get("Volumes", [])
    return dict(volumes[0]) if volumes else None


async def _region_default(ctx: RemediationContext[Any]) -> bool:
    async with ctx.aws.client("ec2") as ec2:
        response = await ec2.get_ebs_encryption_by_default()
    return bool(response.get("EbsEncryptionByDefault"))


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    volume = await _volume(ctx, violation)
    if volume is None:
        return CheckResult.compliant(f"volume {violation.resource_name} no longer exists")
    if volume.get("Encrypted"):
        return CheckResult.compliant(f"volume {violation.resource_name} is encrypted")
    return CheckResult.violating(f"volume {violation.resource_name} is not encrypted")


def _region(ctx: RemediationContext[Any]) -> str:
    return ctx.violation.region or ctx.aws.region


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    region = _region(ctx)
    runbook = REMEDIATION.render_runbook(violation, ctx.options)
    if await _region_default(ctx):
        raise ManualActionRequired(
            f"EBS encryption by default is already on in {region}; volume "
            f"{violation.resource_name} itself stays unencrypted until it is re-created:\n"
            + runbook
        )
    return Plan(
        summary=(
            f"turn EBS encryption by default on in {region} (account {violation.account_id}); "
            f"volume {violation.resource_name} itself stays unencrypted: see the runbook"
        ),
        changes=[
            Change(
                "enable_ebs_encryption_by_default",
                f"account {violation.account_id} region {region}",
                False,
                True,
            )
        ],
        notes=[
            "region-wide and forward-only: new volumes (and copies) are encrypted with the "
            "region's default EBS key; existing volumes are untouched",
            "launching from an AMI or shared snapshot whose key the launcher cannot use fails "
            "once this is on",
            "undo turns default encryption off again",
            "the reported volume needs the runbook: " + runbook,
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    before = await _region_default(ctx)
    await ctx.record_before({"EbsEncryptionByDefault": before})
    if not before:
        async with ctx.aws.client("ec2") as ec2:
            await ec2.enable_ebs_encryption_by_default()
    return {"EbsEncryptionByDefault": await _region_default(ctx)}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    region = _region(ctx)
    if not await _region_default(ctx):
        return VerifyResult.failed(f"EBS encryption by default is still off in {region}")
    return VerifyResult.verified(
        f"EBS encryption by default is on in {region}; volume {violation.resource_name} "
        "itself stays unencrypted until re-created (runbook in the plan notes)"
    )


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    region = record.violation.region or ctx.aws.region
    live = await _region_default(ctx)
    unchanged(
        {"EbsEncryptionByDefault": live},
        record.after_image,
        f"EBS encryption by default in {region}",
    )
    if (record.before_image or {}).get("EbsEncryptionByDefault"):
        return f"EBS encryption by default was already on in {region}; nothing to undo"
    async with ctx.aws.client("ec2") as ec2:
        await ec2.disable_ebs_encryption_by_default()
    return f"turned EBS encryption by default off again in {region}"


REMEDIATION = Remediation(
    id="services.enable_ebs_default_encryption",
    rules=("LW_AWS_GENERAL_SECURITY_2",),
    title=(
        "Unencrypted EBS volume: turn EBS encryption by default on in its region "
        "(the volume itself: runbook)"
    ),
    description=(
        "Region-level and forward-only. The reported volume cannot be encrypted in place; "
        "the plan notes carry the snapshot / encrypted copy / swap runbook."
    ),
    resource_type="ec2:volume",
    policy=on_star(
        "ec2:DescribeVolumes",
        "ec2:EnableEbsEncryptionByDefault",
        "ec2:GetEbsEncryptionByDefault",
    ),
    revert_policy=on_star("ec2:DisableEbsEncryptionByDefault"),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enable_region_default,
    runbook=RUNBOOK,
)
