"""Small helpers shared by the S3 remediations."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import Violation

BUCKET_RESOURCES = ("arn:{partition}:s3:::*",)

NO_SUCH_BUCKET = "NoSuchBucket"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_missing_bucket(exc: ClientError) -> bool:
    return error_code(exc) == NO_SUCH_BUCKET


def bucket_args(violation: Violation) -> dict[str, Any]:
    """``Bucket`` plus ``ExpectedBucketOwner``, so a same-named foreign bucket is never touched."""
    return {"Bucket": violation.resource_name, "ExpectedBucketOwner": violation.account_id}


def gone(violation: Violation) -> str:
    return f"bucket {violation.resource_name} no longer exists"
