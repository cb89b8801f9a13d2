from __future__ import annotations

import pytest

from lw_remediate import ConfigError, Mode
from lw_remediate.config import load_config
from lw_remediate.plugins import load_maps


def write(tmp_path, text):
    path = tmp_path / "lw.toml"
    path.write_text(text)
    return path


def test_defaults_are_safe():
    config = load_config(None, environ={})
    assert config.remediation.default_mode is Mode.DRY_RUN
    assert config.mode_for("s3.enable_versioning") is Mode.DRY_RUN
    assert config.server.host == "127.0.0.1"


def test_per_remediation_tables_carry_mode_and_options(tmp_path):
    path = write(
        tmp_path,
        """
strict_maps = true
[remediation]
default_mode = "off"
[remediation."cis_iam.tighten_password_policy"]
mode = "auto"
min_length = 16
[rules]
LW_S3_1 = "s3.remove_public_acl_grants"
""",
    )
    config = load_config(path, environ={})
    assert config.strict_maps is True
    assert config.mode_for("cis_iam.tighten_password_policy") is Mode.AUTO
    assert config.mode_for("s3.enable_versioning") is Mode.OFF
    assert config.options_for("cis_iam.tighten_password_policy") == {"min_length": 16}


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nport = 'eighty'\n", "server.port"),
        ("[server]\nprot = 8080\n", "server.prot"),
        ("[aws]\naccounts = ['123']\n", "aws.accounts"),
        ("[remediation]\ndefault_mode = 'yolo'\n", "remediation.default_mode"),
        ("[remediation]\nfoo = 1\n", "remediation.foo"),
        ("not toml = = 1", "not valid TOML"),
    ],
)
def test_bad_keys_are_named(tmp_path, text, needle):
    with pytest.raises(ConfigError, match=needle.replace(".", r"\.")):
        load_config(write(tmp_path, text), environ={})


def test_remediation_options_are_validated_against_the_loaded_maps(tmp_path):
    registry = load_maps()
    bad_option = load_config(
        write(tmp_path, '[remediation."cis_iam.tighten_password_policy"]\nmin_lenght = 3\n'),
        environ={},
    )
    with pytest.raises(
        ConfigError, match=r'remediation\."cis_iam.tighten_password_policy"\.min_lenght'
    ):
        bad_option.validate_remediations(registry.remediations)
    out_of_range = load_config(
        write(tmp_path, '[remediation."cis_iam.tighten_password_policy"]\nmin_length = 3\n'),
        environ={},
    )
    with pytest.raises(ConfigError, match="min_length"):
        out_of_range.validate_remediations(registry.remediations)
    unknown = load_config(
        write(tmp_path, '[remediation."s3.nope_nope"]\nmode = "auto"\n'), environ={}
    )
    with pytest.raises(ConfigError, match="no installed remediation"):
        unknown.validate_remediations(registry.remediations)


def test_environment_overrides_and_lacework_cli_variables(tmp_path):
    path = write(tmp_path, "[server]\nport = 8080\n[lacework]\naccount = 'fromfile'\n")
    config = load_config(
        path,
        environ={
            "LW_REMEDIATE_SERVER_PORT": "9090",
            "LW_ACCOUNT": "fromenv",
            "LW_API_KEY": "KEY",
            "LW_API_SECRET": "SECRET",
            "LW_REMEDIATE_AWS_ACCOUNTS": "123456789012, 210987654321",
        },
    )
    assert config.server.port == 9090
    assert config.lacework.account == "fromenv"
    assert config.lacework.key_id == "KEY"
    assert config.lacework.resolved_secret() == "SECRET"
    assert config.aws.accounts == ["123456789012", "210987654321"]
    assert config.lacework.base_url == "https://fromenv.lacework.net"


def test_secrets_from_files_and_never_in_repr(tmp_path):
    secret = tmp_path / "token"
    secret.write_text("s3cr3t-token\n")
    config = load_config(
        write(tmp_path, f"[server]\nwebhook_token_file = '{secret}'\n"), environ={}
    )
    assert config.server.resolved_webhook_token() == "s3cr3t-token"
    inline = load_config(write(tmp_path, "[server]\nwebhook_token = 'inline-secret'\n"), environ={})
    assert "inline-secret" not in repr(inline)


