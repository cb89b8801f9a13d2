"""The map is installed, and every CIS AWS 1.x / LW_AWS_IAM rule has exactly one entry."""

from __future__ import annotations

import json

import pydantic
import pytest
from click.testing import CliRunner

import lw_map_cis_iam
from lw_remediate.cli import cli
from lw_remediate.maps import load_maps

#: rule -> (remediation id, manual by default, manual-only, privilege-sensitive)
EXPECTED = {
    "AWS_CIS_1_1": ("cis_iam.review_root_usage", True, True, False),
    "AWS_CIS_1_2": ("cis_iam.require_console_mfa", True, False, False),
    "AWS_CIS_1_3": ("cis_iam.disable_unused_credentials", False, False, False),
    "AWS_CIS_1_4": ("cis_iam.retire_old_access_keys", True, False, False),
    **{
        f"AWS_CIS_1_{n}": ("cis_iam.tighten_password_policy", False, False, False)
        for n in range(5, 12)
    },
    "AWS_CIS_1_12": ("cis_iam.delete_root_access_key", True, True, False),
    "AWS_CIS_1_13": ("cis_iam.enable_root_mfa", True, True, False),
    "AWS_CIS_1_14": ("cis_iam.enable_root_hardware_mfa", True, True, False),
    "AWS_CIS_1_15": ("cis_iam.register_security_questions", True, True, False),
    "AWS_CIS_1_16": ("cis_iam.move_user_policies_to_group", True, False, True),
    "AWS_CIS_1_17": ("cis_iam.enable_detailed_billing", True, True, False),
    "AWS_CIS_1_19": ("cis_iam.review_contact_details", True, True, False),
    "AWS_CIS_1_20": ("cis_iam.set_security_contact", False, False, False),
    "AWS_CIS_1_21": ("cis_iam.attach_instance_profile", True, False, True),
    "AWS_CIS_1_22": ("cis_iam.create_support_role", False, False, True),
    "AWS_CIS_1_23": ("cis_iam.deactivate_setup_access_keys", False, False, False),
    "AWS_CIS_1_24": ("cis_iam.detach_admin_policy", True, False, True),
    "LW_AWS_IAM_1": ("cis_iam.retire_old_access_keys", True, False, False),
    "LW_AWS_IAM_2": ("cis_iam.retire_old_access_keys", True, False, False),
    "LW_AWS_IAM_3": ("cis_iam.deactivate_old_ssh_keys", False, False, False),
    "LW_AWS_IAM_4": ("cis_iam.deactivate_old_ssh_keys", False, False, False),
    "LW_AWS_IAM_5": ("cis_iam.deactivate_old_ssh_keys", False, False, False),
    "LW_AWS_IAM_6": ("cis_iam.disable_unused_credentials", False, False, False),
    "LW_AWS_IAM_7": ("cis_iam.disable_inactive_user", True, False, False),
    "LW_AWS_IAM_8": ("cis_iam.review_identity_providers", True, True, False),
    "LW_AWS_IAM_9": ("cis_iam.restrict_role_networks", True, True, False),
    "LW_AWS_IAM_10": ("cis_iam.restrict_user_networks", True, True, False),
    "LW_AWS_IAM_11": ("cis_iam.create_non_root_user", True, True, False),
    "LW_AWS_IAM_12": ("cis_iam.retire_old_access_keys", True, False, False),
    "LW_AWS_IAM_13": ("cis_iam.retire_old_access_keys", True, False, False),
    "LW_AWS_IAM_14": ("cis_iam.delete_unused_console_password", True, False, False),
}


def test_map_is_installed():
    registry = load_maps()
    assert not registry.failed
    ours = {rid for rid, origin in registry.origin.items() if origin == "lw-map-cis-iam"}
    assert ours == {r.id for r in lw_map_cis_iam.REMEDIATIONS}


def test_every_rule_has_exactly_one_entry():
    by_rule: dict[str, list[str]] = {}
    for rem in lw_map_cis_iam.REMEDIATIONS:
        for rule in rem.rules:
            by_rule.setdefault(rule, []).append(rem.id)
    assert {rule: ids[0] for rule, ids in by_rule.items()} == {
        rule: spec[0] for rule, spec in EXPECTED.items()
    }
    assert all(len(ids) == 1 for ids in by_rule.values())


def test_flags_of_each_rule():
    remediations = {r.id: r for r in lw_map_cis_iam.REMEDIATIONS}
    for rule, (rid, manual, manual_only, sensitive) in EXPECTED.items():
        rem = remediations[rid]
        assert rem.manual_by_default is manual, rule
        assert (not rem.auto_remediable) is manual_only, rule
        assert rem.privilege_sensitive is sensitive, rule
        if sensitive:
            assert "PRIVILEGE-SENSITIVE" in rem.description, rule
        if manual:
            assert rem.runbook, rule


