"""The kit's least-privilege proof for every remediation, undo included: the declared,
resource-scoped policy is sufficient (the happy path and its revert succeed as a role that
holds only it), necessary (every declared action is used) and covering (every recorded
call's action and resource ARN is allowed by it).

Actions AWS checks inside another call and moto never does (``iam:PassRole`` on the role
``UpdateTrail`` / ``PutConfigurationRecorder`` pass, ``cloudtrail:AddTags`` for the tags
of ``CreateTrail``) are declared as dependent actions of that call
(``AwsCall(dependent=...)``): the recorder records them on their resource, and the kit
checks them against the policy like any call.

Not here yet: logging.create_metric_filter_alarm. moto authorises CloudWatch calls as
``monitoring:*`` and the kit's moto view of a policy keeps ``cloudwatch:*``, so its proof
fails before any resource is checked (waiting on the kit).
"""

from __future__ import annotations

import json

import pytest

from lw_map_aws_logging.remediations import (
    cloudwatch_logs,
    config_recorder,
    key_rotation,
    log_file_validation,
    metric_alarms,
    sns_subscribers,
    trail_all_regions,
    trail_bucket,
    trail_encryption,
)
from lw_remediate import IamPolicy, PolicyStatement, Status
from lw_remediate.testing import LeastPrivilegeError

MOTO_NEVER_CHECKS: frozenset[str] = frozenset()


def without_unchecked(remediation, options, *, other_path=frozenset()):
    """The declared policy (undo included) minus what moto never checks, and minus
    ``other_path``: actions only another path of the remediation uses (proven by its own
    test). Asserts that whatever is dropped was declared."""
    declared = remediation.policy_for(remediation.parse_options(options), revert=True)
    dropped = MOTO_NEVER_CHECKS | other_path
    kept = []
    for st in declared.statements:
        actions = tuple(a for a in st.actions if a not in dropped)
        if actions:
            kept.append(PolicyStatement(actions, st.resources, st.conditions))
    assert other_path <= declared.actions
    return IamPolicy(tuple(kept))


def trail_resources(report):
    return {c.resource for c in report.calls if c.service == "cloudtrail" and c.resource != "*"}


async def test_log_file_validation(trail, trail_violation, least_privilege):
    report = await least_privilege.run(
        log_file_validation.REMEDIATION, trail_violation("AWS_CIS_2_2"), revert=True
    )
    assert report.used == {"cloudtrail:GetTrail", "cloudtrail:UpdateTrail"}
    assert trail_resources(report) == {trail}


async def test_cloudwatch_logs_with_a_created_group(
    admin_client, trail, trail_violation, least_privilege
):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    admin_client("iam").create_role(RoleName="ct-cwl", AssumeRolePolicyDocument=json.dumps(trust))
    rem = cloudwatch_logs.REMEDIATION
    options = {
        "log_group_name": "cloudtrail/{account}",
        "delivery_role_arn": "arn:aws:iam::{account}:role/ct-cwl",
        "create_log_group": True,
        "retention_days": 30,
    }
    assert "iam:PassRole" in rem.policy_for(rem.parse_options(options)).actions
    report = await least_privilege.run(
        rem,
        trail_violation("AWS_CIS_2_4"),
        options=options,
        revert=True,
        policy=without_unchecked(rem, options),
    )
    assert {c.resource for c in report.calls if c.operation == "CreateLogGroup"} == {
        "arn:aws:logs:us-east-1:123456789012:log-group:cloudtrail/123456789012"
    }
    # the role passed to CloudTrail, recorded on the role and covered by the policy
    assert {(c.operation, c.resource) for c in report.calls if c.action == "iam:PassRole"} == {
        ("UpdateTrail", "arn:aws:iam::123456789012:role/ct-cwl")
    }


async def test_cloudwatch_logs_without_pass_role_fails_the_proof(
    admin_client, trail, trail_violation, least_privilege
):
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    admin_client("iam").create_role(RoleName="ct-cwl", AssumeRolePolicyDocument=json.dumps(trust))
    admin_client("logs").create_log_group(logGroupName="cloudtrail/123456789012")
    rem = cloudwatch_logs.REMEDIATION
    options = {
        "log_group_name": "cloudtrail/{account}",
        "delivery_role_arn": "arn:aws:iam::{account}:role/ct-cwl",
    }
    declared = without_unchecked(rem, options)
    no_pass_role = IamPolicy(
        tuple(s for s in declared.statements if "iam:PassRole" not in s.actions)
    )
    with pytest.raises(LeastPrivilegeError, match=r"not covered.*iam:PassRole on .*role/ct-cwl"):
        await least_privilege.run(
            rem, trail_violation("AWS_CIS_2_4"), options=options, policy=no_pass_role
        )


