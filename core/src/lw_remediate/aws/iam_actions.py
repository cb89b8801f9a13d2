"""Which IAM action, on which resource, each recorded AWS API call needs.

Most operations need the IAM action of the same name (``iam:UpdateAccessKey``).
S3 is the exception: several operations are authorised under a different action
name (``GetBucketEncryption`` needs ``s3:GetEncryptionConfiguration``). The table
below is data; the test suite checks every action in it against an IAM action
catalogue.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: boto3 service name -> IAM service prefix, where they differ.
SERVICE_PREFIX: Mapping[str, str] = {}

#: (IAM prefix, operation) -> IAM action, where the action is not named after the operation.
ACTION_OVERRIDES: Mapping[tuple[str, str], str] = {
    ("s3", "GetBucketEncryption"): "s3:GetEncryptionConfiguration",
    ("s3", "PutBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "DeleteBucketEncryption"): "s3:PutEncryptionConfiguration",
    ("s3", "GetPublicAccessBlock"): "s3:GetBucketPublicAccessBlock",
    ("s3", "PutPublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeletePublicAccessBlock"): "s3:PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketOwnershipControls"): "s3:PutBucketOwnershipControls",
    ("s3", "HeadBucket"): "s3:ListBucket",
    ("s3", "ListObjects"): "s3:ListBucket",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycleConfiguration"): "s3:PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "s3:PutLifecycleConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "s3:GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "s3:PutBucketNotification",
    ("s3", "DeleteBucketTagging"): "s3:PutBucketTagging",
    ("s3", "DeleteBucketWebsite"): "s3:DeleteBucketWebsite",
}


def iam_action(service: str, operation: str) -> str:
    """The IAM action an API call needs, e.g. ``("s3", "GetBucketEncryption")``."""
    prefix = SERVICE_PREFIX.get(service, service)
    return ACTION_OVERRIDES.get((prefix, operation), f"{prefix}:{operation}")


def call_resource(
    service: str,
    params: Mapping[str, Any],
    *,
    account: str,
    partition: str = "aws",
    region: str = "*",
    operation: str | None = None,
) -> str:
    """The resource ARN an API call is authorised against, from its parameters (``*`` if none).

    Follows the service authorisation reference where it matters for scoping: attaching
    or detaching a policy is authorised on the user/group/role, not on the policy;
    ``Create*`` calls with a ``Path`` create the path-qualified ARN.
    """
    if service == "s3":
        bucket = params.get("Bucket")
        if not bucket:
            return "*"
        key = params.get("Key")
        return f"arn:{partition}:s3:::{bucket}" + (f"/{key}" if key else "")
    if service == "iam":
        return _iam_resource(
            params, account=account, partition=partition, operation=operation or ""
        )
    if service == "kms" and params.get("KeyId"):
        key = str(params["KeyId"])
        if key.startswith("arn:"):
            return key
        kind = "" if key.startswith("alias/") else "key/"
        return f"arn:{partition}:kms:{region}:{account}:{kind}{key}"
    if service == "sts" and "RoleArn" in params:
        return str(params["RoleArn"])
    if service == "account":
        return f"arn:{partition}:account::{account}:account"
    if service == "ec2" and isinstance(params.get("InstanceId"), str):
        return f"arn:{partition}:ec2:{region}:{account}:instance/{params['InstanceId']}"
    return "*"


_PRINCIPALS = (("GroupName", "group"), ("RoleName", "role"), ("UserName", "user"))


def _iam_resource(
    params: Mapping[str, Any], *, account: str, partition: str, operation: str
) -> str:
    def arn(kind: str, name: Any) -> str:
        path = str(params.get("Path") or "/") if operation.startswith("Create") else "/"
        return f"arn:{partition}:iam::{account}:{kind}{path}{name}"

    principal_first = operation.startswith(("Attach", "Detach"))
    if "PolicyArn" in params and not principal_first:
        return str(params["PolicyArn"])
    # Group membership calls name both a user and a group: the group is what a policy
    # scopes (AddUserToGroup is authorised on the group).
    for param, kind in _PRINCIPALS:
        if param in params:
            return arn(kind, params[param])
    if "InstanceProfileName" in params:
        return arn("instance-profile", params["InstanceProfileName"])
    if "PolicyArn" in params:
        return str(params["PolicyArn"])
    return "*"
