"""Small helpers shared by the activity remediations."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import aws_error_code

#: Resource patterns (IAM Service Authorization Reference); ``{region}``/``{account}``
#: are filled in when the policy is rendered.
TRAIL = "arn:{partition}:cloudtrail:{region}:{account}:trail/*"
RECORDER = "arn:{partition}:config:{region}:{account}:configuration-recorder/*"
KEY = "arn:{partition}:kms:{region}:{account}:key/*"
BUCKET = "arn:{partition}:s3:::*"


async def unless(call: Awaitable[Any], *codes: str) -> Any:
    """The answer of ``call``, or None when AWS answers with one of the error ``codes``."""
    try:
        return await call
    except ClientError as exc:
        if aws_error_code(exc) in codes:
            return None
        raise
