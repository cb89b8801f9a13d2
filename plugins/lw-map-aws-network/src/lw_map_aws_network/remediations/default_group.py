"""AWS_CIS_4_4: the default security group of every VPC restricts all traffic.

Every ingress and egress rule of the VPC's ``default`` group is revoked -- but only when
no network interface uses the group: anything still in it would lose its traffic. When
interfaces use it, the action ends ``manual`` with a runbook listing the interfaces and
what to do (move them to purpose-built groups, or set ``force``). The default group itself cannot
be deleted; undo authorizes every recorded rule again (descriptions kept, new rule ids).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    ManualActionRequired,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._ec2 import (
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    describe_policy,
    resource_id,
)
from .._groups import (
    authorize_all,
    clean_permissions,
    interface_text,
    interfaces_using,
    permissions_text,
    read_group,
    revoke_all,
)


class Options(RemediationOptions):
    """Whether a default group in use may be emptied too."""

    #: Empty the default group even while network interfaces use it (they lose every
    #: rule of it: their traffic then depends on their other groups only).
    force: bool = False


def _rules(group: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        clean_permissions(group.get("IpPermissions", [])),
        clean_permissions(group.get("IpPermissionsEgress", [])),
    )


def _not_default(group_id: str, group: Mapping[str, Any]) -> RemediationRefused:
    return RemediationRefused(
        f"{group_id} is {group.get('GroupName')!r}, not a VPC's default security group"
    )


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)
    if group is None:
        return CheckResult.compliant(f"security group {group_id} no longer exists")
    if group.get("GroupName") != "default":
        # Not this rule's resource: an activity alert re-checks every group it touches
        # with every security-group remediation, and a purpose-built group is no
        # violation of AWS_CIS_4_4 (nothing to refuse, nothing to notify).
        return CheckResult.compliant(
            f"{group_id} is {group.get('GroupName')!r}, not a VPC's default security group"
        )
    ingress, egress = _rules(group)
    if not ingress and not egress:
        return CheckResult.compliant(f"the default group {group_id} has no rule")
    return CheckResult.violating(
        f"the default group {group_id} of {group.get('VpcId')} has {len(ingress)} ingress and "
        f"{len(egress)} egress permission(s)",
        ingress=permissions_text(ingress),
        egress=permissions_text(egress),
        group=group,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        # check read the group in this run: no second DescribeSecurityGroups (apply re-reads)
        group: dict[str, Any] | None = await ctx.checked_or_read(
            "group", lambda: read_group(ec2, group_id)
        )
        if group is None:
            return Plan(f"security group {group_id} no longer exists")
        if group.get("GroupName") != "default":
            raise _not_default(group_id, group)
        interfaces = await interfaces_using(ec2, group_id)
    ingress, egress = _rules(group)
    if interfaces and not ctx.options.force:
        raise ManualActionRequired(in_use_runbook(violation, group, interfaces))
    arn = violation.resource_arn
    changes = [Change("revoke_ingress", arn, p, None) for p in ingress]
    changes += [Change("revoke_egress", arn, p, None) for p in egress]
    summary = f"revoke every rule of the default group {group_id} ({group.get('VpcId')}): "
    summary += "; ".join(
        [f"ingress {t}" for t in permissions_text(ingress)]
        + [f"egress {t}" for t in permissions_text(egress)]
    )
    notes = ["undo authorizes every recorded rule again (descriptions kept; new rule ids)"]
    if interfaces:
        notes.insert(
            0,
            "force: interfaces using the group lose its rules: "
            + ", ".join(interface_text(i) for i in interfaces),
        )
    return Plan(summary=summary, changes=changes, notes=notes)


def in_use_runbook(
    violation: Violation, group: Mapping[str, Any], interfaces: list[dict[str, Any]]
) -> str:
    group_id = str(group["GroupId"])
    region = violation.region or ""
    lines = [
        f"the default group {group_id} of {group.get('VpcId')} is used by "
        f"{len(interfaces)} network interface(s); emptying it would cut their traffic:",
        *[f"  - {interface_text(i)}" for i in interfaces],
        "To fix by hand: give each of them a purpose-built security group, e.g.",
        f"  aws ec2 modify-network-interface-attribute --region {region} "
        "--network-interface-id <eni-…> --groups <sg-…>",
        "then run this remediation again (it empties an unused default group), or set "
        'force = true under [remediation."network.restrict_default_security_group"].',
    ]
    return "\n".join(lines)


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)  # re-read right before writing
        if group is None:
            return {"GroupId": group_id, "IpPermissions": [], "IpPermissionsEgress": []}
        if group.get("GroupName") != "default":
            raise _not_default(group_id, group)
        if not ctx.options.force:
            interfaces = await interfaces_using(ec2, group_id)
            if interfaces:
                raise ManualActionRequired(in_use_runbook(violation, group, interfaces))
        ingress, egress = _rules(group)
        await ctx.record_before(
            {"GroupId": group_id, "IpPermissions": ingress, "IpPermissionsEgress": egress}
        )
        await revoke_all(ec2, group_id, ingress, egress=False)
        await revoke_all(ec2, group_id, egress, egress=True)
    return {"GroupId": group_id, "IpPermissions": [], "IpPermissionsEgress": []}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    group_id = resource_id(violation, "sg")
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)
    if group is None:
        return VerifyResult.verified(f"security group {group_id} no longer exists")
    ingress, egress = _rules(group)
    if ingress or egress:
        return VerifyResult.failed(
            f"the default group {group_id} still has rules: "
            + "; ".join(permissions_text(ingress + egress))
        )
    return VerifyResult.verified(f"the default group {group_id} has no rule")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    group_id = str(before["GroupId"])
    async with ctx.aws.client("ec2") as ec2:
        group = await read_group(ec2, group_id)
        if group is None:
            raise ResourceChanged(f"security group {group_id} no longer exists; not reverting")
        ingress, egress = _rules(group)
        if ingress or egress:
            raise ResourceChanged(
                f"the default group {group_id} has rules again since the remediation; not reverting"
            )
        await authorize_all(ec2, group_id, before.get("IpPermissions", []), egress=False)
        await authorize_all(ec2, group_id, before.get("IpPermissionsEgress", []), egress=True)
    return (
        f"authorized {len(before.get('IpPermissions', []))} ingress and "
        f"{len(before.get('IpPermissionsEgress', []))} egress permission(s) on {group_id} again"
    )


REMEDIATION = Remediation(
    id="network.restrict_default_security_group",
    rules=("AWS_CIS_4_4",),
    title="Remove every rule of a VPC's default security group (when nothing uses it)",
    description=(
        "Revokes all ingress and egress rules of the default group when no network "
        "interface uses it; otherwise manual, with a runbook listing the interfaces (option force)."
    ),
    resource_type="ec2:security-group",
    policy=describe_policy("ec2:DescribeSecurityGroups", "ec2:DescribeNetworkInterfaces")
    + IamPolicy.allow(
        ["ec2:RevokeSecurityGroupEgress", "ec2:RevokeSecurityGroupIngress"], [SECURITY_GROUP]
    ),
    revert_policy=IamPolicy.allow(
        ["ec2:AuthorizeSecurityGroupEgress", "ec2:AuthorizeSecurityGroupIngress"],
        [SECURITY_GROUP, SECURITY_GROUP_RULE],
    ),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
