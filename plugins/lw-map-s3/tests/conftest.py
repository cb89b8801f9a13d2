"""Fixtures shared by the lw-map-s3 tests (the kit's fixtures come from lw_remediate.testing)."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def s3(moto_server, admin_client):
    """An admin boto3 S3 client on a freshly reset moto, for seeding and inspecting state."""
    return admin_client("s3")


@pytest.fixture
def writes():
    """``writes(record)``: the mutating S3 operations an action made (Put*/Delete*)."""

    def _writes(record):
        return [c.operation for c in record.calls if c.operation.startswith(("Put", "Delete"))]

    return _writes


@pytest.fixture
def policy_of(s3):
    """``policy_of(bucket)``: the bucket policy as a dict, or None when it has none."""

    def _policy(bucket):
        try:
            return json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
        except s3.exceptions.ClientError as exc:
            if exc.response["Error"]["Code"] == "NoSuchBucketPolicy":
                return None
            raise

    return _policy
