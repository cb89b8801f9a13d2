"""AwsSession: recorded calls, reused clients, one TLS context per CA bundle."""

from __future__ import annotations

import pytest

from lw_remediate.aws.session import AwsSession, _SharedTlsHttpSession


async def test_calls_are_recorded_with_action_and_resource(moto_server, admin_client):
    admin_client("s3").create_bucket(Bucket="recorded-bucket")
    calls = []
    session = moto_server.session().with_sink(calls.append, reuse_clients=True)
    async with session.client("s3") as s3:
        await s3.get_bucket_versioning(Bucket="recorded-bucket")
    async with session.client("s3") as again:
        assert again is s3  # one client per service for the span of an action
    await session.close()
    assert [(c.action, c.resource) for c in calls] == [
        ("s3:GetBucketVersioning", "arn:aws:s3:::recorded-bucket")
    ]


async def test_errors_are_recorded(moto_server):
    calls = []
    session = moto_server.session().with_sink(calls.append)
    async with session.client("s3") as s3:
        with pytest.raises(s3.exceptions.NoSuchBucket):
            await s3.get_bucket_versioning(Bucket="no-such-bucket-here")
    assert calls[0].error == "NoSuchBucket"


async def test_tls_context_is_built_once_per_ca_bundle():
    _SharedTlsHttpSession._contexts.clear()
    first = _SharedTlsHttpSession()._create_connector(None)
    second = _SharedTlsHttpSession()._create_connector(None)
    try:
        assert first._ssl is second._ssl
        assert first._ssl.cert_store_stats()["x509_ca"] > 0  # the CA bundle really was loaded
    finally:
        await first.close()
        await second.close()


def test_with_sink_shares_the_botocore_session():
    base = AwsSession(account_id="123456789012", region="us-east-1")
    assert base.with_sink(None)._session is base._session
