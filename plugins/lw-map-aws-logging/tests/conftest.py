"""Fixtures shared by the lw-map-aws-logging tests (the kit's fixtures come from
lw_remediate.testing)."""

from __future__ import annotations

import pytest

ACCOUNT = "123456789012"
REGION = "us-east-1"
TRAIL_BUCKET = "cloudtrail-logs-123456789012"
READ_PREFIXES = ("Get", "List", "Describe")


def trail_arn(name: str = "main", region: str = REGION) -> str:
    return f"arn:aws:cloudtrail:{region}:{ACCOUNT}:trail/{name}"


@pytest.fixture
def cloudtrail(moto_server, admin_client):
    """An admin boto3 CloudTrail client on a freshly reset moto."""
    return admin_client("cloudtrail")


@pytest.fixture
def s3(moto_server, admin_client):
    return admin_client("s3")


@pytest.fixture
def trail(cloudtrail, s3):
    """Trail ``main`` (single-region, not logging, no validation) to TRAIL_BUCKET; its ARN."""
    s3.create_bucket(Bucket=TRAIL_BUCKET)
    return cloudtrail.create_trail(Name="main", S3BucketName=TRAIL_BUCKET)["TrailARN"]


@pytest.fixture
def trail_violation(make_violation):
    """``trail_violation("AWS_CIS_2_2")``: a violation on trail ``main`` (or ``name``)."""

    def _make(rule, name="main", **kwargs):
        return make_violation(rule, trail_arn(name), region=REGION, **kwargs)

    return _make


@pytest.fixture
def account_violation(make_violation):
    """An account-level violation (``arn:aws:iam::<account>:root``) with a region."""

    def _make(rule, region=REGION, **kwargs):
        return make_violation(rule, f"arn:aws:iam::{ACCOUNT}:root", region=region, **kwargs)

    return _make


@pytest.fixture
def writes():
    """``writes(record)``: the operations of a record's calls that change something."""

    def _writes(record):
        return [
            c.operation
            for c in record.calls
            if not c.dependent and not c.operation.startswith(READ_PREFIXES)
        ]

    return _writes
