from __future__ import annotations

from lw_remediate.aws.iam_actions import call_resource, iam_action
from lw_remediate.testing import validate_actions


def test_every_override_is_a_real_iam_action():
    overridden = [
        iam_action("s3", op)
        for op in ("GetBucketEncryption", "DeleteBucketEncryption", "HeadBucket", "ListObjects")
    ]
    assert validate_actions(overridden) == []


def test_iam_action_defaults_to_the_operation_name():
    assert iam_action("iam", "UpdateAccessKey") == "iam:UpdateAccessKey"
    assert iam_action("s3", "GetBucketEncryption") == "s3:GetEncryptionConfiguration"


def test_call_resource():
    assert (
        call_resource("s3", {"Bucket": "b"}, account="1", operation="GetBucketAcl")
        == "arn:aws:s3:::b"
    )
    assert (
        call_resource("iam", {"UserName": "u"}, account="1", operation="GetUser")
        == "arn:aws:iam::1:user/u"
    )
    assert (
        call_resource(
            "iam", {"UserName": "u", "GroupName": "g"}, account="1", operation="AddUserToGroup"
        )
        == "arn:aws:iam::1:group/g"
    )
    assert call_resource("iam", {}, account="1") == "*"


def test_kms_key_ids_become_key_arns():
    arn = call_resource(
        "kms", {"KeyId": "1234abcd"}, account="1", region="eu-west-1", operation="DescribeKey"
    )
    assert arn == "arn:aws:kms:eu-west-1:1:key/1234abcd"
    assert (
        call_resource("kms", {"KeyId": "alias/x"}, account="1", region="r", operation="DescribeKey")
        == "arn:aws:kms:r:1:alias/x"
    )
    full = "arn:aws:kms:r:1:key/k"
    assert call_resource("kms", {"KeyId": full}, account="1", operation="DescribeKey") == full


def test_policy_attachment_is_authorised_on_the_principal():
    params = {"UserName": "u", "PolicyArn": "arn:aws:iam::1:policy/p"}
    assert (
        call_resource("iam", params, account="1", operation="AttachUserPolicy")
        == "arn:aws:iam::1:user/u"
    )
    assert call_resource(
        "iam", {"PolicyArn": "arn:aws:iam::1:policy/p"}, account="1", operation="GetPolicy"
    ) == ("arn:aws:iam::1:policy/p")


def test_create_with_a_path_records_the_path_qualified_arn():
    params = {"RoleName": "r", "Path": "/lw-remediation/"}
    assert (
        call_resource("iam", params, account="1", operation="CreateRole")
        == "arn:aws:iam::1:role/lw-remediation/r"
    )


def test_account_and_ec2_resources():
    assert (
        call_resource("account", {}, account="1", operation="GetAlternateContact")
        == "arn:aws:account::1:account"
    )
    assert (
        call_resource(
            "ec2",
            {"InstanceId": "i-1"},
            account="1",
            region="r",
            operation="ModifyInstanceAttribute",
        )
        == "arn:aws:ec2:r:1:instance/i-1"
    )
