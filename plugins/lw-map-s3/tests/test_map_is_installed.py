"""The lw-map-s3 entry point resolves and covers every Lacework S3 rule."""

from __future__ import annotations

from importlib.metadata import entry_points

import lw_map_s3
from lw_remediate.maps import load_maps

ALL_S3_RULES = {f"LW_S3_{n}" for n in range(1, 22)}

#: Remediation id -> (rules, manual by default).
EXPECTED = {
    "s3.remove_public_acl_grants": ({f"LW_S3_{n}" for n in range(1, 11)}, False),
    "s3.remove_public_policy_statements": ({"LW_S3_11"}, False),
    "s3.enable_mfa_delete": ({"LW_S3_12"}, True),
    "s3.enable_access_logging": ({"LW_S3_13"}, False),
    "s3.enable_default_encryption": ({"LW_S3_14"}, False),
    "s3.require_secure_transport": ({"LW_S3_15"}, False),
    "s3.enable_versioning": ({"LW_S3_16"}, False),
    "s3.restrict_network_access": ({"LW_S3_17"}, True),
    "s3.remove_global_policy_actions": ({"LW_S3_18", "LW_S3_19", "LW_S3_20", "LW_S3_21"}, False),
}


def test_map_is_installed():
    [ep] = [e for e in entry_points(group="lw_remediate.maps") if e.name == "s3"]
    assert ep.load() is lw_map_s3
    registry = load_maps(allow=["lw-map-s3"], strict=True)
    assert set(registry.remediations) == set(EXPECTED)


def test_every_s3_rule_has_exactly_one_remediation():
    registry = load_maps(allow=["lw-map-s3"], strict=True)
    assert registry.index.conflicts == {}
    covered = {rule for rem in registry.remediations.values() for rule in rem.rules}
    assert covered == ALL_S3_RULES
    for rule in ALL_S3_RULES:
        assert len(registry.index.lookup(rule).remediations) == 1, rule


def test_rules_and_manual_flags():
    registry = load_maps(allow=["lw-map-s3"], strict=True)
    for rid, (rules, manual) in EXPECTED.items():
        rem = registry.remediations[rid]
        assert set(rem.rules) == rules, rid
        assert rem.manual_by_default is manual, rid
        assert rem.resource_type == "s3:bucket"
        if rem.auto_remediable:
            assert rem.revert is not None, f"{rid} must be reversible"