def test_per_remediation_role_name(tmp_path):
    registry = load_maps()
    config = load_config(
        write(
            tmp_path,
            '[aws]\nrole_name = "main"\n[remediation."cis_iam.create_support_role"]\nrole_name = "iam-structure/lw-privileged"\n',
        ),
        environ={},
    )
    config.validate_remediations(registry.remediations)
    assert config.role_for("cis_iam.create_support_role") == "iam-structure/lw-privileged"
    assert config.role_for("s3.enable_versioning") == "main"
    assert config.options_for("cis_iam.create_support_role") == {}
    bad = load_config(
        write(tmp_path, '[remediation."s3.enable_versioning"]\nrole_name = "no spaces"\n'),
        environ={},
    )
    with pytest.raises(ConfigError, match="role_name"):
        bad.validate_remediations(registry.remediations)


@pytest.mark.parametrize(
    ("table", "needle"),
    [
        (
            'rule = "LW_S3_999"',
            r"exemptions\[0\]\.rule: no installed remediation handles 'LW_S3_999'",
        ),
        (
            'rule = "LW_S3_16"\nremediation = "s3.remove_public_policy_statements"',
            r"exemptions\[0\]\.rule: s3.remove_public_policy_statements does not handle 'LW_S3_16'",
        ),
        ('remediation = "s3.nope_nope"', r"exemptions\[0\]\.remediation: no installed remediation"),
    ],
)
def test_exemptions_that_could_never_match_are_config_errors(tmp_path, table, needle):
    """Issue 15 case 10: ``--rule LW_S3_999`` could never match and was accepted."""
    registry = load_maps()
    config = load_config(
        write(tmp_path, f'[[exemptions]]\nowner = "o"\nreason = "r"\n{table}\n'), environ={}
    )
    with pytest.raises(ConfigError, match=needle):
        config.validate_remediations(registry.remediations)


def test_an_exemption_by_the_rules_other_name_is_accepted(tmp_path):
    registry = load_maps()
    config = load_config(
        write(tmp_path, '[[exemptions]]\nowner = "o"\nreason = "r"\nrule = "lacework-global-97"\n'),
        environ={},
    )
    config.validate_remediations(registry.remediations)


def test_an_exemption_by_a_rule_id_a_map_declares_is_accepted(tmp_path):
    """A new id a remediation declares (``rule_ids``) can be exempted like its rules."""
    registry = load_maps()
    declared = next(d.id for rem in registry.remediations.values() for d in rem.rule_ids)
    config = load_config(
        write(tmp_path, f'[[exemptions]]\nowner = "o"\nreason = "r"\nrule = "{declared}"\n'),
        environ={},
    )
    config.validate_remediations(registry.remediations)


# -- where a bad value came from (issue 18) ---------------------------------------------


def test_an_unknown_key_is_called_that(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[aws]\nregoin = 'eu-west-1'\n")
    with pytest.raises(ConfigError, match=r"^aws\.regoin: unknown key$"):
        load_config(path, environ={})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"LW_REMEDIATE_SERVER_PORT": "eighty"},
            "server.port: Input should be a valid integer, unable to parse string as an "
            "integer (from the environment variable LW_REMEDIATE_SERVER_PORT)",
        ),
        (
            {"LW_REMEDIATE_AWS_REGOIN": "eu-west-1"},
            "aws.regoin: unknown key (from the environment variable LW_REMEDIATE_AWS_REGOIN)",
        ),
        (
            {"LW_REMEDIATE_AWS_ACCOUNTS": "1234"},
            "aws.accounts: Value error, '1234' is not a 12-digit AWS account id (from the "
            "environment variable LW_REMEDIATE_AWS_ACCOUNTS)",
        ),
    ],
)
def test_errors_from_the_environment_name_the_variable(tmp_path, environ, message):
    with pytest.raises(ConfigError) as caught:
        load_config(None, environ=environ)
    assert str(caught.value) == message


def test_a_bad_value_in_the_file_does_not_blame_the_environment(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 'eighty'\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={"LW_REMEDIATE_AWS_REGION": "eu-west-1"})
    assert "environment" not in str(caught.value)
