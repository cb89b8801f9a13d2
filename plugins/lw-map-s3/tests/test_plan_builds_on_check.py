"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

For every S3 remediation whose ``plan`` needs state its ``check`` already read, a dry-run
makes each read once (no request repeats with the same operation on the same resource),
and ``plan`` on its own (``ctx.checked`` None) still reads that state itself and plans
exactly the same change.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from lw_map_s3.remediations import (
    access_logging,
    encryption,
    global_actions,
    network_access,
    public_acl,
    public_policy,
    secure_transport,
    versioning,
)
from lw_remediate import Remediation, Status

BUCKET = "plan-on-check"
ARN = f"arn:aws:s3:::{BUCKET}"
LOG_BUCKET = "logs-123456789012-us-east-1"
OTHER_LOG_BUCKET = "old-logs"

Seed = Callable[[Any, Callable[..., Any]], Mapping[str, Any]]


def nothing(s3, admin_client):
    return {}


def public_read_acl(s3, admin_client):
    s3.put_bucket_acl(Bucket=BUCKET, ACL="public-read")
    return {}


def policy(*statements: Mapping[str, Any]) -> Seed:
    def seed(s3, admin_client):
        document = {"Version": "2012-10-17", "Statement": list(statements)}
        s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps(document))
        return {}

    return seed


def allow(sid, principal, *actions):
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal,
        "Action": list(actions),
        "Resource": [ARN, f"{ARN}/*"],
    }


PARTNER = allow("Partner", {"AWS": "arn:aws:iam::111122223333:root"}, "s3:GetObject")


