"""Fixtures shared by the lw-map-s3 tests (the kit's fixtures come from lw_remediate.testing)."""

from __future__ import annotations

import json
from contextlib import asynccontextmanager

import pytest

from lw_remediate import AwsSession


@pytest.fixture(autouse=True)
def every_s3_call_names_the_expected_owner(monkeypatch):
    """Fail any test in which a remediation made an S3 call without ``ExpectedBucketOwner``.

    moto ignores the parameter, so this checks the request itself: every call made through
    a remediation's client factory must carry the account the session acts in.
    """
    original = AwsSession.client
    missing: list[str] = []

    @asynccontextmanager
    async def client(self, service):
        async with original(self, service) as aws_client:
            if service == "s3":
                account = self.account_id

                def check(params, model, **_):
                    takes_owner = "ExpectedBucketOwner" in model.input_shape.members
                    if takes_owner and params.get("ExpectedBucketOwner") != account:
                        missing.append(f"{model.name}({params.get('Bucket')})")

                aws_client.meta.events.register("before-parameter-build.s3", check)
            yield aws_client

    monkeypatch.setattr(AwsSession, "client", client)
    yield
    assert not missing, f"S3 calls without the session account as ExpectedBucketOwner: {missing}"


@pytest.fixture
def s3(moto_server, admin_client):
    """An admin boto3 S3 client on a freshly reset moto, for seeding and inspecting state."""
    return admin_client("s3")


@pytest.fixture
def bucket(s3, request):
    """The test module's ``BUCKET``, created empty; returns the admin S3 client."""
    s3.create_bucket(Bucket=request.module.BUCKET)
    return s3


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


@pytest.fixture
def put_policy(s3):
    """``put_policy(bucket, *statements, indent=None, **fields)``: write a policy document
    (``Version``, then ``fields`` such as ``Id``, then the statements); returns its text."""

    def _put(bucket, *statements, indent=None, **fields):
        document = {"Version": "2012-10-17", **fields, "Statement": list(statements)}
        text = json.dumps(document, indent=indent)
        s3.put_bucket_policy(Bucket=bucket, Policy=text)
        return text

    return _put
