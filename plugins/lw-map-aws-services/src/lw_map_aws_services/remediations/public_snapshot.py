"""LW_AWS_GENERAL_SECURITY_3: an EBS snapshot is public.

Removes the ``all`` group from the snapshot's ``createVolumePermission``; permissions
for named accounts stay. Undo adds ``all`` back. Reports name the snapshot as
``arn:aws:ec2:<region>::snapshot/snap-…`` (snapshot ARNs carry no account) or a bare id
the core turns into that ARN; the id is the last path element either way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    Violation,
)

from .._common import SNAPSHOT, or_none, unchanged, verify_by

_SNAPSHOT_ID = re.compile(r"^snap-[0-9a-f]{8,17}$")
_ATTRIBUTE = "createVolumePermission"


def snapshot_id(violation: Violation) -> str:
    name = violation.resource_name
    if not _SNAPSHOT_ID.match(name):
        raise RemediationError(
            f"{violation.rule_id}: expected a snap-… id in {violation.resource_arn!r}"
        )
    return name


async def permissions(ctx: RemediationContext[Any], snapshot: str) -> list[dict[str, Any]] | None:
    """The snapshot's create-volume permissions; None when the snapshot is gone."""
    async with ctx.aws.client("ec2") as ec2:
        response = await or_none(
            ec2.describe_snapshot_attribute(SnapshotId=snapshot, Attribute=_ATTRIBUTE)
        )
    if response is None:
        return None
    return [dict(p) for p in response.get("CreateVolumePermissions", [])]


def _public(perms: list[dict[str, Any]]) -> bool:
    return any(p.get("Group") == "all" for p in perms)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    snapshot = snapshot_id(violation)
    perms = await permissions(ctx, snapshot)
    if perms is None:
        return CheckResult.compliant(f"snapshot {snapshot} no longer exists")
    if not _public(perms):
        return CheckResult.compliant(f"snapshot {snapshot} is not public", permissions=perms)
    return CheckResult.violating(
        f"snapshot {snapshot} can be restored by any AWS account", permissions=perms
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    snapshot = snapshot_id(violation)
    # check read the permissions in this run: no second DescribeSnapshotAttribute
    found: list[dict[str, Any]] | None = await ctx.checked_or_read(
        "permissions", lambda: permissions(ctx, snapshot)
    )
    perms = found or []
    if not _public(perms):
        return Plan(f"snapshot {snapshot} is not public")
    kept = [p for p in perms if p.get("Group") != "all"]
    return Plan(
        summary=f"remove the 'all' create-volume permission of snapshot {snapshot}",
        changes=[Change("remove_create_volume_permission", snapshot, {"Group": "all"}, None)],
        notes=[
            f"permissions kept: {kept or 'none'}",
            "undo adds the 'all' permission back",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    snapshot = snapshot_id(ctx.violation)
    perms = await permissions(ctx, snapshot) or []
    await ctx.record_before({"CreateVolumePermissions": perms})
    if _public(perms):
        async with ctx.aws.client("ec2") as ec2:
            await ec2.modify_snapshot_attribute(
                SnapshotId=snapshot,
                Attribute=_ATTRIBUTE,
                OperationType="remove",
                GroupNames=["all"],
            )
    return {"CreateVolumePermissions": await permissions(ctx, snapshot) or []}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    snapshot = snapshot_id(record.violation)
    live = await permissions(ctx, snapshot)
    unchanged(
        {"CreateVolumePermissions": live},
        record.after_image,
        f"the create-volume permissions of snapshot {snapshot}",
    )
    if not _public((record.before_image or {}).get("CreateVolumePermissions", [])):
        return f"snapshot {snapshot} was not public; nothing to undo"
    async with ctx.aws.client("ec2") as ec2:
        await ec2.modify_snapshot_attribute(
            SnapshotId=snapshot, Attribute=_ATTRIBUTE, OperationType="add", GroupNames=["all"]
        )
    return f"made snapshot {snapshot} public again ('all' create-volume permission)"


REMEDIATION = Remediation(
    id="services.remove_public_snapshot_permission",
    rules=("LW_AWS_GENERAL_SECURITY_3",),
    title="Make a public EBS snapshot private (remove the 'all' create-volume permission)",
    resource_type="ec2:snapshot",
    policy=IamPolicy.allow(
        ["ec2:DescribeSnapshotAttribute", "ec2:ModifySnapshotAttribute"], [SNAPSHOT]
    ),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
