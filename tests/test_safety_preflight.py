"""``lw-remediate preflight`` against moto, and the session-policy size contract.

moto does not implement ``iam:SimulatePrincipalPolicy`` (it answers 500), so these
tests exercise the fallback preflight takes on AWS too when the role may not simulate:
reading the role's own identity policies and evaluating them. The simulation path
itself is not run here (no endpoint to run it against); its report shape is shared.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lw_remediate.aws.credentials import AwsProvider
from lw_remediate.config import Config
from lw_remediate.operate.preflight import (
    _session_policy_problem,
    evaluate,
    render_text,
    run_preflight,
)
from lw_remediate.plugins import load_maps

from .conftest import to_toml

ACCOUNT = "123456789012"
OTHER = "210987654321"
REGISTRY = load_maps()
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def doc(*statements):
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def config_data(moto_url: str, tmp_path) -> dict:
    return {
        "aws": {
            "endpoint_url": moto_url,
            "role_name": "lw-remediate",
            "accounts": [ACCOUNT],
        },
        "store": {"path": str(tmp_path / "p.sqlite3")},
        "remediation": {
            "default_mode": "off",
            "s3.enable_versioning": {"mode": "auto"},
            "s3.remove_public_acl_grants": {"mode": "approve"},
        },
    }


def make_config(data: dict) -> Config:
    from .conftest import _split

    return Config.model_validate(_split(data))


@pytest.fixture
def role(admin_client):
    """The remediation role in ACCOUNT: versioning read-only, ACLs allowed but PutBucketAcl denied."""
    iam = admin_client("iam")
    iam.create_role(RoleName="lw-remediate", AssumeRolePolicyDocument=json.dumps(TRUST))
    iam.put_role_policy(
        RoleName="lw-remediate",
        PolicyName="versioning",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "s3:GetBucketVersioning", "Resource": "arn:aws:s3:::*"}
        ),
    )
    arn = iam.create_policy(
        PolicyName="acl",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": ["s3:Get*", "s3:PutBucketAcl"], "Resource": "*"},
            {"Effect": "Deny", "Action": "s3:PutBucketAcl", "Resource": "arn:aws:s3:::*"},
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName="lw-remediate", PolicyArn=arn)
    return iam


async def test_preflight_reports_what_the_role_lacks(moto_server, role, tmp_path):
    config = make_config(config_data(moto_server.endpoint_url, tmp_path))
    async with AwsProvider(config.aws) as aws:
        (account,) = await run_preflight(config, REGISTRY, aws)
    assert account.account == ACCOUNT and account.error is None
    assert account.principal == f"arn:aws:iam::{ACCOUNT}:role/lw-remediate"
    assert (
        account.method == "static"
        and "SimulatePrincipalPolicy unavailable" in account.method_detail
    )
    by_id = {r.remediation_id: r for r in account.remediations}
    assert set(by_id) == {"s3.enable_versioning", "s3.remove_public_acl_grants"}  # enabled only
    versioning = by_id["s3.enable_versioning"]
    assert [(a.action, a.decision) for a in versioning.missing] == [
        ("s3:PutBucketVersioning", "denied")
    ]
    acl = by_id["s3.remove_public_acl_grants"]
    assert [(a.action, a.detail) for a in acl.missing] == [
        ("s3:PutBucketAcl", "explicitly denied by the role's policies")
    ]
    assert not account.ok
    text = "\n".join(render_text([account]))
    assert (
        "MISSING  s3.enable_versioning" in text
        and "s3:PutBucketVersioning on arn:aws:s3:::*" in text
    )

    # Grant what is missing: the remediation passes.
    role.put_role_policy(
        RoleName="lw-remediate",
        PolicyName="versioning",
        PolicyDocument=doc(
            {"Effect": "Allow", "Action": "s3:*Versioning", "Resource": "arn:aws:s3:::*"}
        ),
    )
    async with AwsProvider(config.aws) as aws:
        (account,) = await run_preflight(config, REGISTRY, aws)
    assert {r.remediation_id: r.ok for r in account.remediations} == {
        "s3.enable_versioning": True,
        "s3.remove_public_acl_grants": False,
    }


async def test_a_missing_role_is_reported_once(moto_server, tmp_path):
    data = config_data(moto_server.endpoint_url, tmp_path)
    config = make_config(data)
    # No role in OTHER: moto lets AssumeRole through (AWS would refuse it); IAM says
    # the role does not exist, and that is the one line instead of a line per action.
    async with AwsProvider(config.aws) as aws:
        (account,) = await run_preflight(config, REGISTRY, aws, accounts=[OTHER])
    assert (
        account.error == f"role arn:aws:iam::{OTHER}:role/lw-remediate not found in account {OTHER}"
    )
    assert account.remediations == [] and not account.ok
    assert render_text([account]) == [
        f"account {OTHER} (arn:aws:iam::{OTHER}:role/lw-remediate): ERROR role "
        f"arn:aws:iam::{OTHER}:role/lw-remediate not found in account {OTHER}"
    ]


def test_the_generated_role_can_run_preflight_on_itself():
    from lw_remediate.cli.policy import merged_policy
    from lw_remediate.config import Config as Cfg

    policies = merged_policy(REGISTRY, Cfg(), enabled_only=False, revert=True, role_name="lw-r")
    rendered = policies["core"].render(account="123456789012", partition="aws")
    listed = [
        (
            [st["Action"]] if isinstance(st["Action"], str) else st["Action"],
            [st["Resource"]] if isinstance(st["Resource"], str) else st["Resource"],
        )
        for st in rendered["Statement"]
    ]
    pairs = {(a, r) for actions, resources in listed for a in actions for r in resources}
    role = "arn:aws:iam::123456789012:role/lw-r"
    assert {("iam:SimulatePrincipalPolicy", role), ("iam:GetRole", role)} <= pairs


def test_preflight_cli_exit_status_and_json(moto_server, role, tmp_path):
    path = tmp_path / "c.toml"
    toml = to_toml(config_data(moto_server.endpoint_url, tmp_path))
    path.write_text(toml + '\n[[exemptions]]\ntag = { key = "skip" }\nowner = "o"\nreason = "r"\n')
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lw_remediate.cli import main; main()",
            "preflight",
            "--json",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    (account,) = json.loads(run.stdout)
    ids = [r["remediation_id"] for r in account["remediations"]]
    # A tag exemption means the core reads tags: that is checked too.
    assert ids == ["s3.enable_versioning", "s3.remove_public_acl_grants", "core.exemptions"]
    core = account["remediations"][-1]
    assert {a["action"] for a in core["actions"] if a["decision"] == "denied"} >= {
        "iam:ListUserTags",
        "iam:ListRoleTags",
    }
    bad = subprocess.run(
        [
            sys.executable,
            "-c",
            "from lw_remediate.cli import main; main()",
            "preflight",
            "--account",
            "12",
            "--config",
            str(path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("statements", "decision"),
    [
        ([{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}], "allowed"),
        ([{"Effect": "Allow", "Action": "S3:GETBUCKETACL", "Resource": "*"}], "allowed"),
        ([{"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}], "allowed"),
        ([{"Effect": "Allow", "NotAction": "s3:Get*", "Resource": "*"}], "denied"),
        (
            [{"Effect": "Allow", "Action": "s3:GetBucketAcl", "Resource": "arn:aws:s3:::prod-*"}],
            "denied",
        ),
        (
            [{"Effect": "Allow", "Action": "s3:GetBucketAcl", "NotResource": "arn:aws:s3:::x"}],
            "allowed",
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ],
            "conditional",
        ),
        (
            [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {"Effect": "Deny", "Action": "s3:GetBucketAcl", "Resource": "*"},
            ],
            "denied",
        ),
        (
            [
                {"Effect": "Allow", "Action": "*", "Resource": "*"},
                {
                    "Effect": "Deny",
                    "Action": "*",
                    "Resource": "*",
                    "Condition": {"Bool": {"x": "y"}},
                },
            ],
            "conditional",
        ),
        (
            [
                {
                    "Effect": "Allow",
                    "Action": "s3:GetBucketAcl",
                    "Resource": "arn:aws:s3:::${aws:username}",
                }
            ],
            "denied",
        ),
        ([], "denied"),
    ],
)
def test_local_policy_evaluation(statements, decision):
    assert evaluate(statements, "s3:GetBucketAcl", "arn:aws:s3:::*")[0] == decision


def test_session_policy_limit_is_checked():
    config = Config.model_validate({"aws": {"role_name": "r"}})
    small = {"Version": "2012-10-17", "Statement": []}
    assert _session_policy_problem(config, small) is None
    big = {"Statement": [{"Sid": "x", "Action": ["s3:GetBucketAcl"] * 200}]}
    assert "AssumeRole accepts at most 2048" in _session_policy_problem(config, big)
    off = Config.model_validate({"aws": {"role_name": "r", "session_policy": False}})
    assert _session_policy_problem(off, big) is None


def test_every_installed_remediation_fits_in_a_session_policy():
    """AssumeRole rejects a session policy over 2048 characters: with default options
    every remediation's declared policy (undo included) must fit."""
    for rid, rem in REGISTRY.remediations.items():
        rendered = rem.policy_for(revert=True).render(account=ACCOUNT)
        config = Config.model_validate({"aws": {"role_name": "r"}})
        assert _session_policy_problem(config, rendered) is None, rid
