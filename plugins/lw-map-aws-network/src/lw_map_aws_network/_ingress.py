"""The lifecycle shared by the world-open ingress remediations (one rule -> Target table).

Only ingress rules whose source is the whole internet (``0.0.0.0/0`` or ``::/0``) and
whose traffic covers the rule's target are revoked; every other rule -- other CIDRs,
prefix lists, referenced groups, descriptions, egress -- stays as it is.

Options: ``trusted_cidrs`` / ``trusted_prefix_lists`` re-grant what the world loses to
those sources *before* the revoke (a bastion keeps working); ``split_wide_ranges``
replaces a wider world-open rule (a port range, all traffic) by what is left of it once
the rule's ports are cut out, instead of revoking it whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from ._ec2 import (
    SECURITY_GROUP,
    SECURITY_GROUP_RULE,
    describe_policy,
    resource_id,
    validate_cidrs,
    validate_ids,
)
from ._sg import (
    SgRule,
    Target,
    authorize,
    perm_key,
    perm_text,
    permission,
    read_rules,
    revoke,
    rule_key,
    segment_permission,
)


class IngressOptions(RemediationOptions):
    """Where the world's access goes, and how wide a cut to make."""

    #: Networks that keep the access the world loses (re-granted first), e.g.
    #: ``["10.8.0.0/16"]`` for a VPN range. ``0.0.0.0/0`` and ``::/0`` are refused.
    trusted_cidrs: tuple[str, ...] = ()
    #: Managed prefix lists (``pl-…``) that keep the access the world loses.
    trusted_prefix_lists: tuple[str, ...] = ()
    #: A world-open rule wider than the rule's ports (a range, or all traffic): keep the
    #: rest of it world-open and cut out only the rule's ports (default: revoke it whole).
    split_wide_ranges: bool = False

    @pydantic.field_validator("trusted_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return validate_cidrs(value)

    @pydantic.field_validator("trusted_prefix_lists")
    @classmethod
    def _prefix_lists(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return validate_ids(value, "pl")


@dataclass
class Decision:
    """What to do to one group: revoke these rules, authorize these permissions first."""

    matching: list[SgRule]
    kept: list[SgRule]
    grants: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _trusted_sources(options: IngressOptions) -> list[tuple[str, str]]:
    sources = [("CidrIpv6" if ":" in c else "CidrIpv4", c) for c in options.trusted_cidrs]
    return sources + [("PrefixListId", p) for p in options.trusted_prefix_lists]


def _family_fits(protocol: str, kind: str) -> bool:
    if protocol == "icmp":
        return kind != "CidrIpv6"
    if protocol == "icmpv6":
        return kind != "CidrIpv4"
    return True


def decide(rules: list[SgRule], target: Target, options: IngressOptions, rule_id: str) -> Decision:
    ingress = [r for r in rules if not r.egress]
    matching = [r for r in ingress if target.matches(r)]
    decision = Decision(matching, [r for r in ingress if r not in matching])
    live = {rule_key(r) for r in ingress}
    grants: dict[str, dict[str, Any]] = {}
    trusted = _trusted_sources(options)
    for rule in matching:
        note = f"lw-remediate {rule_id} (was {rule.source})"
        remainder = target.remainder(rule) if options.split_wide_ranges else []
        if remainder:
            for seg in remainder:
                for perm in segment_permission(
                    seg, rule.source_kind, rule.source, rule.description
                ):
                    grants.setdefault(perm_key(perm), perm)
            for kind, source in trusted:
                for seg in target.forbidden(rule):
                    if _family_fits(seg[0], kind):
                        for perm in segment_permission(seg, kind, source, note):
                            grants.setdefault(perm_key(perm), perm)
            if rule.protocol == "-1":
                decision.notes.append(
                    f"{rule.describe()} is split into TCP, UDP and ICMP rules: IP protocols "
                    "other than those (ESP, GRE, ...) are no longer open to the world"
                )
        else:
            for kind, source in trusted:
                if _family_fits(rule.protocol, kind):
                    perm = permission(
                        rule.protocol, rule.from_port, rule.to_port, kind, source, note
                    )
                    grants.setdefault(perm_key(perm), perm)
            if target.space is not None and target.remainder(rule):
                decision.notes.append(
                    f"{rule.describe()} opens more than {target.label}: it is revoked whole "
                    "(set split_wide_ranges to keep the rest of it open)"
                )
    decision.grants = [p for k, p in grants.items() if k not in live]
    return decision


@dataclass(frozen=True)
class IngressLifecycle:
    """``check``/``plan``/``apply``/``verify``/``revert`` for one rule -> target table."""

    targets: Mapping[str, Target]
    #: New ids (``lacework-global-N``) that stand for several legacy rules of this table,
    #: e.g. -68 for CIS 4.1 (22) and 4.2 (3389): a violation Lacework sent under one of
    #: them is about the union of their ports, whatever legacy id it was mapped to.
    shared: Mapping[str, Target] = field(default_factory=dict)

    def target(self, violation: Violation) -> Target:
        for rule in (violation.source_rule_id, violation.rule_id):
            if rule and rule.lower() in self.shared:
                return self.shared[rule.lower()]
        try:
            return self.targets[violation.rule_id]
        except KeyError:
            raise RemediationError(
                f"{violation.rule_id} is not a rule of this remediation"
            ) from None

    async def check(self, ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        target = self.target(violation)
        group = resource_id(violation, "sg")
        async with ctx.aws.client("ec2") as ec2:
            rules = await read_rules(ec2, group)
        if not rules:
            return CheckResult.compliant(
                f"security group {group} has no rule (or no longer exists)"
            )
        matching = [r for r in rules if target.matches(r)]
        if not matching:
            return CheckResult.compliant(
                f"no ingress rule of {group} opens {target.label} to the world"
            )
        return CheckResult.violating(
            f"{group} opens {target.label} to the world: "
            + "; ".join(r.describe() for r in matching),
            rules=[r.rule_id for r in matching],
            rows=[dict(r.row) for r in rules],
        )

    async def plan(self, ctx: RemediationContext[Any], violation: Violation) -> Plan:
        target = self.target(violation)
        group = resource_id(violation, "sg")

        async def live() -> list[Mapping[str, Any]]:
            async with ctx.aws.client("ec2") as ec2:
                return [r.row for r in await read_rules(ec2, group)]

        # check read the group's rules in this run: no second DescribeSecurityGroupRules
        rules = [SgRule.from_row(row) for row in await ctx.checked_or_read("rows", live)]
        decision = decide(rules, target, ctx.options, violation.rule_id)
        if not decision.matching:
            return Plan(f"no ingress rule of {group} opens {target.label} to the world")
        arn = violation.resource_arn
        changes = [Change("authorize_ingress", arn, None, p) for p in decision.grants]
        changes += [Change("revoke_ingress", arn, dict(r.row), None) for r in decision.matching]
        summary = ""
        if decision.grants:
            summary = (
                f"first authorize on {group}: "
                + "; ".join(perm_text(p) for p in decision.grants)
                + "; then "
            )
        summary += f"revoke from {group}: " + "; ".join(r.describe() for r in decision.matching)
        summary += f"; keep the other {len(decision.kept)} ingress rule(s) and every egress rule"
        return Plan(
            summary=summary,
            changes=changes,
            notes=[
                *decision.notes,
                "undo authorizes the revoked rules again (with their descriptions; AWS gives "
                "them new rule ids) and revokes the rules this action added",
            ],
        )

    async def apply(self, ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        violation = ctx.violation
        target = self.target(violation)
        group = resource_id(violation, "sg")
        async with ctx.aws.client("ec2") as ec2:
            rules = await read_rules(ec2, group)  # re-read right before writing
            decision = decide(rules, target, ctx.options, violation.rule_id)
            if not decision.matching:
                return {"GroupId": group, "Revoked": [], "Added": []}
            await ctx.record_before(
                {
                    "GroupId": group,
                    "Revoked": [dict(r.row) for r in decision.matching],
                    "Ingress": [dict(r.row) for r in rules if not r.egress],
                }
            )
            added = await authorize(ec2, group, decision.grants)
            await revoke(ec2, group, decision.matching)
        return {
            "GroupId": group,
            "Revoked": [rule_key(r) for r in decision.matching],
            "Added": added,
        }

    async def verify(self, ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
        target = self.target(violation)
        group = resource_id(violation, "sg")
        async with ctx.aws.client("ec2") as ec2:
            rules = await read_rules(ec2, group)
        matching = [r for r in rules if target.matches(r)]
        if matching:
            return VerifyResult.failed(
                f"{group} still opens {target.label} to the world: "
                + "; ".join(r.describe() for r in matching)
            )
        kept = len([r for r in rules if not r.egress])
        return VerifyResult.verified(
            f"no ingress rule of {group} opens {target.label} to the world; "
            f"{kept} ingress rule(s) in place"
        )

    async def revert(self, ctx: RemediationContext[Any], record: ActionRecord) -> str:
        before = record.before_image or {}
        after = record.after_image or {}
        group = str(before["GroupId"])
        revoked = [SgRule.from_row(row) for row in before.get("Revoked", [])]
        async with ctx.aws.client("ec2") as ec2:
            live = {rule_key(r): r for r in await read_rules(ec2, group) if not r.egress}
            missing = [k for k in after.get("Added", []) if k not in live]
            back = [r for r in revoked if rule_key(r) in live]
            if missing or back:
                raise ResourceChanged(
                    f"the ingress rules of {group} changed since the remediation "
                    f"(added rules gone: {missing or 'none'}; revoked rules back: "
                    f"{[r.rule_id for r in back] or 'none'}); not reverting"
                )
            await authorize(ec2, group, [r.permission() for r in revoked])
            await revoke(ec2, group, [live[k] for k in after.get("Added", [])])
        return (
            f"authorized {len(revoked)} rule(s) on {group} again and revoked the "
            f"{len(after.get('Added', []))} rule(s) the remediation had added"
        )


def option_policy(options: IngressOptions) -> IamPolicy:
    """Re-granting to trusted sources or splitting a range authorizes new rules."""
    if options.trusted_cidrs or options.trusted_prefix_lists or options.split_wide_ranges:
        return AUTHORIZE
    return IamPolicy()


POLICY = describe_policy("ec2:DescribeSecurityGroupRules") + IamPolicy.allow(
    ["ec2:RevokeSecurityGroupIngress"], [SECURITY_GROUP]
)
AUTHORIZE = IamPolicy.allow(
    ["ec2:AuthorizeSecurityGroupIngress"], [SECURITY_GROUP, SECURITY_GROUP_RULE]
)


def revert_policy(options: IngressOptions) -> IamPolicy:
    """Undo authorizes the revoked rules again (already declared with the options that add)."""
    return IamPolicy() if option_policy(options) else AUTHORIZE
