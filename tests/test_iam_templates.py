"""deploy/iam/ is what `lw-remediate policy` prints now (regenerate with deploy/iam/generate.py)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

from lw_remediate import IamPolicy
from lw_remediate.cli.policy import MANAGED_POLICY_MAX_CHARS, cloudformation
from lw_remediate.plugins import load_maps
from lw_remediate.testing.least_privilege import validate_actions

IAM = Path(__file__).resolve().parents[1] / "deploy" / "iam"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lw_iam_generate", IAM / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = _generator()


@pytest.fixture(scope="module")
def fresh() -> dict[str, str]:
    return generate.render()


def test_committed_iam_files_match_the_cli(fresh):
    diffs = generate.stale(fresh)
    if diffs:
        shown = "".join(diffs.values())
        pytest.fail(
            f"deploy/iam/{', deploy/iam/'.join(sorted(diffs))} differ from what "
            f"`lw-remediate policy` prints now (a remediation was added or changed).\n"
            f"Regenerate and commit them: .venv/bin/{generate.REGENERATE}\n\n" + shown[:4000],
            pytrace=False,
        )


def test_the_policy_is_an_iam_document_covering_every_remediation():
    policy = json.loads((IAM / "policy.json").read_text())
    assert policy["Version"] == "2012-10-17"
    granted = {a for st in policy["Statement"] for a in st["Action"]}
    assert all(st["Effect"] == "Allow" for st in policy["Statement"])
    for rem in load_maps().remediations.values():
        missing = rem.policy_for(revert=True).actions - granted
        assert not missing, f"{rem.id}: deploy/iam/policy.json lacks {sorted(missing)}"


def test_the_role_template_has_the_role_and_one_policy_per_map_set():
    template = json.loads((IAM / "role.cloudformation.json").read_text())
    resources = template["Resources"]
    role = resources["RemediationRole"]
    assert role["Type"] == "AWS::IAM::Role"
    attached = {ref["Ref"] for ref in role["Properties"]["ManagedPolicyArns"]}
    policies = {k for k, v in resources.items() if v["Type"] == "AWS::IAM::ManagedPolicy"}
    assert attached == policies and policies
    assert "TrustedPrincipalArn" in template["Parameters"]


def test_every_managed_policy_is_valid_and_under_iams_size_limit():
    template = json.loads((IAM / "role.cloudformation.json").read_text())
    documents = [
        v["Properties"]["PolicyDocument"]
        for v in template["Resources"].values()
        if v["Type"] == "AWS::IAM::ManagedPolicy"
    ]
    assert len(documents) <= 10, "IAM attaches at most 10 managed policies to a role by default"
    for doc in documents:
        assert len(json.dumps(doc, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS
        actions = [a for st in doc["Statement"] for a in st["Action"]]
        assert validate_actions(actions) == []


def test_a_map_set_over_the_limit_is_split_into_several_managed_policies():
    group = "arn:{partition}:ec2:*:{account}:security-group/sg-"
    wide = IamPolicy.merge(
        IamPolicy.allow(["ec2:RevokeSecurityGroupIngress"], [f"{group}{i:040d}"])
        for i in range(120)
    )
    template = cloudformation(
        {"network": wide, "s3": IamPolicy.allow(["s3:GetBucketAcl"], ["*"])}, role_name="r"
    )
    resources = template["Resources"]
    parts = sorted(k for k in resources if k.startswith("NetworkPolicy"))
    assert len(parts) > 1 and parts[0] == "NetworkPolicy"
    attached = [
        ref["Ref"] for ref in resources["RemediationRole"]["Properties"]["ManagedPolicyArns"]
    ]
    assert set(attached) == {*parts, "S3Policy"}
    statements = []
    for name in parts:
        doc = resources[name]["Properties"]["PolicyDocument"]
        assert len(json.dumps(doc, separators=(",", ":"))) <= MANAGED_POLICY_MAX_CHARS
        statements += doc["Statement"]
    rendered = wide.render(account="${AWS::AccountId}", partition="${AWS::Partition}")
    assert len(statements) == len(rendered["Statement"])
    assert "part 1 of" in resources["NetworkPolicy"]["Properties"]["Description"]
