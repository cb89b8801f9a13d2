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
}


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


def test_rules_and_manual_flags():
    registry = _registry()
    for rid, (rules, manual) in EXPECTED.items():
        rem = registry.remediations[rid]
        assert set(rem.rules) == rules, rid
        assert rem.manual_by_default is manual, rid
        assert rem.id.startswith("network.")
