"""The CLI: maps, policy, and one-line errors with exit status 2."""

from __future__ import annotations

import json

import pytest

from lw_remediate.testing import validate_actions


def test_maps_json_lists_both_distributions(cli):
    result = cli("maps", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    by_name = {m["name"]: m for m in data["maps"]}
    s3 = {r["id"]: r for r in by_name["lw-map-s3"]["remediations"]}
    versioning = s3["s3.enable_versioning"]
    assert versioning["rules"] == [
        {"rule_id": "LW_S3_16", "alias": "lacework-global-97", "alias_also_for": []}
    ]
    assert versioning["rule_ids"] == []
    assert versioning["auto_remediable"] is True and versioning["reversible"] is True
    iam = {r["id"] for r in by_name["lw-map-cis-iam"]["remediations"]}
    assert "cis_iam.tighten_password_policy" in iam


def test_maps_text_output(cli):
    result = cli("maps")
    assert result.returncode == 0
    assert "s3.enable_versioning" in result.stdout and "lw-map-s3" in result.stdout
    # Both forms of each rule; a new id shared by two legacy rules says so.
    assert "LW_S3_16 (lacework-global-97)" in result.stdout
    assert "AWS_CIS_4_1 (lacework-global-68, also AWS_CIS_4_2)" in result.stdout


def test_maps_has_a_header_and_shows_the_configured_mode(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[remediation."s3.enable_versioning"]\nmode = "approve"\n')
    result = cli("maps", "--config", str(cfg))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[1].split() == ["REMEDIATION", "CAPABILITY", "MODE", "RULES"]
    (row,) = [line for line in lines if line.split()[:1] == ["s3.enable_versioning"]]
    assert row.split()[1:4] == ["auto", "approve", "LW_S3_16"]
    (other,) = [line for line in lines if line.split()[:1] == ["s3.require_secure_transport"]]
    assert other.split()[2] == "dry-run"  # the default mode
    data = json.loads(cli("maps", "--json", "--config", str(cfg)).stdout)
    modes = {r["id"]: r["mode"] for m in data["maps"] for r in m["remediations"]}
    assert modes["s3.enable_versioning"] == "approve"


def test_policy_json_is_valid_iam_with_real_actions(cli):
    result = cli("policy")
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["Version"] == "2012-10-17"
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert {
        "s3:PutBucketVersioning",
        "iam:UpdateAccountPasswordPolicy",
        "iam:DeleteAccountPasswordPolicy",
    } <= actions
    assert validate_actions(actions) == []
    assert all(st["Effect"] == "Allow" for st in doc["Statement"])


def test_policy_no_revert_drops_undo_only_actions(cli):
    doc = json.loads(cli("policy", "--no-revert").stdout)
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert "iam:DeleteAccountPasswordPolicy" not in actions


def test_policy_account_fills_resource_arns(cli):
    doc = json.loads(cli("policy", "--account", "123456789012", "--partition", "aws-cn").stdout)
    resources = {
        r
        for st in doc["Statement"]
        for r in ([st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"])
    }
    assert "arn:aws-cn:s3:::*" in resources


def test_policy_cloudformation_defines_the_role(cli):
    result = cli("policy", "--format", "cloudformation", "--role-name", "lw-fixer")
    template = json.loads(result.stdout)
    role = template["Resources"]["RemediationRole"]
    assert role["Type"] == "AWS::IAM::Role"
    assert role["Properties"]["RoleName"] == "lw-fixer"
    policies = [r for r in template["Resources"].values() if r["Type"] == "AWS::IAM::ManagedPolicy"]
    assert len(policies) == len(role["Properties"]["ManagedPolicyArns"]) >= 2
    s3_statement = template["Resources"]["S3Policy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert s3_statement["Resource"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::*"}


def test_policy_enabled_only_honours_mode_off(cli, tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[remediation."s3.enable_versioning"]\nmode = "off"\n')
    doc = json.loads(cli("policy", "--enabled-only", "--config", str(cfg)).stdout)
    actions = {a for st in doc["Statement"] for a in st["Action"]}
    assert "s3:PutBucketVersioning" not in actions


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("policy", "--format", "yaml"), "Invalid value for '--format'"),
        (("policy", "--account", "12"), "not a 12-digit AWS account id"),
        (("nosuchcommand",), "No such command"),
        (("maps", "--bogus"), "No such option"),
        (("maps", "--config", "/nonexistent.toml"), "config file not found"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, args, needle):
    result = cli(*args)
    assert result.returncode == 2
    assert needle in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_help_exits_zero(cli):
    result = cli("--help")
    assert result.returncode == 0
    assert "maps" in result.stdout and "policy" in result.stdout


def test_cloudformation_substitutes_inside_conditions_too(cli):
    template = json.loads(cli("policy", "--format", "cloudformation").stdout)
    text_values = []

    def walk(value, inside_sub=False):
        if isinstance(value, dict):
            for key, v in value.items():
                walk(v, inside_sub or key == "Fn::Sub")
        elif isinstance(value, list):
            for v in value:
                walk(v, inside_sub)
        elif isinstance(value, str) and "${AWS::" in value:
            text_values.append((value, inside_sub))

    walk(template["Resources"])
    assert text_values, "the template uses account/partition substitutions"
    assert all(inside for _, inside in text_values), [v for v, inside in text_values if not inside]


@pytest.mark.parametrize("command", ["maps", "policy", "history", "config check"])
def test_an_invalid_option_table_is_one_line_naming_the_key(cli, tmp_path, command):
    """Every command loads the maps and validates the option tables the same way."""
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        f'[store]\npath = "{tmp_path / "s.sqlite3"}"\n\n'
        '[remediation."s3.enable_versioning"]\nbogus_option = 1\n'
    )
    result = cli(*command.split(), "--config", str(cfg))
    assert result.returncode == 2, result.stdout
    assert result.stderr.strip().splitlines() == [
        'lw-remediate: config error: remediation."s3.enable_versioning".bogus_option: unknown key'
    ]
    assert result.stdout == ""
