"""The public AWS error helpers, on errors moto really returns."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from lw_remediate import aws_error_code, is_gone, is_throttling


def _raised(call, **kwargs) -> ClientError:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value


def test_a_missing_resource_is_gone(admin_client):
    s3, iam, ec2 = admin_client("s3"), admin_client("iam"), admin_client("ec2")
    cases = {
        "NoSuchBucket": _raised(s3.get_bucket_policy, Bucket="no-such-bucket"),
        "404": _raised(s3.head_bucket, Bucket="no-such-bucket"),
        "NoSuchEntity": _raised(iam.get_user, UserName="nobody"),
        "InvalidGroup.NotFound": _raised(ec2.describe_security_groups, GroupIds=["sg-12345678"]),
    }
    for code, exc in cases.items():
        assert aws_error_code(exc) == code
        assert is_gone(exc), code
        assert not is_throttling(exc)


def test_an_absent_setting_is_not_a_gone_resource(admin_client):
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="present")
    exc = _raised(s3.get_bucket_policy, Bucket="present")
    assert aws_error_code(exc) == "NoSuchBucketPolicy"
    assert not is_gone(exc)
    exc = _raised(s3.get_bucket_encryption, Bucket="present")
    assert aws_error_code(exc) == "ServerSideEncryptionConfigurationNotFoundError"
    assert not is_gone(exc)


@pytest.mark.parametrize(
    "code", ["Throttling", "ThrottlingException", "RequestLimitExceeded", "SlowDown"]
)
def test_throttling(code):
    exc = ClientError({"Error": {"Code": code, "Message": "slow down"}}, "DescribeThings")
    assert is_throttling(exc)
    assert not is_gone(exc)


@pytest.mark.parametrize(
    "code",
    ["DBInstanceNotFound", "ClusterNotFound", "TrailNotFoundException", "InvalidVpcID.NotFound"],
)
def test_not_found_codes_of_other_services(code):
    assert is_gone(ClientError({"Error": {"Code": code}}, "Describe"))


def test_anything_else_is_neither():
    assert aws_error_code(ValueError("x")) is None
    assert not is_gone(ValueError("x"))
    assert not is_throttling(RuntimeError())
    denied = ClientError({"Error": {"Code": "AccessDenied"}}, "GetBucketPolicy")
    assert aws_error_code(denied) == "AccessDenied"
    assert not is_gone(denied) and not is_throttling(denied)
