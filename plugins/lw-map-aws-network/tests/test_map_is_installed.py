"""The lw-map-aws-network entry point resolves and covers every Lacework network rule."""

from __future__ import annotations

from importlib.metadata import entry_points

import lw_map_aws_network
from lw_remediate.maps import load_maps

#: Remediation id -> (rules, manual by default).
EXPECTED = {
    "network.revoke_world_ingress": (
        {"AWS_CIS_4_1", "AWS_CIS_4_2"}
        | {f"LW_AWS_MONGODB_{n}" for n in range(1, 7)}
        | {f"LW_AWS_NETWORKING_{n}" for n in (12, 13, 14, 15, *range(18, 37), 43)},
        False,
    ),
    "network.revoke_unrestricted_ingress": (
        {f"LW_AWS_NETWORKING_{n}" for n in (5, 6, 7, 8, 9, 10, 11)},
        True,
    ),
    "network.restrict_default_security_group": ({"AWS_CIS_4_4"}, False),
    "network.enable_vpc_flow_logs": ({"AWS_CIS_2_9", "AWS_CIS_4_3"}, False),
    "network.replace_nacl_allow_all": ({"LW_AWS_NETWORKING_2", "LW_AWS_NETWORKING_3"}, True),
    "network.delete_unused_security_group": ({"LW_AWS_NETWORKING_1"}, True),
    "network.restrict_vpc_endpoint_policy": ({"LW_AWS_NETWORKING_4"}, True),
    "network.enable_lb_access_logs": ({"LW_AWS_NETWORKING_49"}, False),
    "network.require_cloudfront_viewer_https": ({"LW_AWS_NETWORKING_50"}, False),
    "network.restrict_cloudfront_origin_tls": ({"LW_AWS_NETWORKING_42"}, False),
    "network.require_cloudfront_origin_https": ({"LW_AWS_NETWORKING_41"}, True),
    "network.set_lb_tls_policy": ({"LW_AWS_NETWORKING_39"}, True),
    "network.delete_default_vpc": ({"LW_AWS_NETWORKING_46"}, True),
    "network.narrow_peering_routes": ({"AWS_CIS_4_5"}, True),
    "network.renew_elb_certificate": ({"LW_AWS_NETWORKING_16", "LW_AWS_NETWORKING_17"}, True),
    "network.review_elb_group_egress": ({"LW_AWS_NETWORKING_38"}, True),
    "network.attach_elb_vpc_group": ({"LW_AWS_NETWORKING_44"}, True),
    "network.replace_classic_elb_group": ({"LW_AWS_NETWORKING_45"}, True),
    "network.replace_elb_group": ({"LW_AWS_NETWORKING_51"}, True),
    "network.migrate_ec2_classic": ({"LW_AWS_NETWORKING_40"}, True),
    "network.remove_instance_public_ip": ({"LW_AWS_NETWORKING_47"}, True),
    "network.review_vpc_cidrs": ({"LW_AWS_NETWORKING_48"}, True),
}

#: Every rule of family "Network" in the reference (aws-rules.md), plus AWS_CIS_2_9 (the
#: flow-log check of AWS_CIS_4_3). LW_AWS_NETWORKING_37 (Redshift publicly accessible) is
#: served by the services map set (issue 13), with the other Redshift rule.
ALL_NETWORK_RULES = (
    {f"AWS_CIS_4_{n}" for n in range(1, 6)}
    | {"AWS_CIS_2_9"}
    | {f"LW_AWS_MONGODB_{n}" for n in range(1, 7)}
    | {f"LW_AWS_NETWORKING_{n}" for n in range(1, 52) if n != 37}
)


def _registry():
    return load_maps(allow=["lw-map-aws-network"], strict=True)


def test_map_is_installed():
    [ep] = [e for e in entry_points(group="lw_remediate.maps") if e.name == "network"]
    assert ep.load() is lw_map_aws_network
    assert set(_registry().remediations) == set(EXPECTED)


def test_every_rule_has_exactly_one_remediation():
    registry = _registry()
    assert registry.index.conflicts == {}
    covered = [rule for rem in registry.remediations.values() for rule in rem.rules]
    assert len(covered) == len(set(covered))
    assert set(covered) == set().union(*(rules for rules, _ in EXPECTED.values()))
    assert set(covered) == ALL_NETWORK_RULES


def test_rules_and_manual_flags():
    registry = _registry()
    for rid, (rules, manual) in EXPECTED.items():
        rem = registry.remediations[rid]
        assert set(rem.rules) == rules, rid
        assert rem.manual_by_default is manual, rid
        assert rem.id.startswith("network.")


def test_new_ids_route_to_the_network_remediations():
    """The official equivalence routes new ids here; ids that stand for two legacy rules go
    as sent to the remediation answering both (-68, -79, -196..-198) or by reason (-148)."""
    index = _registry().index
    cases = {
        ("lacework-global-150", None): ("network.revoke_world_ingress", "LW_AWS_NETWORKING_12"),
        ("lacework-global-68", "UnrestrictedAccess"): (
            "network.revoke_world_ingress",
            "lacework-global-68",
        ),
        ("lacework-global-197", None): ("network.revoke_world_ingress", "lacework-global-197"),
        ("lacework-global-79", "FlowLoggingNotEnabled"): (
            "network.enable_vpc_flow_logs",
            "lacework-global-79",
        ),
        ("lacework-global-148", "UnrestrictedSecurityGroupInboundTraffic"): (
            "network.revoke_unrestricted_ingress",
            "LW_AWS_NETWORKING_5",
        ),
        ("lacework-global-87", "HasPermissions"): (
            "network.restrict_default_security_group",
            "AWS_CIS_4_4",
        ),
    }
    for (rule, reason), (rid, seen_as) in cases.items():
        match = index.lookup(rule, reason)
        assert [r.id for r in match.remediations] == [rid], (rule, match)
        assert (match.rule_id or rule) == seen_as, (rule, match.rule_id)


def test_shared_ids_without_a_known_reason_run_nothing_and_say_what_to_declare():
    """-148 stands for NETWORKING_5 and 36, -231 for NETWORKING_10 and 44. Only
    NETWORKING_5's reason is known (remediation-catalog-aws.md 3.2); the references give
    none for 36, 10 or 44 (lacework-protocol.md, open question 6). Such a violation runs
    nothing rather than guess, and the detail names the rules to tell apart."""
    index = _registry().index
    for rule, reason, legacies in [
        ("lacework-global-148", None, ("LW_AWS_NETWORKING_5", "LW_AWS_NETWORKING_36")),
        ("lacework-global-148", "AllPortsOpen", ("LW_AWS_NETWORKING_5", "LW_AWS_NETWORKING_36")),
        ("lacework-global-231", None, ("LW_AWS_NETWORKING_10", "LW_AWS_NETWORKING_44")),
    ]:
        match = index.lookup(rule, reason)
        assert match.remediations == (), (rule, reason, match)
        assert match.detail and all(legacy in match.detail for legacy in legacies), match.detail
