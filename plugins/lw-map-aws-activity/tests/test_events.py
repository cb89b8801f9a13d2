"""Which resources an activity alert touched, and which response each gets."""

from __future__ import annotations

import pytest

from lw_map_aws_activity import _events, lw_remediate_activity_policies
from lw_map_aws_activity.remediations import watch
from lw_remediate import ActivityEvent

ACCOUNT = "123456789012"
REGION = "us-east-1"

SG = "sg-0123456789abcdef0"


def answers(activity: ActivityEvent):
    return [(t.resource_arn, t.resource_type, t.remediation_ids) for t in _events.touched(activity)]


def test_security_group_change_re_evaluates_the_group(event):
    activity = event("AuthorizeSecurityGroupIngress", resources=[("groupId", SG)])
    assert answers(activity) == [
        (f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{SG}", "ec2:security-group", ())
    ]
    [touched] = _events.touched(activity)
    assert touched.account_id == ACCOUNT and touched.region == REGION
    assert SG in touched.cause


def test_policy_2_with_an_unlisted_api_still_re_evaluates_named_groups(event):
    activity = event("SomethingNew", policy_id="lacework-global-2", resources=[("id", SG)])
    assert [a[1] for a in answers(activity)] == ["ec2:security-group"]


def test_nacl_route_table_and_vpc_ids_by_prefix_and_from_arns(event):
    activity = event(
        "ReplaceNetworkAclEntry",
        "CreateRoute",
        "ModifyVpcAttribute",
        resources=[
            ("networkAclId", "acl-0123456789abcdef0"),
            ("routeTableId", f"arn:aws:ec2:{REGION}:{ACCOUNT}:route-table/rtb-0123456789abcdef0"),
            ("vpcId", "vpc-0123456789abcdef0"),
            ("gatewayId", "igw-0123456789abcdef0"),
            ("note", "not-an-id"),
        ],
    )
    assert [a[1] for a in answers(activity)] == ["ec2:network-acl", "ec2:route-table", "ec2:vpc"]


def test_stop_logging_is_a_direct_revert_in_the_trails_home_region(event):
    arn = f"arn:aws:cloudtrail:eu-west-1:{ACCOUNT}:trail/main"
    [touched] = _events.touched(event("StopLogging", resources=[("name", arn)]))
    assert (touched.resource_arn, touched.remediation_ids) == (arn, ("activity.start_logging",))
    assert touched.region == "eu-west-1"


def test_update_trail_re_evaluates_and_delete_trail_reapplies_the_trail_rule(event):
    assert answers(event("UpdateTrail", resources=[("name", "main")])) == [
        (f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/main", "cloudtrail:trail", ())
    ]
    assert answers(event("DeleteTrail", resources=[("name", "main")])) == [
        (f"arn:aws:iam::{ACCOUNT}:root", "aws:account", ("logging.enable_multi_region_trail",))
    ]


def test_config_recorder_stopped_and_changed(event):
    assert answers(event("StopConfigurationRecorder")) == [
        (
            f"arn:aws:iam:{REGION}:{ACCOUNT}:root",
            "config:region",
            ("activity.start_config_recorder",),
        )
    ]
    assert answers(event("PutDeliveryChannel"))[0][2] == ()


def test_kms_schedule_deletion_and_disable(event):
    key = "1234abcd-12ab-34cd-56ef-1234567890ab"
    arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key}"
    assert answers(event("ScheduleKeyDeletion", resources=[("keyId", key)])) == [
        (arn, "kms:key", ("activity.cancel_key_deletion",))
    ]
    assert answers(event("DisableKey", resources=[("keyId", arn)])) == [(arn, "kms:key", ())]


def test_bucket_changes_and_public_access_block(event):
    assert answers(event("PutBucketPolicy", resources=[("bucketName", "my-bucket")])) == [
        ("arn:aws:s3:::my-bucket", "s3:bucket", ())
    ]
    assert answers(
        event("DeleteBucketPublicAccessBlock", resources=[("bucketName", "my-bucket")])
    ) == [("arn:aws:s3:::my-bucket", "s3:bucket", ("activity.restore_public_access_block",))]
    assert answers(event("PutBucketPolicy", resources=[("bucketName", "Not_A_Bucket")])) == []


def test_iam_customer_policy_but_not_aws_managed(event):
    mine = f"arn:aws:iam::{ACCOUNT}:policy/admin-ish"
    activity = event(
        "CreatePolicyVersion",
        resources=[("policyArn", mine), ("other", "arn:aws:iam::aws:policy/AdministratorAccess")],
    )
    assert answers(activity) == [(mine, "iam:policy", ())]


def test_watch_only_classes_name_no_resource_to_change(event):
    [touched] = _events.touched(event("ConsoleLogin", user="root", policy_id="lacework-global-8"))
    assert touched.remediation_ids == ("activity.review_root_usage",)
    assert touched.resource_arn == f"arn:aws:iam::{ACCOUNT}:root"


def test_no_account_no_answer_and_unknown_apis_nothing(event):
    assert _events.touched(event("StopLogging", account_id=None, resources=[("name", "x")])) == []
    assert _events.touched(event("DescribeInstances")) == []


def test_every_declared_class_names_installed_remediations_or_the_logging_map():
    from lw_map_aws_activity import lw_remediate_remediations

    mine = {r.id for r in lw_remediate_remediations()}
    for policy in lw_remediate_activity_policies():
        for rid in policy.remediation_ids:
            assert rid in mine or rid == _events.MULTI_REGION_TRAIL, rid
    ids = {i for p in lw_remediate_activity_policies() for i in p.policy_ids}
    assert ids == {f"lacework-global-{n}" for n in (1, 2, 8, 19, 29)}


@pytest.mark.parametrize(
    ("apis", "fields", "expected"),
    [
        (("GetCallerIdentity",), {"policy_id": "lacework-global-8"}, "activity.review_root_usage"),
        (("ConsoleLogin",), {"user": "root"}, "activity.review_root_usage"),
        (
            ("RunInstances",),
            {"alert_type": "UnauthorizedAPICall"},
            "activity.review_unauthorized_calls",
        ),
        (("ConsoleLogin",), {"mfa": False}, "activity.review_console_login_without_mfa"),
        (("CreateUser",), {}, "activity.review_new_user"),
        (
            ("ConsoleLogin",),
            {"mfa": True, "title": "Login from a new geolocation"},
            "activity.review_new_geolocation_login",
        ),
    ],
)
def test_watch_only_classes_are_recognised(event, apis, fields, expected):
    activity = event(*apis, **fields)
    assert [w.remediation.id for w in watch.WATCHED if w.matches(activity)] == [expected]
    assert [t.remediation_ids for t in _events.touched(activity)] == [(expected,)]


def test_console_login_with_mfa_is_not_watched(event):
    assert _events.touched(event("ConsoleLogin", mfa=True)) == []
