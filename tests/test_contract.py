"""Contract tests over every installed map: declarations an operator can rely on."""

from __future__ import annotations

import pytest

from lw_remediate.plugins import load_maps
from lw_remediate.rules import canonical_rule_id
from lw_remediate.testing import validate_actions

REGISTRY = load_maps()
REMEDIATIONS = sorted(REGISTRY.remediations.values(), key=lambda r: r.id)


def test_no_map_failed_to_load_and_no_rule_conflicts():
    assert REGISTRY.failed == []
    assert REGISTRY.index.conflicts == {}


@pytest.mark.parametrize("rem", REMEDIATIONS, ids=lambda r: r.id)
def test_declared_actions_are_real_iam_actions(rem):
    assert validate_actions(rem.policy_for(revert=True).actions) == []


@pytest.mark.parametrize("rem", REMEDIATIONS, ids=lambda r: r.id)
def test_declaration_is_complete(rem):
    assert rem.title and rem.resource_type
    assert rem.id.startswith(f"{rem.set_name}.")
    assert all(canonical_rule_id(r) == r for r in rem.rules)
    if rem.auto_remediable:
        assert rem.policy.actions, "an auto remediation declares the actions it needs"
    else:
        assert rem.runbook
    rem.default_options()  # safe defaults: constructible without any operator input


@pytest.mark.parametrize("rem", REMEDIATIONS, ids=lambda r: r.id)
def test_remediation_ids_belong_to_their_map(rem):
    origin = REGISTRY.origin[rem.id]
    expected = {"lw-map-s3": "s3", "lw-map-cis-iam": "cis_iam"}.get(origin)
    if expected:
        assert rem.set_name == expected