async def test_trail_encryption(admin_client, trail, trail_violation, least_privilege):
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "cloudtrail.amazonaws.com"},
        "Action": "kms:GenerateDataKey*",
        "Resource": "*",
    }
    root = {
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "kms:*",
        "Resource": "*",
    }
    policy = json.dumps({"Version": "2012-10-17", "Statement": [root, statement]})
    key = admin_client("kms").create_key(Policy=policy)["KeyMetadata"]["Arn"]
    template = key.replace("123456789012", "{account}").replace("us-east-1", "{region}")
    report = await least_privilege.run(
        trail_encryption.REMEDIATION,
        trail_violation("AWS_CIS_2_7"),
        options={"kms_key_arn": template},
        revert=True,
    )
    assert {c.resource for c in report.calls if c.service == "kms"} == {key}


async def test_key_rotation(admin_client, make_violation, least_privilege):
    key = admin_client("kms").create_key()["KeyMetadata"]["Arn"]
    report = await least_privilege.run(
        key_rotation.REMEDIATION,
        make_violation("AWS_CIS_2_8", key, region="us-east-1"),
        revert=True,
    )
    assert {c.resource for c in report.calls} == {key}


async def test_multi_region_trail_on_an_existing_trail(trail, account_violation, least_privilege):
    rem = trail_all_regions.REMEDIATION
    report = await least_privilege.run(
        rem,
        account_violation("AWS_CIS_2_1"),
        revert=True,
        # PutEventSelectors is the selector path's (next test).
        policy=without_unchecked(rem, {}, other_path={"cloudtrail:PutEventSelectors"}),
    )
    assert "cloudtrail:StopLogging" in report.used


async def test_multi_region_trail_event_selectors(
    cloudtrail, trail, account_violation, least_privilege
):
    cloudtrail.update_trail(Name="main", IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name="main")
    cloudtrail.put_event_selectors(
        TrailName="main",
        EventSelectors=[{"ReadWriteType": "WriteOnly", "IncludeManagementEvents": True}],
    )
    rem = trail_all_regions.REMEDIATION
    other = {"cloudtrail:UpdateTrail", "cloudtrail:StartLogging", "cloudtrail:StopLogging"}
    report = await least_privilege.run(
        rem,
        account_violation("AWS_CIS_2_1"),
        revert=True,
        policy=without_unchecked(rem, {}, other_path=other),
    )
    assert {c.resource for c in report.calls if c.action == "cloudtrail:PutEventSelectors"} == {
        trail
    }


async def test_multi_region_trail_created(s3, account_violation, least_privilege):
    rem = trail_all_regions.REMEDIATION
    s3.create_bucket(Bucket="cloudtrail-123456789012")
    options = {"create_trail": True, "bucket_name": "cloudtrail-{account}"}
    report = await least_privilege.run(
        rem,
        account_violation("AWS_CIS_2_1"),
        options=options,
        revert=True,
        # UpdateTrail and StopLogging are the existing-trail path's (test above).
        policy=without_unchecked(
            rem,
            options,
            other_path={
                "cloudtrail:UpdateTrail",
                "cloudtrail:StopLogging",
                "cloudtrail:PutEventSelectors",
            },
        ),
    )
    assert {c.resource for c in report.calls if c.service == "s3"} == {
        "arn:aws:s3:::cloudtrail-123456789012"
    }
    assert {
        (c.operation, c.resource) for c in report.calls if c.action == "cloudtrail:AddTags"
    } == {
        ("CreateTrail", "arn:aws:cloudtrail:us-east-1:123456789012:trail/lw-remediate-all-regions")
    }


async def test_config_recorder(account_violation, least_privilege):
    rem = config_recorder.REMEDIATION
    options = {
        "role_arn": "arn:aws:iam::{account}:role/aws-config",
        "bucket_name": "config-{account}",
        "global_resources_region": "us-east-1",
    }
    report = await least_privilege.run(
        rem,
        account_violation("AWS_CIS_2_5", reason="NoRecorder"),
        options=options,
        revert=True,
        policy=without_unchecked(rem, options),
    )
    assert {(c.operation, c.resource) for c in report.calls if c.action == "iam:PassRole"} == {
        ("PutConfigurationRecorder", "arn:aws:iam::123456789012:role/aws-config")
    }


