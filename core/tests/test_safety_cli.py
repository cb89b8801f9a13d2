"""The operator-control commands: one-line errors (exit 2 for bad input, 1 for a refused
operation) and round trips through the configured store."""

from __future__ import annotations

import json

import pytest

from .conftest import write


@pytest.fixture
def config(tmp_path):
    return write(
        tmp_path / "c.toml",
        f"""
        [store]
        path = "{tmp_path / "lw.sqlite3"}"
        """,
    )


def one_line_error(result, status: int = 2) -> str:
    assert result.returncode == status, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("lw-remediate:")
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["approve", "nope"], "no action 'nope'"),
        (["undo", "nope"], "no action 'nope'"),
        (["approve", "x", "--by", ""], "actor name"),
        (["exemptions", "add", "--owner", "o", "--reason", "r"], "at least one of"),
        (
            ["exemptions", "add", "--account", "12", "--owner", "o", "--reason", "r"],
            "'12' is not a 12-digit AWS account id",
        ),
        (
            [
                "exemptions",
                "add",
                "--arn",
                "*",
                "--owner",
                "o",
                "--reason",
                "r",
                "--expires",
                "soon",
            ],
            "not a date",
        ),
        (
            ["exemptions", "add", "--remediation", "s3.nope", "--owner", "o", "--reason", "r"],
            "no installed remediation 's3.nope'",
        ),
        (["exemptions", "add", "--tag", "=v", "--owner", "o", "--reason", "r"], "KEY=VALUE"),
        (["exemptions", "remove", "nope"], "no exemption 'nope'"),
        (["flapping", "clear", "arn:aws:s3:::x"], "is not flagged as flapping"),
        (["preflight", "--account", "abc"], "12-digit"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(cli, config, args, message):
    line = one_line_error(cli(*args, "--config", str(config)))
    assert message in line


def test_config_errors_in_safety_sections_name_the_key(cli, tmp_path):
    for body, key in [
        ("[safety]\nflap_max_changes = 0\n", "safety.flap_max_changes"),
        ("[[exemptions]]\narn = '*'\nreason = 'r'\n", "exemptions.0.owner"),
        ("[[exemptions]]\nremediation = 's3.nope'\nowner = 'o'\nreason = 'r'\n", "exemptions[0]"),
    ]:
        path = write(tmp_path / "bad.toml", body)
        line = one_line_error(cli("kill-switch", "status", "--config", str(path)))
        assert key in line, (body, line)


def test_kill_switch_round_trip(cli, config, tmp_path):
    switch = tmp_path / "lw.kill-switch"  # next to the store by default
    on = cli("kill-switch", "on", "--reason", "incident 9", "--by", "ops", "--config", str(config))
    assert on.returncode == 0, on.stderr
    assert on.stdout.strip() == f"kill switch on by ops: incident 9 ({switch})"
    assert switch.exists()
    status = cli("kill-switch", "status", "--json", "--config", str(config))
    data = json.loads(status.stdout)
    assert data["on"] and data["by"] == "ops" and data["paused"] == []
    off = cli("kill-switch", "off", "--config", str(config))
    assert off.returncode == 0 and not switch.exists()
    audit = json.loads(cli("audit", "--json", "--config", str(config)).stdout)
    assert [(e["kind"], e["actor"], e["data"]["via"]) for e in audit][1] == (
        "kill_switch_on",
        "ops",
        "cli",
    )


def test_exemptions_round_trip(cli, config):
    added = cli(
        "exemptions",
        "add",
        "--arn",
        "arn:aws:s3:::www.*",
        "--rule",
        "lacework-global-130",
        "--tag",
        "team=web",
        "--owner",
        "web",
        "--reason",
        "site",
        "--expires",
        "30d",
        "--id",
        "web-site",
        "--by",
        "jo",
        "--json",
        "--config",
        str(config),
    )
    assert added.returncode == 0, added.stderr
    data = json.loads(added.stdout)
    assert data["id"] == "web-site" and data["rule"] == "LW_S3_1"  # the canonical id
    assert data["tag"] == {"key": "team", "value": "web"} and data["created_by"] == "jo"
    duplicate = cli(
        "exemptions",
        "add",
        "--arn",
        "x",
        "--owner",
        "o",
        "--reason",
        "r",
        "--id",
        "web-site",
        "--config",
        str(config),
    )
    assert "exists already" in one_line_error(duplicate, 1)
    listed = cli("exemptions", "list", "--config", str(config))
    assert "web-site  [store, active, expires" in listed.stdout
    assert cli("exemptions", "remove", "web-site", "--config", str(config)).returncode == 0
    assert cli("exemptions", "list", "--config", str(config)).stdout.strip() == "(no exemptions)"


def test_configuration_exemptions_are_listed_but_not_removable(cli, tmp_path):
    path = write(
        tmp_path / "c.toml",
        f"""
        [store]
        path = "{tmp_path / "lw.sqlite3"}"

        [[exemptions]]
        id = "legacy"
        account = "123456789012"
        owner = "o"
        reason = "r"
        expires = 2001-01-01
        """,
    )
    listed = json.loads(cli("exemptions", "list", "--json", "--config", str(path)).stdout)
    assert [(e["id"], e["source"], e["expired"]) for e in listed] == [("legacy", "config", True)]
    removed = cli("exemptions", "remove", "legacy", "--config", str(path))
    assert "remove it there" in one_line_error(removed, 1)
