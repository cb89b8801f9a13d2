"""The CIS AWS Foundations (1.2.0 section 3) metric-filter patterns, as data.

Rule -> (name, filter pattern). The name is used for the metric filter, the metric and the
alarm (the names AWS's Automated Security Response uses). Patterns are compared with
existing filters semantically (:func:`same_pattern`): CIS versions differ in spacing,
quoting and order.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import NamedTuple


class MetricRule(NamedTuple):
    name: str
    pattern: str
    what: str


def _any_event(names: Sequence[str]) -> str:
    return " || ".join(f"($.eventName={n})" for n in names)


def _from_source(source: str, names: Sequence[str]) -> str:
    return f"{{($.eventSource={source}) && ({_any_event(names)})}}"


def _events(names: Sequence[str]) -> str:
    return f"{{{_any_event(names)}}}"


RULES: Mapping[str, MetricRule] = {
    "AWS_CIS_3_1": MetricRule(
        "UnauthorizedAPICalls",
        '{($.errorCode="*UnauthorizedOperation") || ($.errorCode="AccessDenied*")}',
        "unauthorized API calls",
    ),
    "AWS_CIS_3_2": MetricRule(
        "ConsoleSigninWithoutMFA",
        '{($.eventName="ConsoleLogin") && ($.additionalEventData.MFAUsed !="Yes")}',
        "console sign-in without MFA",
    ),
    "AWS_CIS_3_3": MetricRule(
        "RootAccountUsage",
        '{$.userIdentity.type="Root" && $.userIdentity.invokedBy NOT EXISTS && '
        '$.eventType !="AwsServiceEvent"}',
        "use of the root account",
    ),
    "AWS_CIS_3_4": MetricRule(
        "IAMPolicyChanges",
        _events(
            [
                "DeleteGroupPolicy",
                "DeleteRolePolicy",
                "DeleteUserPolicy",
                "PutGroupPolicy",
                "PutRolePolicy",
                "PutUserPolicy",
                "CreatePolicy",
                "DeletePolicy",
                "CreatePolicyVersion",
                "DeletePolicyVersion",
                "AttachRolePolicy",
                "DetachRolePolicy",
                "AttachUserPolicy",
                "DetachUserPolicy",
                "AttachGroupPolicy",
                "DetachGroupPolicy",
            ]
        ),
        "IAM policy changes",
    ),
    "AWS_CIS_3_5": MetricRule(
        "CloudTrailChanges",
        _events(["CreateTrail", "UpdateTrail", "DeleteTrail", "StartLogging", "StopLogging"]),
        "CloudTrail configuration changes",
    ),
    "AWS_CIS_3_6": MetricRule(
        "ConsoleAuthenticationFailure",
        '{($.eventName=ConsoleLogin) && ($.errorMessage="Failed authentication")}',
        "console authentication failures",
    ),
    "AWS_CIS_3_7": MetricRule(
        "DisableOrDeleteCMK",
        _from_source("kms.amazonaws.com", ["DisableKey", "ScheduleKeyDeletion"]),
        "disabling or scheduled deletion of customer-managed keys",
    ),
    "AWS_CIS_3_8": MetricRule(
        "S3BucketPolicyChanges",
        _from_source(
            "s3.amazonaws.com",
            [
                "PutBucketAcl",
                "PutBucketPolicy",
                "PutBucketCors",
                "PutBucketLifecycle",
                "PutBucketReplication",
                "DeleteBucketPolicy",
                "DeleteBucketCors",
                "DeleteBucketLifecycle",
                "DeleteBucketReplication",
            ],
        ),
        "S3 bucket policy changes",
    ),
    "AWS_CIS_3_9": MetricRule(
        "AWSConfigChanges",
        _from_source(
            "config.amazonaws.com",
            [
                "StopConfigurationRecorder",
                "DeleteDeliveryChannel",
                "PutDeliveryChannel",
                "PutConfigurationRecorder",
            ],
        ),
        "AWS Config configuration changes",
    ),
    "AWS_CIS_3_10": MetricRule(
        "SecurityGroupChanges",
        _events(
            [
                "AuthorizeSecurityGroupIngress",
                "AuthorizeSecurityGroupEgress",
                "RevokeSecurityGroupIngress",
                "RevokeSecurityGroupEgress",
                "CreateSecurityGroup",
                "DeleteSecurityGroup",
            ]
        ),
        "security group changes",
    ),
    "AWS_CIS_3_11": MetricRule(
        "NetworkACLChanges",
        _events(
            [
                "CreateNetworkAcl",
                "CreateNetworkAclEntry",
                "DeleteNetworkAcl",
                "DeleteNetworkAclEntry",
                "ReplaceNetworkAclEntry",
                "ReplaceNetworkAclAssociation",
            ]
        ),
        "network ACL changes",
    ),
    "AWS_CIS_3_12": MetricRule(
        "NetworkGatewayChanges",
        _events(
            [
                "CreateCustomerGateway",
                "DeleteCustomerGateway",
                "AttachInternetGateway",
                "CreateInternetGateway",
                "DeleteInternetGateway",
                "DetachInternetGateway",
            ]
        ),
        "network gateway changes",
    ),
    "AWS_CIS_3_13": MetricRule(
        "RouteTableChanges",
        _events(
            [
                "CreateRoute",
                "CreateRouteTable",
                "ReplaceRoute",
                "ReplaceRouteTableAssociation",
                "DeleteRouteTable",
                "DeleteRoute",
                "DisassociateRouteTable",
            ]
        ),
        "route table changes",
    ),
    "AWS_CIS_3_14": MetricRule(
        "VPCChanges",
        _events(
            [
                "CreateVpc",
                "DeleteVpc",
                "ModifyVpcAttribute",
                "AcceptVpcPeeringConnection",
                "CreateVpcPeeringConnection",
                "DeleteVpcPeeringConnection",
                "RejectVpcPeeringConnection",
                "AttachClassicLinkVpc",
                "DetachClassicLinkVpc",
                "DisableVpcClassicLink",
                "EnableVpcClassicLink",
            ]
        ),
        "VPC changes",
    ),
}

#: ``$.field op value`` (value quoted or bare), or ``$.field NOT EXISTS`` / ``IS NULL``.
_TERM = re.compile(
    r"\$\.([\w.\[\]]+)\s*(?:(!=|=)\s*(\"[^\"]*\"|[^\s)&|}]+)|(NOT\s+EXISTS|IS\s+NULL|NOT\s+NULL))",
    re.IGNORECASE,
)
_OPERATORS = re.compile(r"&&|\|\|")


def terms(pattern: str) -> Counter[tuple[str, str, str]]:
    """The comparisons of a JSON filter pattern, with quoting and case of keywords removed."""
    found: Counter[tuple[str, str, str]] = Counter()
    for field, op, value, keyword in _TERM.findall(pattern):
        if keyword:
            found[(field, " ".join(keyword.upper().split()), "")] += 1
        else:
            found[(field, op, value.strip('"'))] += 1
    return found


def same_pattern(a: str, b: str) -> bool:
    """True when two filter patterns make the same comparisons joined by the same number
    of ``&&`` and ``||`` (spacing, quoting and order do not matter)."""
    return terms(a) == terms(b) and Counter(_OPERATORS.findall(a)) == Counter(_OPERATORS.findall(b))