async def test_config_recorder_widening_an_existing_one(
    admin_client, account_violation, least_privilege
):
    """Updating an existing recorder passes its role again (PutConfigurationRecorder): the
    proof covers it, and so does the undo that puts the old recording group back."""
    config = admin_client("config")
    role = "arn:aws:iam::123456789012:role/aws-config"
    group = {"allSupported": False, "includeGlobalResourceTypes": False,
             "resourceTypes": ["AWS::S3::Bucket"]}  # fmt: skip
    config.put_configuration_recorder(
        ConfigurationRecorder={"name": "narrow", "roleARN": role, "recordingGroup": group}
    )
    config.put_delivery_channel(DeliveryChannel={"name": "narrow", "s3BucketName": "config-x"})
    config.start_configuration_recorder(ConfigurationRecorderName="narrow")
    rem = config_recorder.REMEDIATION
    options = {"role_arn": "arn:aws:iam::{account}:role/aws-config",
               "global_resources_region": "us-east-1"}  # fmt: skip
    creating_only = {
        "config:PutDeliveryChannel",
        "config:StartConfigurationRecorder",
        "config:StopConfigurationRecorder",
        "config:DeleteConfigurationRecorder",
        "config:DeleteDeliveryChannel",
    }  # proven by test_config_recorder (a region without Config)
    report = await least_privilege.run(
        rem,
        account_violation("AWS_CIS_2_5", reason="NoRecorder"),
        options=options,
        revert=True,
        policy=without_unchecked(rem, options, other_path=creating_only),
    )
    passed = [(c.operation, c.resource) for c in report.calls if c.action == "iam:PassRole"]
    assert passed == [("PutConfigurationRecorder", role)] * 2  # the change and its undo


@pytest.mark.parametrize("named", ["trail", "bucket"])
async def test_trail_bucket_not_public(named, s3, trail, make_violation, least_privilege):
    bucket = "cloudtrail-logs-123456789012"
    owner = s3.get_bucket_acl(Bucket=bucket)["Owner"]
    s3.put_bucket_acl(
        Bucket=bucket,
        AccessControlPolicy={
            "Owner": owner,
            "Grants": [
                # moto answers 500 to GetBucketAcl once an ACL has no grant left: keep the owner's.
                {
                    "Grantee": {"Type": "CanonicalUser", "ID": owner["ID"]},
                    "Permission": "FULL_CONTROL",
                },
                {
                    "Grantee": {
                        "Type": "Group",
                        "URI": "http://acs.amazonaws.com/groups/global/AllUsers",
                    },
                    "Permission": "READ",
                },
                {
                    "Grantee": {
                        "Type": "Group",
                        "URI": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
                    },
                    "Permission": "READ",
                },
            ],
        },
    )
    public = {
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [public]})
    )
    arn = trail if named == "trail" else f"arn:aws:s3:::{bucket}"
    rem = trail_bucket.REMEDIATION_PUBLIC
    policy = rem.policy_for(revert=True)
    if named == "bucket":  # the trail is not read when the report names the bucket
        policy = IamPolicy(
            tuple(s for s in policy.statements if "cloudtrail:GetTrail" not in s.actions)
        )
    report = await least_privilege.run(
        rem, make_violation("AWS_CIS_2_3", arn, region="us-east-1"), revert=True, policy=policy
    )
    assert {c.resource for c in report.calls if c.service == "s3"} == {f"arn:aws:s3:::{bucket}"}


async def test_trail_bucket_access_logging(s3, trail, trail_violation, least_privilege):
    s3.create_bucket(Bucket="access-logs-123456789012")
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": "arn:aws:s3:::access-logs-123456789012/*",
    }
    s3.put_bucket_policy(
        Bucket="access-logs-123456789012",
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]}),
    )
    await least_privilege.run(
        trail_bucket.REMEDIATION_LOGGING,
        trail_violation("AWS_CIS_2_6"),
        options={"target_bucket": "access-logs-{account}"},
        revert=True,
    )


async def test_sns_subscribers_runbook(admin_client, account_violation, least_privilege):
    admin_client("sns").create_topic(Name="alarms")
    await least_privilege.run(
        sns_subscribers.REMEDIATION, account_violation("AWS_CIS_3_15"), expect=Status.MANUAL
    )


async def test_metric_filter_and_alarm(
    admin_client, cloudtrail, trail, account_violation, least_privilege
):
    admin_client("logs").create_log_group(logGroupName="cloudtrail/main")
    cloudtrail.update_trail(
        Name="main",
        IsMultiRegionTrail=True,
        CloudWatchLogsLogGroupArn="arn:aws:logs:us-east-1:123456789012:log-group:cloudtrail/main:*",
        CloudWatchLogsRoleArn="arn:aws:iam::123456789012:role/ct-cwl",
    )
    sns = admin_client("sns")
    topic = sns.create_topic(Name="cis-alarms")["TopicArn"]
    # moto confirms an email subscription at once: the alarm notifies somebody.
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="secops@example.com")
    report = await least_privilege.run(
        metric_alarms.REMEDIATION,
        account_violation("AWS_CIS_3_4"),
        options={"sns_topic_arn": "arn:aws:sns:{region}:{account}:cis-alarms"},
        revert=True,
    )
    assert {c.resource for c in report.calls if c.action == "cloudwatch:PutMetricAlarm"} == {
        "arn:aws:cloudwatch:us-east-1:123456789012:alarm:IAMPolicyChanges"
    }
    assert {c.resource for c in report.calls if c.action == "logs:PutMetricFilter"} == {
        "arn:aws:logs:us-east-1:123456789012:log-group:cloudtrail/main"
    }