def log_bucket(name):
    def seed(s3):
        s3.create_bucket(Bucket=name)
        statement = {
            "Effect": "Allow",
            "Principal": {"Service": "logging.s3.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{name}/*",
        }
        s3.put_bucket_policy(
            Bucket=name, Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
        )

    return seed


def logging_target(s3, admin_client):
    log_bucket(LOG_BUCKET)(s3)
    return {}


def logging_elsewhere(s3, admin_client):
    log_bucket(LOG_BUCKET)(s3)
    log_bucket(OTHER_LOG_BUCKET)(s3)
    status = {"LoggingEnabled": {"TargetBucket": OTHER_LOG_BUCKET, "TargetPrefix": "x/"}}
    s3.put_bucket_logging(Bucket=BUCKET, BucketLoggingStatus=status)
    return {"enforce_target": True}


def encrypted_with_aes256(s3, admin_client):
    rule = {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
    s3.put_bucket_encryption(Bucket=BUCKET, ServerSideEncryptionConfiguration={"Rules": [rule]})
    key = admin_client("kms").create_key(Description="s3 default")["KeyMetadata"]["Arn"]
    return {"sse_algorithm": "aws:kms", "kms_key_arn": key}


NETWORK = {"enforce": True, "allowed_cidrs": ["203.0.113.0/24"]}
LOGGING = {"target_bucket": "logs-{account}-{region}"}


@dataclass(frozen=True)
class Case:
    id: str
    remediation: Remediation
    rule: str
    seed: Seed
    #: the operations of a dry-run (check, then plan), in order
    dry_run: list[str]
    #: the operations of ``plan`` alone, in order
    alone: list[str]
    options: Mapping[str, Any] = field(default_factory=dict)


CASES = [
    Case(
        "LW_S3_16",
        versioning.REMEDIATION,
        "LW_S3_16",
        nothing,
        ["GetBucketVersioning"],
        ["GetBucketVersioning"],
    ),
    Case(
        "LW_S3_1",
        public_acl.REMEDIATION,
        "LW_S3_1",
        public_read_acl,
        ["GetBucketAcl"],
        ["GetBucketAcl"],
    ),
    Case(
        "LW_S3_1-public-access-block",
        public_acl.REMEDIATION,
        "LW_S3_1",
        public_read_acl,
        ["GetBucketAcl", "GetPublicAccessBlock"],
        ["GetBucketAcl", "GetPublicAccessBlock"],
        {"apply_public_access_block": True},
    ),
    Case(
        "LW_S3_11",
        public_policy.REMEDIATION,
        "LW_S3_11",
        policy(allow("Everyone", "*", "s3:GetObject"), PARTNER),
        ["GetBucketPolicy"],
        ["GetBucketPolicy"],
    ),
    Case(
        "LW_S3_18",
        global_actions.REMEDIATION,
        "LW_S3_18",
        policy(allow("All", "*", "s3:*"), PARTNER),
        ["GetBucketPolicy"],
        ["GetBucketPolicy"],
    ),
    Case(
        "LW_S3_21",
        global_actions.REMEDIATION,
        "LW_S3_21",
        policy(allow("Upload", {"AWS": "*"}, "s3:Put*", "s3:GetObject")),
        ["GetBucketPolicy"],
        ["GetBucketPolicy"],
    ),
    Case(
        "LW_S3_17-no-policy",
        network_access.REMEDIATION,
        "LW_S3_17",
        nothing,
        ["GetBucketPolicy", "GetCallerIdentity"],
        ["GetCallerIdentity", "GetBucketPolicy"],
        NETWORK,
    ),
    Case(
        "LW_S3_17",
        network_access.REMEDIATION,
        "LW_S3_17",
        policy(PARTNER),
        ["GetBucketPolicy", "GetCallerIdentity"],
        ["GetCallerIdentity", "GetBucketPolicy"],
        NETWORK,
    ),
    Case(
        "LW_S3_15",
        secure_transport.REMEDIATION,
        "LW_S3_15",
        policy(PARTNER),
        ["GetBucketPolicy", "GetBucketWebsite"],
        ["GetBucketWebsite", "GetBucketPolicy"],
    ),
    Case(
        "LW_S3_14-none",
        encryption.REMEDIATION,
        "LW_S3_14",
        nothing,
        ["GetBucketEncryption"],
        ["GetBucketEncryption"],
    ),
    Case(
        "LW_S3_14-kms-over-aes256",
        encryption.REMEDIATION,
        "LW_S3_14",
        encrypted_with_aes256,
        ["GetBucketEncryption", "DescribeKey"],
        ["GetBucketEncryption", "DescribeKey"],
    ),
    Case(
        # check: the logging; plan: the bucket's region and the log bucket's
        "LW_S3_13-off",
        access_logging.REMEDIATION,
        "LW_S3_13",
        logging_target,
        ["GetBucketLogging", "GetBucketLocation", "GetBucketLocation"],
        ["GetBucketLocation", "GetBucketLocation", "GetBucketLogging"],
        LOGGING,
    ),
    Case(
        # check: the logging and the bucket's region; plan: the log bucket's region
        "LW_S3_13-elsewhere",
        access_logging.REMEDIATION,
        "LW_S3_13",
        logging_elsewhere,
        ["GetBucketLogging", "GetBucketLocation", "GetBucketLocation"],
        ["GetBucketLocation", "GetBucketLocation", "GetBucketLogging"],
        LOGGING,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_dry_run_reads_once_and_plan_alone_reads_and_plans_the_same(
    case, s3, admin_client, make_violation, run_remediation, plan_alone
):
    s3.create_bucket(Bucket=BUCKET)
    options = {**case.options, **case.seed(s3, admin_client)}
    violation = make_violation(case.rule, BUCKET)

    record = await run_remediation(case.remediation, violation, mode="dry-run", options=options)
    assert record.status is Status.PLANNED, record.detail
    assert [c.operation for c in record.calls] == case.dry_run
    reads = [(c.operation, c.resource) for c in record.calls]
    assert len(set(reads)) == len(reads), f"a read was repeated: {reads}"

    plan, operations = await plan_alone(case.remediation, violation, options=options)
    assert operations == case.alone
    assert record.plan is not None
    assert plan.to_dict() == record.plan.to_dict()