def test_maps_cli_lists_every_rule_with_its_flags():
    result = CliRunner().invoke(cli, ["maps", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    (ours,) = [m for m in data["maps"] if m["name"] == "lw-map-cis-iam"]
    listed = {
        rule["rule_id"]: (r["id"], r["manual_by_default"], r["privilege_sensitive"])
        for r in ours["remediations"]
        for rule in r["rules"]
    }
    assert listed == {rule: (s[0], s[1], s[3]) for rule, s in EXPECTED.items()}
    assert {r["rule_id"]: r["alias"] for r in ours["remediations"][1]["rules"]} == {
        "AWS_CIS_1_3": "lacework-global-41",
        "LW_AWS_IAM_6": "lacework-global-120",
    }
    aliases = {rule["rule_id"]: rule["alias"] for r in ours["remediations"] for rule in r["rules"]}
    assert {rule: aliases[rule] for rule in [f"LW_AWS_IAM_{n}" for n in range(7, 15)]} == {
        "LW_AWS_IAM_7": "lacework-global-121",
        "LW_AWS_IAM_8": None,
        "LW_AWS_IAM_9": None,
        "LW_AWS_IAM_10": None,
        "LW_AWS_IAM_11": "lacework-global-181",
        "LW_AWS_IAM_12": "lacework-global-142",
        "LW_AWS_IAM_13": "lacework-global-141",
        "LW_AWS_IAM_14": "lacework-global-105",
    }


#: Non-default options, so the README check sees every option's actions too.
OPTIONS = {
    "cis_iam.require_console_mfa": {"action": "add_to_mfa_group"},
    "cis_iam.retire_old_access_keys": {"action": "deactivate_if_rotated"},
    "cis_iam.disable_unused_credentials": {"delete_login_profile": True},
    "cis_iam.move_user_policies_to_group": {"action": "migrate"},
    "cis_iam.attach_instance_profile": {
        "action": "associate",
        "instance_profile_arn": "arn:aws:iam::123456789012:instance-profile/baseline",
        "role_arn": "arn:aws:iam::123456789012:role/baseline",
    },
    "cis_iam.detach_admin_policy": {"action": "detach"},
    "cis_iam.disable_inactive_user": {"deactivate_keys": True, "delete_login_profile": True},
    "cis_iam.delete_unused_console_password": {"delete_login_profile": True},
}


def test_every_remediation_has_a_readme_entry():
    from pathlib import Path

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    for rem in lw_map_cis_iam.REMEDIATIONS:
        assert f"`{rem.id}`" in readme, rem.id
        for rule in rem.rules:
            assert rule in readme, rule
        options = rem.parse_options(OPTIONS.get(rem.id, {}))
        for action in rem.policy_for(options, revert=True).actions:
            assert f"`{action}`" in readme, (rem.id, action)
        for name in rem.options.model_fields:
            assert f"`{name}`" in readme, (rem.id, name)


#: Options an action needs before it writes, so the size check sees their statements too.
REQUIRED = {
    "cis_iam.create_support_role": {
        "trusted_principal_arns": ["arn:aws:iam::111122223333:role/SecOps"]
    },
    "cis_iam.set_security_contact": {
        "name": "Security Team",
        "title": "SecOps",
        "email": "security@example.com",
        "phone": "+1 555 0100",
    },
}

#: STS rejects a session policy over 2,048 characters (the engine refuses such an action).
SESSION_POLICY_LIMIT = 2048


def test_every_session_policy_fits_sts():
    for rem in lw_map_cis_iam.REMEDIATIONS:
        for raw in ({}, OPTIONS.get(rem.id, {}), REQUIRED.get(rem.id, {})):
            doc = rem.session_policy(
                rem.parse_options(raw), account="123456789012", partition="aws-us-gov"
            )
            size = len(json.dumps(doc, separators=(",", ":")))
            assert size <= SESSION_POLICY_LIMIT, (rem.id, raw, size)


@pytest.mark.parametrize(
    ("remediation_id", "field", "longest"),
    [
        ("cis_iam.require_console_mfa", "mfa_group_name", 128),
        ("cis_iam.create_support_role", "role_name", 64),
        ("cis_iam.move_user_policies_to_group", "group_prefix", 60),
    ],
)
def test_iam_name_options_take_exactly_the_characters_iam_takes(remediation_id, field, longest):
    # IAM names: ASCII letters and digits and _+=,.@- (the IAM API reference); the
    # patterns name that ASCII class instead of \w, whose Unicode form pydantic-core's
    # regex engine takes ~40-140 ms to compile at every start.
    rem = load_maps().remediations[remediation_id]
    name = "Az09_+=,.@-" + "x" * (longest - 11)
    assert getattr(rem.parse_options({field: name}), field) == name
    for bad in ["", name + "x", "grüppe", "name with space", "a/b", "name\n"]:
        with pytest.raises(pydantic.ValidationError):
            rem.parse_options({field: bad})
