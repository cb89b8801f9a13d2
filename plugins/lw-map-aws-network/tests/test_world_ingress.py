"""network.revoke_world_ingress (CIS 4.1/4.2, MONGODB_1-6, NETWORKING_12-15, 18-36, 43)."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.world_ingress import PORTS, REMEDIATION
from lw_remediate import ResourceChanged, Status

WORLD = "0.0.0.0/0"
VPN = "10.8.0.0/16"


@pytest.fixture
def mixed_group(groups, perm, ec2):
    """World-open 22, a VPN-range 22, a referenced-group rule and a world-open 443."""
    app = groups.create("app")
    group = groups.create(
        "web",
        perm.tcp(22, WORLD, description="world ssh"),
        perm.tcp(22, VPN, description="vpn"),
        perm.tcp(443, WORLD, description="https"),
    )
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 5432,
                "ToPort": 5432,
                "UserIdGroupPairs": [{"GroupId": app, "Description": "app tier"}],
            }
        ],
    )
    return group, app


async def test_cis_4_1_revokes_only_the_world_open_22(
    mixed_group, groups, sg_violation, run_remediation
):
    group, app = mixed_group
    before_egress = groups.egress(group)
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group))
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("tcp", 22, 22, VPN, "vpn"),
        ("tcp", 443, 443, WORLD, "https"),
        ("tcp", 5432, 5432, app, "app tier"),
    }
    assert groups.egress(group) == before_egress
    [revoked] = record.before_image["Revoked"]
    assert (revoked["CidrIpv4"], revoked["FromPort"], revoked["Description"]) == (
        WORLD,
        22,
        "world ssh",
    )
    assert [c.operation for c in record.plan.changes] == ["revoke_ingress"]
    assert "world ssh" in record.plan.summary and "keep the other 3" in record.plan.summary


async def test_undo_restores_the_rule_with_its_description(
    mixed_group, groups, sg_violation, run_remediation, revert_action
):
    group, _ = mixed_group
    before = groups.ingress(group)
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group))
    detail = await revert_action(REMEDIATION, record)
    assert "authorized 1 rule(s)" in detail
    assert groups.ingress(group) == before
    assert record.status is Status.REVERTED


async def test_undo_refuses_when_the_rule_was_opened_again(
    mixed_group, groups, perm, ec2, sg_violation, run_remediation, revert_action
):
    group, _ = mixed_group
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group))
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[perm.tcp(22, WORLD)])
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_ipv6_world_rule_goes_too(groups, perm, sg_violation, run_remediation):
    group = groups.create("v6", perm.tcp(3389, WORLD, "::/0", "2001:db8::/32"))
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_2", group))
    assert record.status is Status.REMEDIATED
    assert groups.ingress(group) == {("tcp", 3389, 3389, "2001:db8::/32", None)}


async def test_dry_run_plans_and_writes_nothing(
    mixed_group, groups, sg_violation, run_remediation, writes
):
    group, _ = mixed_group
    before = groups.ingress(group)
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group), mode="dry-run")
    assert record.status is Status.PLANNED
    assert writes(record) == []
    assert groups.ingress(group) == before


async def test_compliant_group_is_resolved_without_a_write(
    groups, perm, sg_violation, run_remediation, writes
):
    group = groups.create("ok", perm.tcp(22, VPN), perm.tcp(443, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group))
    assert record.status is Status.RESOLVED
    assert "no ingress rule" in record.detail
    assert writes(record) == []


async def test_missing_group_is_resolved(sg_violation, ec2, run_remediation, writes):
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", "sg-0123456789abcdef0"))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_wide_range_is_revoked_whole_by_default(groups, perm, sg_violation, run_remediation):
    group = groups.create("range", perm.tcp(20, WORLD, to=30), perm.tcp(443, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group))
    assert record.status is Status.REMEDIATED
    assert groups.ingress(group) == {("tcp", 443, 443, WORLD, None)}
    assert any("opens more than tcp port 22" in n for n in record.plan.notes)


async def test_split_keeps_the_rest_of_a_wide_range(
    groups, perm, sg_violation, run_remediation, revert_action
):
    group = groups.create("range", perm.tcp(20, WORLD, to=30, description="legacy"))
    record = await run_remediation(
        REMEDIATION, sg_violation("AWS_CIS_4_1", group), options={"split_wide_ranges": True}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("tcp", 20, 21, WORLD, "legacy"),
        ("tcp", 23, 30, WORLD, "legacy"),
    }
    await revert_action(REMEDIATION, record, options={"split_wide_ranges": True})
    assert groups.ingress(group) == {("tcp", 20, 30, WORLD, "legacy")}


async def test_split_of_all_traffic_keeps_everything_but_the_port(
    groups, perm, sg_violation, run_remediation
):
    group = groups.create("all", perm.all(WORLD))
    record = await run_remediation(
        REMEDIATION, sg_violation("AWS_CIS_4_1", group), options={"split_wide_ranges": True}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("tcp", 0, 21, WORLD, None),
        ("tcp", 23, 65535, WORLD, None),
        ("udp", 0, 65535, WORLD, None),
        ("icmp", -1, -1, WORLD, None),
    }
    assert any("ESP, GRE" in n for n in record.plan.notes)


async def test_trusted_cidrs_and_prefix_lists_are_granted_first(
    groups, perm, ec2, sg_violation, run_remediation, revert_action
):
    prefix_list = ec2.create_managed_prefix_list(
        PrefixListName="office", MaxEntries=5, AddressFamily="IPv4"
    )["PrefixList"]["PrefixListId"]
    group = groups.create("bastion", perm.tcp(22, WORLD), perm.tcp(22, VPN, description="vpn"))
    options = {"trusted_cidrs": ["192.0.2.0/24", VPN], "trusted_prefix_lists": [prefix_list]}
    record = await run_remediation(REMEDIATION, sg_violation("AWS_CIS_4_1", group), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    ingress = groups.ingress(group)
    assert ("tcp", 22, 22, VPN, "vpn") in ingress  # already there: kept, not re-added
    assert ("tcp", 22, 22, "192.0.2.0/24", "lw-remediate AWS_CIS_4_1 (was 0.0.0.0/0)") in ingress
    assert any(rule[3] == prefix_list for rule in ingress)
    assert not any(rule[3] == WORLD for rule in ingress)
    ops = [c.operation for c in record.calls if not c.operation.startswith("Describe")]
    assert ops == ["AuthorizeSecurityGroupIngress"] * 2 + ["RevokeSecurityGroupIngress"]
    await revert_action(REMEDIATION, record, options=options)
    assert groups.ingress(group) == {("tcp", 22, 22, WORLD, None), ("tcp", 22, 22, VPN, "vpn")}


def test_world_is_not_a_trusted_network():
    with pytest.raises(ValueError, match="whole internet"):
        REMEDIATION.parse_options({"trusted_cidrs": ["0.0.0.0/0"]})
    with pytest.raises(ValueError, match="pl-"):
        REMEDIATION.parse_options({"trusted_prefix_lists": ["office"]})


@pytest.mark.parametrize(
    ("rule", "protocol", "number"),
    [(rule, protocol, number) for rule, (protocol, number) in PORTS.items()],
)
async def test_every_port_rule_revokes_its_port_only(
    rule, protocol, number, groups, perm, sg_violation, run_remediation
):
    builder = perm.tcp if protocol == "tcp" else perm.udp
    other = 8080 if number != 8080 else 8081
    group = groups.create("g", builder(number, WORLD), builder(other, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation(rule, group))
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {(protocol, other, other, WORLD, None)}


async def test_networking_36_all_ports(groups, perm, sg_violation, run_remediation):
    group = groups.create("g", perm.all(WORLD), perm.tcp(0, "::/0", to=65535), perm.tcp(80, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_36", group))
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {("tcp", 80, 80, WORLD, None)}


async def test_networking_36_ignores_a_single_port(groups, perm, sg_violation, run_remediation):
    group = groups.create("g", perm.tcp(80, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_36", group))
    assert record.status is Status.RESOLVED


async def test_networking_43_all_icmp(groups, perm, ec2, sg_violation, run_remediation):
    group = groups.create("g", perm.icmp(WORLD), perm.icmp(VPN), perm.tcp(443, WORLD))
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "icmp", "FromPort": 8, "ToPort": -1, "IpRanges": [{"CidrIp": WORLD}]}
        ],
    )
    record = await run_remediation(REMEDIATION, sg_violation("LW_AWS_NETWORKING_43", group))
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {
        ("icmp", -1, -1, VPN, None),
        ("icmp", 8, -1, WORLD, None),  # echo only: not "all ICMP"
        ("tcp", 443, 443, WORLD, None),
    }


async def test_shared_new_id_covers_both_legacy_ports(groups, perm, run_remediation):
    """lacework-global-68 stands for CIS 4.1 (22) and 4.2 (3389): whichever legacy id the
    core maps it to, the violation is about both ports."""
    from lw_remediate import Violation

    group = groups.create("g", perm.tcp(22, WORLD), perm.tcp(3389, WORLD), perm.tcp(443, WORLD))
    arn = f"arn:aws:ec2:us-east-1:123456789012:security-group/{group}"
    violation = Violation(
        "AWS_CIS_4_1", arn, "123456789012", region="us-east-1", source_rule_id="lacework-global-68"
    )
    record = await run_remediation(REMEDIATION, violation)
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == {("tcp", 443, 443, WORLD, None)}
    assert "tcp port 22 or 3389" in record.detail


async def test_mongodb_shared_id(groups, perm, sg_violation, run_remediation):
    group = groups.create("g", perm.tcp(27017, WORLD), perm.tcp(27018, WORLD))
    record = await run_remediation(REMEDIATION, sg_violation("lacework-global-197", group))
    assert record.status is Status.REMEDIATED, record.detail
    assert groups.ingress(group) == set()
