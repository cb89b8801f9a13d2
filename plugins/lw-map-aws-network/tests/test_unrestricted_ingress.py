"""network.revoke_unrestricted_ingress (LW_AWS_NETWORKING_5, 6, 7-11): manual by default."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.unrestricted_ingress import REMEDIATION
from lw_remediate import Status

WORLD = "0.0.0.0/0"
VPN = "10.8.0.0/16"


async def test_manual_by_default_with_the_runbook(
    groups, perm, sg_violation, run_remediation, writes
):
    group = groups.create("g", perm.tcp(22, WORLD), perm.tcp(80, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_5", group))
    assert record.status is Status.MANUAL
    assert f"--group-id {group}" in record.detail and "us-east-1" in record.detail
    assert writes(record) == []
    assert len(groups.ingress(group)) == 2


@pytest.mark.parametrize("rule", [f"LW_AWS_NETWORKING_{n}" for n in (5, 7, 8, 9, 10, 11)])
async def test_enforce_revokes_every_world_open_permission(
    rule, groups, perm, sg_violation, run_remediation, revert_action
):
    group = groups.create(
        "g", perm.tcp(22, WORLD), perm.udp(53, "::/0"), perm.tcp(443, WORLD), perm.tcp(22, VPN)
    )
    before = groups.ingress(group)
    options = {"enforce": True}
    record = await run_remediation(REMEDIATION, sg_violation(rule, group), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {("tcp", 22, 22, VPN, None)}
    assert len(record.before_image["Revoked"]) == 3
    await revert_action(REMEDIATION, record, options=options)
    assert groups.ingress(group) == before


async def test_networking_6_keeps_80_and_443(groups, perm, sg_violation, run_remediation):
    group = groups.create(
        "g", perm.tcp(80, WORLD), perm.tcp(443, WORLD, "::/0"), perm.tcp(8080, WORLD)
    )
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_6", group), options={"enforce": True}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("tcp", 80, 80, WORLD, None),
        ("tcp", 443, 443, WORLD, None),
        ("tcp", 443, 443, "::/0", None),
    }


async def test_networking_6_split_keeps_80_and_443_of_a_range(
    groups, perm, sg_violation, run_remediation
):
    group = groups.create("g", perm.tcp(80, WORLD, to=443))
    record = await run_remediation(
        REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_6", group),
        options={"enforce": True, "split_wide_ranges": True, "trusted_cidrs": [VPN]},
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("tcp", 80, 80, WORLD, None),
        ("tcp", 443, 443, WORLD, None),
        ("tcp", 81, 442, VPN, "lw-remediate LW_AWS_NETWORKING_6 (was 0.0.0.0/0)"),
    }


async def test_only_web_ports_open_is_compliant_for_networking_6(
    groups, perm, sg_violation, run_remediation
):
    group = groups.create("g", perm.tcp(80, WORLD), perm.tcp(443, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_6", group))
    assert record.status is Status.RESOLVED


async def test_no_world_rule_is_compliant(groups, perm, sg_violation, run_remediation, writes):
    group = groups.create("g", perm.tcp(22, VPN))
    record = await run_remediation(
        REMEDIATION, sg_violation("LW_AWS_NETWORKING_5", group), options={"enforce": True}
    )
    assert record.status is Status.RESOLVED
    assert writes(record) == []
