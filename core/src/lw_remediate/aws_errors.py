"""Reading AWS errors: the code of a ``ClientError``, "the resource is gone", throttling.

Every map needs these; they read botocore's parsed error (``exc.response["Error"]``)
and never raise, whatever they are given.
"""

from __future__ import annotations

import re
from typing import Any

#: Codes AWS answers when the resource a call names does not exist (EC2 also answers
#: ``Invalid<Thing>ID.NotFound``; see :func:`is_gone` for the patterns).
GONE_CODES = frozenset(
    {
        "404",  # HeadBucket / HeadObject carry no body, only the status
        "NotFound",
        "NoSuchEntity",  # IAM
        "NoSuchBucket",
        "NoSuchKey",
        "NoSuchDistribution",  # CloudFront
        "NoSuchConfigurationRecorderException",
        "NoSuchDeliveryChannelException",
        "ResourceNotFoundException",
        "ResourceNotFound",
        "NotFoundException",  # KMS
        "AccessPointNotFound",  # classic ELB
        "TrailNotFoundException",
    }
)
#: Codes that say a *setting* of an existing resource is absent, not the resource
#: (S3 answers NoSuch… for both).
_ABSENT_SETTING = re.compile(
    r"^(NoSuch(BucketPolicy|TagSet|LifecycleConfiguration|CORSConfiguration|"
    r"WebsiteConfiguration|PublicAccessBlockConfiguration|ObjectLockConfiguration|"
    r"ReplicationConfiguration)|\w+ConfigurationNotFoundError|OwnershipControlsNotFoundError)$"
)
_GONE_PATTERN = re.compile(r"^(Invalid\w*\.NotFound|\w+NotFound|\w+NotFound(Exception|Fault))$")

#: Codes of a throttled call (the list botocore's "standard" retry mode treats as
#: throttling), plus HTTP 429.
THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
        "429",
    }
)


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ``ClientError`` (``"NoSuchBucket"``), else None."""
    response: Any = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    code = error.get("Code") if isinstance(error, dict) else None
    if code:
        return str(code)
    metadata = response.get("ResponseMetadata")
    status = metadata.get("HTTPStatusCode") if isinstance(metadata, dict) else None
    return str(status) if status else None


def is_gone(exc: BaseException) -> bool:
    """True when AWS says the resource the call named does not exist (deleted since the
    alert, or never there): ``NoSuchBucket``, ``NoSuchEntity``, ``InvalidGroup.NotFound``,
    ``DBInstanceNotFound``, ``ResourceNotFoundException``, a bare 404 ...

    A setting that is merely absent on an existing resource (``NoSuchBucketPolicy``,
    ``ServerSideEncryptionConfigurationNotFoundError``) is not "gone". IAM answers
    ``NoSuchEntity`` for a missing sub-entity too (a user without a login profile): read
    the user itself if that matters.
    """
    code = aws_error_code(exc)
    if code is None or _ABSENT_SETTING.match(code):
        return False
    return code in GONE_CODES or bool(_GONE_PATTERN.match(code))


def is_throttling(exc: BaseException) -> bool:
    """True when AWS throttled the call (``Throttling``, ``RequestLimitExceeded``,
    ``SlowDown``, HTTP 429 ...); the core's client already retried it."""
    return aws_error_code(exc) in THROTTLING_CODES
