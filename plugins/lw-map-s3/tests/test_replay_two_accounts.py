"""`lw-remediate replay --mode auto`: one EventBridge payload, S3 violations in two accounts.

Runs the real CLI (in process) against the kit's moto server: the core parses the
payload, pairs each bucket with its account (RecId rows of the same rule), assumes
the remediation role in the second account, and runs this map's remediations.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from lw_remediate.cli import cli

A, B = "123456789012", "210987654321"
LOG_DELIVERY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::logs-{B}-us-east-1/*",
        }
    ],
}
PUBLIC_READ = {
    "Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
    "Permission": "READ",
}


def entity_map(account, violations):
    """One EventBridge ``data[]`` entry: (rule, bucket) pairs evaluated in ``account``."""
    rules = sorted({rule for rule, _ in violations})
    return {
        "EVENT_MODEL": "AwsCompliance",
        "EVENT_TYPE": "NewViolations",
        "ENTITY_MAP": {
            "NewViolation": [
                {"REC_ID": rule, "REASON": f"{rule}_Reason", "RESOURCE": f"arn:aws:s3:::{bucket}"}
                for rule, bucket in violations
            ],
            "Resource": [
                {"VALUE": f"arn:aws:s3:::{bucket}", "NAME": "s3:bucket"}
                for bucket in sorted({b for _, b in violations})
            ],
            "RecId": [
                {"REC_ID": rule, "EVAL_TYPE": "LW_SA", "ACCOUNT_ID": account, "TITLE": rule}
                for rule in rules
            ],
        },
    }


def payload():
    return {
        "version": "0",
        "id": "9b1d2c3e-0000-4000-8000-000000000001",
        "detail-type": "LaceworkEvents",
        "source": "CUSTOMER_TEST",
        "account": "434813966438",
        "time": "2026-11-27T10:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "EVENT_ID": "71001",
            "EVENT_NAME": "New Violations",
            "EVENT_TYPE": "NewViolations",
            "EVENT_CATEGORY": "Compliance",
            "EVENT_DETAILS": {
                "data": [
                    entity_map(
                        A,
                        [
                            ("LW_S3_1", "acme-a-public"),
                            ("LW_S3_11", "acme-a-policy"),
                            ("LW_S3_15", "acme-a-policy"),
                        ],
                    ),
                    entity_map(
                        B,
                        [
                            ("LW_S3_1", "acme-b-public"),
                            ("LW_S3_13", "acme-b-plain"),
                            ("LW_S3_14", "acme-b-plain"),
                        ],
                    ),
                ]
            },
            "SEVERITY": 2,
            "ACCOUNT": "CUSTOMERTEST",
            "SOURCE": "Compliance",
        },
    }


def assumed_sessions(account):
    """Session names under which ``role/lw-remediate`` of ``account`` was assumed (moto's STS)."""
    from moto.sts.models import sts_backends

    role = f"arn:aws:iam::{account}:role/lw-remediate"
    return {
        r.session_name for r in sts_backends[account]["aws"].assumed_roles if r.role_arn == role
    }


def public_acl(s3, bucket):
    s3.create_bucket(Bucket=bucket)
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    grants = [*s3.get_bucket_acl(Bucket=bucket)["Grants"], PUBLIC_READ]
    s3.put_bucket_acl(Bucket=bucket, AccessControlPolicy={"Owner": owner, "Grants": grants})


@pytest.fixture
def accounts(admin_client):
    s3a, s3b = admin_client("s3", account=A), admin_client("s3", account=B)
    public_acl(s3a, "acme-a-public")
    s3a.create_bucket(Bucket="acme-a-policy")
    s3a.put_bucket_policy(
        Bucket="acme-a-policy",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "PublicRead",
                        "Effect": "Allow",
                        "Principal": "*",
                        "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::acme-a-policy/*",
                    }
                ],
            }
        ),
    )
    public_acl(s3b, "acme-b-public")
    s3b.create_bucket(Bucket="acme-b-plain")
    s3b.create_bucket(Bucket=f"logs-{B}-us-east-1")
    s3b.put_bucket_policy(Bucket=f"logs-{B}-us-east-1", Policy=json.dumps(LOG_DELIVERY_POLICY))
    return s3a, s3b


def test_replay_fixes_each_bucket_in_its_account(accounts, moto_server, tmp_path):
    s3a, s3b = accounts
    (tmp_path / "payload.json").write_text(json.dumps(payload()))
    (tmp_path / "config.toml").write_text(
        f"""
[aws]
region = "us-east-1"
endpoint_url = "{moto_server.endpoint_url}"
role_name = "lw-remediate"

[store]
path = "{tmp_path / "lw.sqlite3"}"

[maps]
allow = ["lw-map-s3"]

[remediation."s3.enable_access_logging"]
target_bucket = "logs-{{account}}-{{region}}"
"""
    )
    result = CliRunner().invoke(
        cli,
        [
            "replay",
            "--mode",
            "auto",
            "--json",
            "--config",
            str(tmp_path / "config.toml"),
            str(tmp_path / "payload.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    outcome = {(r["rule_id"], r["resource_arn"].rsplit(":", 1)[1]): r for r in rows}
    assert set(outcome) == {
        ("LW_S3_1", "acme-a-public"),
        ("LW_S3_11", "acme-a-policy"),
        ("LW_S3_15", "acme-a-policy"),
        ("LW_S3_1", "acme-b-public"),
        ("LW_S3_13", "acme-b-plain"),
        ("LW_S3_14", "acme-b-plain"),
    }
    assert {r["status"] for r in rows} == {"remediated"}, rows
    assert {name: r["account_id"] for (_, name), r in outcome.items()} == {
        "acme-a-public": A,
        "acme-a-policy": A,
        "acme-b-public": B,
        "acme-b-plain": B,
    }
    # Each remediation ran under the remediation role of the bucket's own account.
    assert assumed_sessions(A) == {
        "lw-remediate-s3-remove_public_acl_grants",
        "lw-remediate-s3-remove_public_policy_statements",
        "lw-remediate-s3-require_secure_transport",
    }
    assert assumed_sessions(B) == {
        "lw-remediate-s3-remove_public_acl_grants",
        "lw-remediate-s3-enable_access_logging",
        "lw-remediate-s3-enable_default_encryption",
    }

    # Account A: the ACL grant is gone, and both policy rules took effect on one policy.
    assert PUBLIC_READ not in s3a.get_bucket_acl(Bucket="acme-a-public")["Grants"]
    sids = [
        s["Sid"]
        for s in json.loads(s3a.get_bucket_policy(Bucket="acme-a-policy")["Policy"])["Statement"]
    ]
    assert sids == ["LWDenyInsecureTransport"]
    # Account B: ACL, logging (to B's own log bucket) and encryption.
    assert PUBLIC_READ not in s3b.get_bucket_acl(Bucket="acme-b-public")["Grants"]
    assert s3b.get_bucket_logging(Bucket="acme-b-plain")["LoggingEnabled"]["TargetBucket"] == (
        f"logs-{B}-us-east-1"
    )
    rules = s3b.get_bucket_encryption(Bucket="acme-b-plain")["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    assert rules[0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
