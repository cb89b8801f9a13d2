from __future__ import annotations

import pytest

from lw_remediate import IamPolicy, PolicyStatement
from lw_remediate.operate.preflight import evaluate
from lw_remediate.policy import action_matches


def test_covers_matches_actions_case_insensitively_and_resources_by_glob():
    policy = IamPolicy.allow(["s3:GetBucketAcl"], ["arn:{partition}:s3:::*"])
    assert policy.covers("s3:getbucketacl", "arn:aws:s3:::b", account="1")
    assert not policy.covers("s3:PutBucketAcl", "arn:aws:s3:::b", account="1")
    assert not policy.covers("s3:GetBucketAcl", "arn:aws:iam::1:root", account="1")


def test_account_placeholder():
    policy = IamPolicy.allow(["iam:UpdateAccessKey"], ["arn:aws:iam::{account}:user/*"])
    assert policy.covers(
        "iam:UpdateAccessKey", "arn:aws:iam::111122223333:user/u", account="111122223333"
    )
    assert not policy.covers(
        "iam:UpdateAccessKey", "arn:aws:iam::999999999999:user/u", account="111122223333"
    )


def test_merge_groups_by_resource_and_dedupes():
    a = IamPolicy.allow(["s3:GetBucketAcl", "s3:PutBucketAcl"], ["arn:{partition}:s3:::*"])
    b = IamPolicy.allow(["s3:GetBucketAcl", "s3:GetBucketPolicy"], ["arn:{partition}:s3:::*"])
    c = IamPolicy.allow(["iam:GetAccountPasswordPolicy"])
    merged = IamPolicy.merge([a, b, c])
    assert len(merged.statements) == 2
    assert merged.actions == {
        "s3:GetBucketAcl",
        "s3:PutBucketAcl",
        "s3:GetBucketPolicy",
        "iam:GetAccountPasswordPolicy",
    }


def test_render_is_an_iam_document():
    doc = IamPolicy.allow(["s3:GetBucketAcl"], ["arn:{partition}:s3:::*"]).render(
        partition="aws-us-gov"
    )
    assert doc["Version"] == "2012-10-17"
    st = doc["Statement"][0]
    assert st["Effect"] == "Allow" and st["Action"] == ["s3:GetBucketAcl"]
    assert st["Resource"] == "arn:aws-us-gov:s3:::*"


@pytest.mark.parametrize("bad", ["GetBucketAcl", "s3:", "s3 GetBucketAcl"])
def test_statement_rejects_malformed_actions(bad):
    with pytest.raises(ValueError, match="not an IAM action"):
        PolicyStatement((bad,))


def test_render_fills_placeholders_in_conditions():
    policy = IamPolicy.allow(
        ["s3:GetBucketAcl"],
        ["arn:{partition}:s3:::*"],
        conditions={"StringEquals": {"s3:ResourceAccount": "{account}"}},
    )
    doc = policy.render(account="123456789012")
    assert doc["Statement"][0]["Condition"] == {
        "StringEquals": {"s3:ResourceAccount": "123456789012"}
    }


@pytest.mark.parametrize(
    ("pattern", "action", "expected"),
    [
        ("*", "s3:GetObject", True),  # IAM's "Action": "*"
        ("s3:*", "s3:GetObject", True),
        ("s3:*", "s3express:CreateSession", False),
        ("S3:get*", "s3:GetBucketAcl", True),  # case-insensitive, service and name
        ("s3:Get*", "s3:PutBucketAcl", False),
        ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
        ("iam:?etUser", "iam:GetUser", True),
        ("iam:?etUser", "iam:GetUsers", False),
        ("s3:Get[A]*", "s3:GetA", False),  # [ is a literal in IAM, not a character class
        ("s3:GetObject", "s3:GetObjectAcl", False),
    ],
)
def test_one_iam_action_matcher(pattern, action, expected):
    assert action_matches(pattern, action) is expected


def test_declared_policies_and_preflight_agree_on_wildcards():
    """A declared policy and preflight's reading of a role's policy use the same matcher."""
    for pattern, action, expected in [
        ("s3:Get*", "s3:getbucketacl", True),
        ("s3:*", "s3express:CreateSession", False),
        ("iam:*AccessKey*", "iam:UpdateAccessKey", True),
    ]:
        declared = IamPolicy.allow([pattern], ["*"]).covers(action, "arn:aws:s3:::b", account="1")
        decision, _ = evaluate(
            [{"Effect": "Allow", "Action": pattern, "Resource": "*"}], action, "arn:aws:s3:::b"
        )
        assert declared is expected
        assert (decision == "allowed") is expected
    decision, _ = evaluate(
        [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
        "iam:DeleteUser",
        "arn:aws:iam::1:user/u",
    )
    assert decision == "allowed"
