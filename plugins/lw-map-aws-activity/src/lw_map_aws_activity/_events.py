"""Which resources an activity alert touched, and how this map answers each class.

Classes are recognised by the Lacework policy id where it is public (``-1`` VPC change,
``-2`` security group change, ``-8`` root account usage, ``-19`` KMS key, ``-29``
unauthorized API call) and otherwise by the CloudTrail ``eventName`` (the CIS 3.x event
classes: IAM policy, CloudTrail and Config configuration, S3 bucket policy, NACL,
gateway and route-table changes, console sign-in without MFA). Resource ids are taken
from the alert's ``Resource`` rows: an ARN, or a bare id recognised by its prefix
(``sg-``, ``acl-``, ``rtb-``, ``vpc-``, ``igw-``), a bucket, trail, recorder or key name
by the row's name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lw_remediate import ActivityEvent, ActivityPolicy, Arn, TouchedResource

from .remediations import (
    cancel_key_deletion,
    public_access_block,
    start_logging,
    start_recorder,
    watch,
)

#: The logging map's remediation that answers a deleted trail (CIS 2.1), if installed.
MULTI_REGION_TRAIL = "logging.enable_multi_region_trail"

SG_APIS = (
    "AuthorizeSecurityGroupIngress",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "CreateSecurityGroup",
    "ModifySecurityGroupRules",
)
NACL_APIS = (
    "CreateNetworkAcl",
    "CreateNetworkAclEntry",
    "DeleteNetworkAclEntry",
    "ReplaceNetworkAclEntry",
    "ReplaceNetworkAclAssociation",
)
ROUTE_APIS = (
    "CreateRoute",
    "CreateRouteTable",
    "ReplaceRoute",
    "ReplaceRouteTableAssociation",
    "DeleteRoute",
    "DisassociateRouteTable",
)
VPC_APIS = (
    "CreateVpc",
    "ModifyVpcAttribute",
    "AcceptVpcPeeringConnection",
    "CreateVpcPeeringConnection",
    "AttachClassicLinkVpc",
    "EnableVpcClassicLink",
)
GATEWAY_APIS = (
    "CreateCustomerGateway",
    "AttachInternetGateway",
    "CreateInternetGateway",
    "DetachInternetGateway",
)
TRAIL_APIS = ("CreateTrail", "UpdateTrail", "PutEventSelectors", "PutInsightSelectors")
CONFIG_APIS = ("PutConfigurationRecorder", "DeleteDeliveryChannel", "PutDeliveryChannel")
KMS_APIS = ("DisableKey", "DisableKeyRotation")
BUCKET_APIS = (
    "PutBucketAcl",
    "PutBucketPolicy",
    "DeleteBucketPolicy",
    "PutBucketCors",
    "PutBucketLifecycle",
    "PutBucketReplication",
    "PutBucketEncryption",
    "DeleteBucketEncryption",
    "PutBucketVersioning",
    "PutBucketLogging",
)
IAM_POLICY_APIS = (
    "CreatePolicy",
    "CreatePolicyVersion",
    "SetDefaultPolicyVersion",
    "AttachRolePolicy",
    "AttachUserPolicy",
    "AttachGroupPolicy",
)
PAB_APIS = ("DeleteBucketPublicAccessBlock", "PutBucketPublicAccessBlock")

#: Every class this map answers, as ``lw-remediate maps`` lists it.
POLICIES = (
    ActivityPolicy("Security group change", "re-evaluate", ("lacework-global-2",), SG_APIS),
    ActivityPolicy("VPC change", "re-evaluate", ("lacework-global-1",), VPC_APIS),
    ActivityPolicy("Network ACL change (CIS 3.11 event)", "re-evaluate", (), NACL_APIS),
    ActivityPolicy("Route table change (CIS 3.13 event)", "re-evaluate", (), ROUTE_APIS),
    ActivityPolicy("Network gateway change (CIS 3.12 event)", "re-evaluate", (), GATEWAY_APIS),
    ActivityPolicy(
        "CloudTrail configuration change (CIS 3.5 event)", "re-evaluate", (), TRAIL_APIS
    ),
    ActivityPolicy(
        "CloudTrail trail deleted", "revert", (), ("DeleteTrail",), (MULTI_REGION_TRAIL,)
    ),
    ActivityPolicy(
        "CloudTrail logging stopped", "revert", (), ("StopLogging",), (start_logging.ID,)
    ),
    ActivityPolicy(
        "AWS Config configuration change (CIS 3.9 event)", "re-evaluate", (), CONFIG_APIS
    ),
    ActivityPolicy(
        "AWS Config recorder stopped",
        "revert",
        (),
        ("StopConfigurationRecorder",),
        (start_recorder.ID,),
    ),
    ActivityPolicy(
        "KMS key scheduled for deletion",
        "revert",
        ("lacework-global-19",),
        ("ScheduleKeyDeletion",),
        (cancel_key_deletion.ID,),
    ),
    ActivityPolicy("KMS key disabled (CIS 3.7 event)", "re-evaluate", (), KMS_APIS),
    ActivityPolicy("S3 bucket policy change (CIS 3.8 event)", "re-evaluate", (), BUCKET_APIS),
    ActivityPolicy(
        "S3 public access block removed or weakened",
        "revert",
        (),
        PAB_APIS,
        (public_access_block.ID,),
    ),
    ActivityPolicy("IAM policy change (CIS 3.4 event)", "re-evaluate", (), IAM_POLICY_APIS),
    *(
        ActivityPolicy(w.event_class, "watch", w.policy_ids, w.apis, (w.remediation.id,))
        for w in watch.WATCHED
    ),
)

_BARE = re.compile(r"^(sg|acl|rtb|vpc|igw)-[0-9a-f]{8,17}$")
_TYPES = {
    "sg": ("ec2:security-group", "security-group"),
    "acl": ("ec2:network-acl", "network-acl"),
    "rtb": ("ec2:route-table", "route-table"),
    "vpc": ("ec2:vpc", "vpc"),
}
_BUCKET_NAMES = {"bucketname", "bucket", "bucket_name"}
_TRAIL_NAMES = {"name", "trailname", "trail", "trailarn"}
_KEY_NAMES = {"keyid", "key_id", "keyarn", "key"}
_RECORDER_NAMES = {"configurationrecordername", "recorder", "name"}
_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def touched(event: ActivityEvent) -> list[TouchedResource]:
    """What this map answers for ``event`` (nothing without an account and a region)."""
    if not event.account_id:
        return []
    found: list[TouchedResource] = []
    for watched in watch.WATCHED:
        if watched.matches(event):
            found.append(
                TouchedResource(
                    f"arn:aws:iam::{event.account_id}:root",
                    "cloudtrail:event",
                    event.account_id,
                    event.region,
                    watched.event_class,
                    remediation_ids=(watched.remediation.id,),
                )
            )
    if not event.region:
        return found
    apis = set(event.apis)
    found += _ec2(event, apis)
    found += _trail(event, apis)
    found += _config(event, apis)
    found += _kms(event, apis)
    found += _buckets(event, apis)
    found += _iam_policies(event, apis)
    return _unique(found)


def _ec2(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    ec2_apis = set(SG_APIS + NACL_APIS + ROUTE_APIS + VPC_APIS + GATEWAY_APIS)
    sg_policy = event.policy_id in {"lacework-global-1", "lacework-global-2"}
    if not (apis & ec2_apis or sg_policy):
        return []
    found = []
    for value in event.resource_values():
        ident = _ec2_id(value)
        if ident is None or ident.startswith("igw-"):
            continue  # gateways: their VPC (when the alert names it) is re-evaluated
        kind, path = _TYPES[ident.split("-", 1)[0]]
        found.append(
            _resource(
                event,
                f"arn:aws:ec2:{event.region}:{event.account_id}:{path}/{ident}",
                kind,
                f"{', '.join(event.apis) or event.alert_type} on {ident}",
            )
        )
    return found


def _ec2_id(value: str) -> str | None:
    text = value.strip()
    if text.startswith("arn:"):
        text = text.rsplit("/", 1)[-1]
    return text if _BARE.match(text) else None


def _trail(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    if not apis & {"StopLogging", "DeleteTrail", *TRAIL_APIS}:
        return []
    found = []
    for value in _named(event, _TRAIL_NAMES):
        arn = _trail_arn(event, value)
        if "StopLogging" in apis:
            found.append(
                _resource(
                    event,
                    arn,
                    "cloudtrail:trail",
                    f"StopLogging on {arn}",
                    (start_logging.ID,),
                )
            )
        if apis & set(TRAIL_APIS):
            found.append(_resource(event, arn, "cloudtrail:trail", f"trail {arn} changed"))
    if "DeleteTrail" in apis:
        found.append(
            _resource(
                event,
                f"arn:aws:iam::{event.account_id}:root",
                "aws:account",
                "a CloudTrail trail was deleted",
                (MULTI_REGION_TRAIL,),
            )
        )
    return found


def _trail_arn(event: ActivityEvent, value: str) -> str:
    if value.startswith("arn:"):
        return value
    return f"arn:aws:cloudtrail:{event.region}:{event.account_id}:trail/{value}"


def _config(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    region = f"arn:aws:iam:{event.region}:{event.account_id}:root"
    found = []
    if "StopConfigurationRecorder" in apis:
        found.append(
            _resource(
                event,
                region,
                "config:region",
                "the AWS Config recorder was stopped",
                (start_recorder.ID,),
            )
        )
    if apis & set(CONFIG_APIS):
        found.append(_resource(event, region, "config:region", "AWS Config configuration changed"))
    return found


def _kms(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    deletion = "ScheduleKeyDeletion" in apis
    if not (deletion or apis & set(KMS_APIS)):
        return []
    found = []
    for value in _named(event, _KEY_NAMES):
        arn = value if value.startswith("arn:") else None
        if arn is None and re.fullmatch(r"[0-9a-f-]{36}", value):
            arn = f"arn:aws:kms:{event.region}:{event.account_id}:key/{value}"
        if arn is None:
            continue
        if deletion:
            found.append(
                _resource(
                    event,
                    arn,
                    "kms:key",
                    f"ScheduleKeyDeletion on {arn}",
                    (cancel_key_deletion.ID,),
                )
            )
        if apis & set(KMS_APIS):
            found.append(_resource(event, arn, "kms:key", f"{', '.join(event.apis)} on {arn}"))
    return found


def _buckets(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    if not apis & {*BUCKET_APIS, *PAB_APIS}:
        return []
    found = []
    for value in _named(event, _BUCKET_NAMES):
        name = value.removeprefix("arn:aws:s3:::")
        if not _BUCKET_RE.match(name):
            continue
        arn = f"arn:aws:s3:::{name}"
        if apis & set(PAB_APIS):
            found.append(
                _resource(
                    event,
                    arn,
                    "s3:bucket",
                    f"public access block of {name} removed or changed",
                    (public_access_block.ID,),
                )
            )
        if apis & set(BUCKET_APIS):
            found.append(_resource(event, arn, "s3:bucket", f"bucket {name} changed"))
    return found


def _iam_policies(event: ActivityEvent, apis: set[str]) -> list[TouchedResource]:
    if not apis & set(IAM_POLICY_APIS):
        return []
    found = []
    for value in event.resource_values():
        try:
            arn = Arn.parse(value)
        except ValueError:
            continue
        if arn.service == "iam" and arn.resource.startswith("policy/") and arn.account != "aws":
            found.append(_resource(event, str(arn), "iam:policy", f"IAM policy {arn} changed"))
    return found


def _named(event: ActivityEvent, names: set[str]) -> list[str]:
    return [r.value for r in event.resources if r.name.lower() in names and r.value]


def _resource(
    event: ActivityEvent, arn: str, kind: str, cause: str, ids: tuple[str, ...] = ()
) -> TouchedResource:
    region = event.region
    if (
        arn.startswith("arn:")
        and not arn.startswith("arn:aws:iam:")
        and not arn.startswith("arn:aws:s3:")
    ):
        region = Arn.parse(arn).region or region  # a trail or key acts in its home region
    return TouchedResource(arn, kind, event.account_id or "", region, cause, remediation_ids=ids)


def _unique(items: Iterable[TouchedResource]) -> list[TouchedResource]:
    seen: set[tuple[str, tuple[str, ...]]] = set()
    out = []
    for item in items:
        key = (item.resource_arn, item.remediation_ids)
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out
