"""The bucket policy a new CloudTrail trail needs (CIS 2.1 with ``create_trail``).

CloudTrail checks the bucket's ACL and writes ``AWSLogs/<account>/*``; when no statement
of the policy lets ``cloudtrail.amazonaws.com`` do one of these, a statement for it is
added, limited to the new trail by ``aws:SourceArn``. Every other statement stays.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import RemediationRefused, Violation

from ._aws import allows_service, as_list, error_code

CLOUDTRAIL = "cloudtrail.amazonaws.com"


def bucket_statements(
    partition: str, account: str, bucket: str, trail: str
) -> list[dict[str, Any]]:
    """The two statements CloudTrail needs on its bucket, limited to ``trail``."""
    source = {"StringEquals": {"aws:SourceArn": trail}}
    return [
        {
            "Sid": "LwRemediateCloudTrailAclCheck",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:{partition}:s3:::{bucket}",
            "Condition": source,
        },
        {
            "Sid": "LwRemediateCloudTrailWrite",
            "Effect": "Allow",
            "Principal": {"Service": CLOUDTRAIL},
            "Action": "s3:PutObject",
            "Resource": f"arn:{partition}:s3:::{bucket}/AWSLogs/{account}/*",
            "Condition": {
                "StringEquals": {
                    "s3:x-amz-acl": "bucket-owner-full-control",
                    **source["StringEquals"],
                }
            },
        },
    ]


async def read_bucket_policy(s3: Any, bucket: str, account: str) -> str | None:
    """The bucket's policy text (None: no policy); refuse when the bucket does not exist."""
    try:
        response = await s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=account)
    except ClientError as exc:
        if error_code(exc) == "NoSuchBucketPolicy":
            return None
        if error_code(exc) == "NoSuchBucket":
            raise RemediationRefused(
                f"bucket {bucket} (bucket_name) does not exist in account {account}"
            ) from exc
        raise
    return str(response["Policy"])


def policy_with_cloudtrail(
    text: str | None, violation: Violation, bucket: str, trail: str
) -> str | None:
    """The policy text with CloudTrail's statements added (None: nothing is missing)."""
    document: dict[str, Any] = (
        json.loads(text) if text else {"Version": "2012-10-17", "Statement": []}
    )
    statements: list[dict[str, Any]] = as_list(document.get("Statement"))
    needed = bucket_statements(violation.arn.partition, violation.account_id, bucket, trail)
    missing = [
        s
        for s in needed
        if not any(
            allows_service(existing, CLOUDTRAIL, str(s["Action"])) for existing in statements
        )
    ]
    if not missing:
        return None
    return json.dumps({**document, "Statement": statements + missing})
