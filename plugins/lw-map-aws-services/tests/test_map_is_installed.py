"""The lw-map-aws-services entry point resolves and covers every Lacework Services rule
(plus LW_AWS_NETWORKING_37, Redshift publicly accessible), each exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import entry_points

import pytest

import lw_map_aws_services
from lw_remediate.maps import load_maps

#: Remediation id -> (rules, manual by default).
EXPECTED = {
    "services.enable_ebs_default_encryption": ({"LW_AWS_GENERAL_SECURITY_2"}, False),
    "services.remove_public_snapshot_permission": ({"LW_AWS_GENERAL_SECURITY_3"}, False),
    "services.tag_untagged_instance": ({"LW_AWS_GENERAL_SECURITY_1"}, True),
    "services.set_elb_cipher_policy": (
        {"LW_AWS_GENERAL_SECURITY_7", "LW_AWS_GENERAL_SECURITY_8"},
        True,
    ),
    "services.disable_rds_public_access": ({"LW_AWS_RDS_1"}, False),
    "services.disable_redshift_public_access": ({"LW_AWS_NETWORKING_37"}, False),
    "services.enable_lambda_tracing": ({"LW_AWS_SERVERLESS_4"}, False),
    "services.remove_lambda_cross_account_access": ({"LW_AWS_SERVERLESS_2"}, False),
    "services.restrict_es_domain_policy": ({"LW_AWS_ELASTICSEARCH_1"}, False),
    "services.encrypt_redshift_cluster": ({"LW_AWS_GENERAL_SECURITY_5"}, True),
    "services.encrypt_es_domain": ({"LW_AWS_ELASTICSEARCH_3"}, True),
    "services.recreate_rds_with_cmk": ({"LW_AWS_GENERAL_SECURITY_4"}, True),
    "services.reissue_server_certificate": ({"LW_AWS_GENERAL_SECURITY_6"}, True),
    "services.narrow_lambda_role": ({"LW_AWS_SERVERLESS_1"}, True),
    "services.split_lambda_role": ({"LW_AWS_SERVERLESS_3"}, True),
    "services.review_lambda_vpc_access": ({"LW_AWS_SERVERLESS_5"}, True),
    "services.move_es_domain_into_vpc": ({"LW_AWS_ELASTICSEARCH_2"}, True),
    "services.recreate_es_domain_with_cmk": ({"LW_AWS_ELASTICSEARCH_4"}, True),
}

#: Every rule of family "Services" in the reference (aws-rules.md), plus Redshift's
#: LW_AWS_NETWORKING_37, which the network map set leaves to this one.
ALL_SERVICES_RULES = (
    {f"LW_AWS_GENERAL_SECURITY_{n}" for n in range(1, 9)}
    | {"LW_AWS_RDS_1", "LW_AWS_NETWORKING_37"}
    | {f"LW_AWS_SERVERLESS_{n}" for n in range(1, 6)}
    | {f"LW_AWS_ELASTICSEARCH_{n}" for n in range(1, 5)}
)


#: Legacy id -> lacework-global id (aws-rules.md); LW_AWS_SERVERLESS_3 has no new id.
NEW_IDS = {
    **{
        f"LW_AWS_GENERAL_SECURITY_{n}": f"lacework-global-{g}"
        for n, g in zip(range(1, 9), (89, 90, 160, 171, 91, 92, 182, 183), strict=True)
    },
    "LW_AWS_RDS_1": "lacework-global-93",
    "LW_AWS_NETWORKING_37": "lacework-global-102",
    "LW_AWS_SERVERLESS_1": "lacework-global-179",
    "LW_AWS_SERVERLESS_2": "lacework-global-180",
    "LW_AWS_SERVERLESS_4": "lacework-global-143",
    "LW_AWS_SERVERLESS_5": "lacework-global-144",
    **{
        f"LW_AWS_ELASTICSEARCH_{n}": f"lacework-global-{g}"
        for n, g in zip(range(1, 5), (122, 123, 124, 161), strict=True)
    },
}


def _registry():
    return load_maps(allow=["lw-map-aws-services"], strict=True)


def test_map_is_installed():
    [ep] = [e for e in entry_points(group="lw_remediate.maps") if e.name == "services"]
    assert ep.load() is lw_map_aws_services
    assert set(_registry().remediations) == set(EXPECTED)


def test_every_services_rule_has_exactly_one_remediation():
    registry = _registry()
    assert registry.index.conflicts == {}
    covered = [rule for rem in registry.remediations.values() for rule in rem.rules]
    assert len(covered) == len(set(covered))
    assert set(covered) == ALL_SERVICES_RULES


@pytest.mark.parametrize("rid", sorted(EXPECTED))
def test_rules_and_manual_flags(rid):
    rem = _registry().remediations[rid]
    rules, manual = EXPECTED[rid]
    assert set(rem.rules) == rules
    assert rem.manual_by_default is manual


def test_both_id_forms_reach_the_same_remediation():
    registry = _registry()
    assert set(NEW_IDS) == ALL_SERVICES_RULES - {"LW_AWS_SERVERLESS_3"}
    for legacy, new in NEW_IDS.items():
        [by_legacy] = registry.index.lookup(legacy).remediations
        [by_new] = registry.index.lookup(new).remediations
        assert by_legacy is by_new, (legacy, new)


def test_maps_cli_lists_every_services_rule():
    result = subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", "maps", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    [services] = [
        m for m in json.loads(result.stdout)["maps"] if m["name"] == "lw-map-aws-services"
    ]
    listed = {r["id"]: r for r in services["remediations"]}
    assert set(listed) == set(EXPECTED)
    assert {rule["rule_id"] for r in listed.values() for rule in r["rules"]} == ALL_SERVICES_RULES
    aliases = {rule["rule_id"]: rule["alias"] for r in listed.values() for rule in r["rules"]}
    assert {k: v for k, v in aliases.items() if v} == NEW_IDS
    for rid, (_, manual) in EXPECTED.items():
        assert listed[rid]["manual_by_default"] is manual, rid
