"""The call table: generated from botocore + the IAM reference, current, and right where it matters."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

from lw_remediate import AwsCall, RemediationDeclarationError
from lw_remediate.aws.iam_actions import (
    _table,
    access_level,
    call_resource,
    dependent_actions,
    iam_action,
    is_write,
    resolve,
)
from lw_remediate.testing import validate_actions

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "generate_aws_calls.py"
ACCOUNT, REGION = "123456789012", "eu-west-1"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("lw_generate_aws_calls", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_table_is_what_the_installed_data_generates():
    generate = _generator()
    fresh = generate.render(generate.generate())
    committed = generate.OUTPUT.read_text()
    if fresh != committed:
        pytest.fail(
            f"{generate.OUTPUT.name} is stale for botocore/policy_sentry as installed "
            f"(requirements-dev.txt pins them). Regenerate and commit it: "
            f".venv/bin/{generate.REGENERATE}"
        )


def test_every_action_in_the_table_is_a_real_iam_action():
    actions = {
        iam_action(service, operation)
        for service, entry in _table().items()
        for operation in entry["ops"]
    }
    assert len(actions) > 10_000
    assert validate_actions(actions) == []


@pytest.mark.parametrize(
    "service",
    [
        "ec2", "elb", "elbv2", "cloudtrail", "config", "kms", "logs", "cloudwatch", "sns",
        "lambda", "cloudfront", "rds", "redshift", "opensearch", "es", "s3", "iam", "sts",
        "account",
    ],
)  # fmt: skip
def test_the_services_maps_need_are_covered(service):
    assert service in _table()


def _arn(service: str, operation: str, **params: object) -> str:
    return call_resource(service, params, account=ACCOUNT, region=REGION, operation=operation)


SG = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/sg-1"


@pytest.mark.parametrize(
    ("service", "operation", "params", "action", "resource"),
    [
        # EC2 / VPC: the resource the request names, by its id
        ("ec2", "RevokeSecurityGroupIngress", {"GroupId": "sg-1"}, "ec2:RevokeSecurityGroupIngress", SG),
        ("ec2", "AuthorizeSecurityGroupIngress", {"GroupId": "sg-1"}, "ec2:AuthorizeSecurityGroupIngress", SG),
        ("ec2", "AuthorizeSecurityGroupEgress", {"GroupId": "sg-1"}, "ec2:AuthorizeSecurityGroupEgress", SG),
        ("ec2", "RevokeSecurityGroupEgress", {"GroupId": "sg-1"}, "ec2:RevokeSecurityGroupEgress", SG),
        # a group named only by name (default VPC): some group of the account and region
        ("ec2", "RevokeSecurityGroupIngress", {"GroupName": "web"}, "ec2:RevokeSecurityGroupIngress",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/*"),
        # Describe* is not resource-scoped
        ("ec2", "DescribeSecurityGroups", {"GroupIds": ["sg-1"]}, "ec2:DescribeSecurityGroups", "*"),
        ("ec2", "ReplaceNetworkAclEntry", {"NetworkAclId": "acl-1"}, "ec2:ReplaceNetworkAclEntry",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-acl/acl-1"),
        ("ec2", "DeleteNetworkAclEntry", {"NetworkAclId": "acl-1"}, "ec2:DeleteNetworkAclEntry",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:network-acl/acl-1"),
        ("ec2", "DeleteVpc", {"VpcId": "vpc-1"}, "ec2:DeleteVpc", f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc/vpc-1"),
        ("ec2", "DeleteFlowLogs", {"FlowLogIds": ["fl-1"]}, "ec2:DeleteFlowLogs",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/fl-1"),
        ("ec2", "CreateFlowLogs", {"ResourceIds": ["vpc-1"], "ResourceType": "VPC"}, "ec2:CreateFlowLogs",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:vpc-flow-log/*"),
        ("ec2", "ModifyVolume", {"VolumeId": "vol-1"}, "ec2:ModifyVolume", f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/vol-1"),
        # snapshots carry no account in their ARN
        ("ec2", "ModifySnapshotAttribute", {"SnapshotId": "snap-1"}, "ec2:ModifySnapshotAttribute",
         f"arn:aws:ec2:{REGION}::snapshot/snap-1"),
        ("ec2", "ModifyInstanceMetadataOptions", {"InstanceId": "i-1"}, "ec2:ModifyInstanceMetadataOptions",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/i-1"),
        # an association id names no instance: some instance of the account and region
        ("ec2", "DisassociateIamInstanceProfile", {"AssociationId": "a-1"}, "ec2:DisassociateIamInstanceProfile",
         f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/*"),
        ("ec2", "EnableEbsEncryptionByDefault", {}, "ec2:EnableEbsEncryptionByDefault", "*"),
        # ELB v1 and v2 share the IAM prefix
        ("elb", "ModifyLoadBalancerAttributes", {"LoadBalancerName": "lb"}, "elasticloadbalancing:ModifyLoadBalancerAttributes",
         f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/lb"),
        ("elbv2", "ModifyLoadBalancerAttributes",
         {"LoadBalancerArn": f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/lb/1"},
         "elasticloadbalancing:ModifyLoadBalancerAttributes",
         f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/app/lb/1"),
        # CloudTrail: Name takes a name or an ARN
        ("cloudtrail", "UpdateTrail", {"Name": "t"}, "cloudtrail:UpdateTrail",
         f"arn:aws:cloudtrail:{REGION}:{ACCOUNT}:trail/t"),
        ("cloudtrail", "StartLogging", {"Name": f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t"},
         "cloudtrail:StartLogging", f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/t"),
        ("cloudtrail", "DescribeTrails", {}, "cloudtrail:DescribeTrails", "*"),
        ("config", "StartConfigurationRecorder", {"ConfigurationRecorderName": "default"},
         "config:StartConfigurationRecorder", f"arn:aws:config:{REGION}:{ACCOUNT}:configuration-recorder/default/*"),
        ("kms", "EnableKeyRotation", {"KeyId": "k-1"}, "kms:EnableKeyRotation", f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k-1"),
        ("logs", "PutRetentionPolicy", {"logGroupName": "g"}, "logs:PutRetentionPolicy",
         f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g"),
        ("logs", "PutMetricFilter", {"logGroupName": "g"}, "logs:PutMetricFilter",
         f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:g"),
        ("cloudwatch", "PutMetricAlarm", {"AlarmName": "a"}, "cloudwatch:PutMetricAlarm",
         f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:a"),
        ("sns", "SetTopicAttributes", {"TopicArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:t"}, "sns:SetTopicAttributes",
         f"arn:aws:sns:{REGION}:{ACCOUNT}:t"),
        ("sns", "CreateTopic", {"Name": "t"}, "sns:CreateTopic", f"arn:aws:sns:{REGION}:{ACCOUNT}:t"),
        # Lambda: a name, a partial ARN or a full ARN
        ("lambda", "GetPolicy", {"FunctionName": "f"}, "lambda:GetPolicy",
         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"),
        ("lambda", "RemovePermission", {"FunctionName": f"{ACCOUNT}:function:f"}, "lambda:RemovePermission",
         f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"),
        ("lambda", "GetFunction", {"FunctionName": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"},
         "lambda:GetFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f"),
        ("cloudfront", "UpdateDistribution", {"Id": "E1"}, "cloudfront:UpdateDistribution",
         f"arn:aws:cloudfront::{ACCOUNT}:distribution/E1"),
        ("rds", "ModifyDBInstance", {"DBInstanceIdentifier": "db1"}, "rds:ModifyDBInstance",
         f"arn:aws:rds:{REGION}:{ACCOUNT}:db:db1"),
        ("rds", "ModifyDBSnapshotAttribute", {"DBSnapshotIdentifier": "s1"}, "rds:ModifyDBSnapshotAttribute",
         f"arn:aws:rds:{REGION}:{ACCOUNT}:snapshot:s1"),
        ("redshift", "ModifyCluster", {"ClusterIdentifier": "c1"}, "redshift:ModifyCluster",
         f"arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:c1"),
        # OpenSearch's API is authorised under the es prefix
        ("opensearch", "UpdateDomainConfig", {"DomainName": "d"}, "es:UpdateDomainConfig",
         f"arn:aws:es:{REGION}:{ACCOUNT}:domain/d"),
        ("es", "UpdateElasticsearchDomainConfig", {"DomainName": "d"}, "es:UpdateElasticsearchDomainConfig",
         f"arn:aws:es:{REGION}:{ACCOUNT}:domain/d"),
        ("s3", "PutPublicAccessBlock", {"Bucket": "b"}, "s3:PutBucketPublicAccessBlock", "arn:aws:s3:::b"),
        ("s3", "GetObject", {"Bucket": "b", "Key": "k/1"}, "s3:GetObject", "arn:aws:s3:::b/k/1"),
        ("s3", "ListBuckets", {}, "s3:ListAllMyBuckets", "*"),
        ("iam", "AttachRolePolicy", {"RoleName": "r", "PolicyArn": "arn:aws:iam::aws:policy/P"},
         "iam:AttachRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/r"),
        ("iam", "CreatePolicy", {"PolicyName": "p", "Path": "/x/"}, "iam:CreatePolicy",
         f"arn:aws:iam::{ACCOUNT}:policy/x/p"),
        ("iam", "GetAccountPasswordPolicy", {}, "iam:GetAccountPasswordPolicy", "*"),
        ("sts", "AssumeRole", {"RoleArn": f"arn:aws:iam::{ACCOUNT}:role/r"}, "sts:AssumeRole",
         f"arn:aws:iam::{ACCOUNT}:role/r"),
        ("sts", "GetCallerIdentity", {}, "sts:GetCallerIdentity", "*"),
        ("account", "PutAlternateContact", {"AlternateContactType": "SECURITY"}, "account:PutAlternateContact",
         f"arn:aws:account::{ACCOUNT}:account"),
    ],
)  # fmt: skip
def test_action_and_resource(service, operation, params, action, resource):
    assert iam_action(service, operation) == action
    assert _arn(service, operation, **params) == resource


def test_several_resources_in_one_list_are_recorded_as_a_wildcard():
    assert _arn("cloudwatch", "DeleteAlarms", AlarmNames=["a", "b"]) == (
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:*"
    )


def test_access_levels_tell_writes_from_reads():
    assert access_level("ec2", "DescribeSecurityGroups") == "List"
    assert access_level("s3", "PutBucketPolicy") == "Permissions management"
    assert is_write("ec2", "RevokeSecurityGroupIngress")
    assert is_write("ec2", "CreateTags")  # Tagging
    assert not is_write("s3", "GetBucketPolicy")
    assert not is_write("unknownservice", "DescribeThings")
    assert is_write("unknownservice", "PutThing")


def test_an_unknown_operation_keeps_its_own_name_on_star():
    assert iam_action("ec2", "NoSuchOperation") == "ec2:NoSuchOperation"
    assert (
        call_resource("ec2", {"GroupId": "sg-1"}, account="1", operation="NoSuchOperation") == "*"
    )


def test_a_declaration_comes_before_the_table():
    tag = AwsCall(
        "ec2",
        "CreateTags",
        resource="arn:{partition}:ec2:{region}:{account}:security-group/{Resources[0]}",
    )
    params = {"Resources": ["sg-1"], "Tags": []}
    assert resolve("ec2", "CreateTags", params, account=ACCOUNT, region=REGION) == (
        "ec2:CreateTags",
        "*",
    )
    assert resolve("ec2", "CreateTags", params, account=ACCOUNT, region=REGION, declared=[tag]) == (
        "ec2:CreateTags",
        SG,
    )
    # a parameter the template needs is missing: the table decides
    assert resolve("ec2", "CreateTags", {}, account=ACCOUNT, region=REGION, declared=[tag]) == (
        "ec2:CreateTags",
        "*",
    )


def test_a_declared_action_and_a_resource_function():
    call = AwsCall(
        "s3",
        "HeadBucket",
        action="s3:ListBucket",
        resource=lambda params, where: f"arn:{where['partition']}:s3:::{params['Bucket']}",
    )
    assert resolve(
        "s3", "HeadBucket", {"Bucket": "b"}, account=ACCOUNT, region=REGION, declared=[call]
    ) == ("s3:ListBucket", "arn:aws:s3:::b")


KEY = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def test_dependent_actions_resolve_from_the_request():
    def key_arn(params, where):
        key = params.get("KmsKeyId")
        if not key:
            return None
        return (
            key
            if key.startswith("arn:")
            else (f"arn:{where['partition']}:kms:{where['region']}:{where['account']}:key/{key}")
        )

    call = AwsCall(
        "redshift",
        "ModifyCluster",
        dependent=(("kms:CreateGrant", key_arn), ("kms:DescribeKey", key_arn)),
    )
    where = {"account": ACCOUNT, "region": REGION}
    params = {"ClusterIdentifier": "c1", "Encrypted": True, "KmsKeyId": KEY.rsplit("/", 1)[1]}
    assert dependent_actions("redshift", "ModifyCluster", params, declared=[call], **where) == [
        ("kms:CreateGrant", KEY),
        ("kms:DescribeKey", KEY),
    ]
    # the call's own action and resource still come from the table
    assert resolve("redshift", "ModifyCluster", params, declared=[call], **where) == (
        "redshift:ModifyCluster",
        f"arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:c1",
    )
    # no key in the request: AWS checks nothing on a key, nothing is recorded
    no_key = {"ClusterIdentifier": "c1", "Encrypted": True}
    assert dependent_actions("redshift", "ModifyCluster", no_key, declared=[call], **where) == []
    # another operation, or no declaration: nothing
    assert dependent_actions("redshift", "DescribeClusters", params, declared=[call], **where) == []
    assert dependent_actions("redshift", "ModifyCluster", params, **where) == []


def test_a_dependent_template_missing_its_parameter_is_left_out():
    call = AwsCall(
        "opensearch",
        "UpdateDomainConfig",
        dependent=(("kms:CreateGrant", "{EncryptionAtRestOptions[KmsKeyId]}"),),
    )
    where = {"account": ACCOUNT, "region": REGION}
    with_key = {"DomainName": "d", "EncryptionAtRestOptions": {"Enabled": True, "KmsKeyId": KEY}}
    without = {"DomainName": "d", "EncryptionAtRestOptions": {"Enabled": True}}
    op = ("opensearch", "UpdateDomainConfig")
    assert dependent_actions(*op, with_key, declared=[call], **where) == [("kms:CreateGrant", KEY)]
    assert dependent_actions(*op, without, declared=[call], **where) == []


@pytest.mark.parametrize(
    ("dependent", "message"),
    [
        ((("CreateGrant", "*"),), "is not"),
        ((("kms:*", "*"),), "is not"),
        ((("kms:CreateGrant",),), "is not"),
        ((("kms:CreateGrant", None),), "is not"),
        (("kms:CreateGrant",), "is not"),
        ((("kms:CreateGrant", "arn:{partition}:kms:::key/{}"),), "name every placeholder"),
    ],
)
def test_a_bad_dependent_declaration_is_refused(dependent, message):
    with pytest.raises(RemediationDeclarationError, match=message):
        AwsCall("redshift", "ModifyCluster", dependent=dependent)


def test_a_declaration_of_dependent_actions_alone_is_enough():
    call = AwsCall("redshift", "ModifyCluster", dependent=[["kms:CreateGrant", "{KmsKeyId}"]])
    assert call.dependent == (("kms:CreateGrant", "{KmsKeyId}"),)
    assert call.action is None and call.resource is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ec2", "createTags"), "as botocore spells it"),
        (("ec2", "CreateTags"), "neither action nor resource"),
        (("ec2", "CreateTags", "CreateTags"), "is not '<prefix>:<Action>'"),
        (("ec2", "CreateTags", None, "arn:{partition}:ec2:::x/{}"), "name every placeholder"),
    ],
)
def test_a_bad_declaration_is_refused(args, message):
    with pytest.raises(RemediationDeclarationError, match=message):
        AwsCall(*args)
