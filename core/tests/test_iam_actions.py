from __future__ import annotations

from lw_remediate.iam_actions import ACTION_OVERRIDES, call_resource, iam_action
from lw_remediate.testing import validate_actions


def test_every_override_is_a_real_iam_action():
    assert validate_actions(ACTION_OVERRIDES.values()) == []


def test_iam_action_defaults_to_the_operation_name():
    assert iam_action("iam", "UpdateAccessKey") == "iam:UpdateAccessKey"
    assert iam_action("s3", "GetBucketEncryption") == "s3:GetEncryptionConfiguration"


def test_call_resource():
    assert call_resource("s3", {"Bucket": "b"}, account="1") == "arn:aws:s3:::b"
    assert call_resource("iam", {"UserName": "u"}, account="1") == "arn:aws:iam::1:user/u"
    assert (
        call_resource("iam", {"UserName": "u", "GroupName": "g"}, account="1")
        == "arn:aws:iam::1:group/g"
    )
    assert call_resource("iam", {}, account="1") == "*"
