"""Small helpers shared by the activity remediations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from botocore.exceptions import ClientError

from lw_remediate import RemediationContext, aws_error_code

#: Resource patterns (IAM Service Authorization Reference); ``{region}``/``{account}``
#: are filled in when the policy is rendered.
TRAIL = "arn:{partition}:cloudtrail:{region}:{account}:trail/*"
RECORDER = "arn:{partition}:config:{region}:{account}:configuration-recorder/*"
KEY = "arn:{partition}:kms:{region}:{account}:key/*"
BUCKET = "arn:{partition}:s3:::*"


T = TypeVar("T")


async def checked_or_read(
    ctx: RemediationContext[Any], key: str, read: Callable[[], Awaitable[T]]
) -> T:
    """What this run's ``check`` read and recorded as ``observed[key]`` moments ago, for
    ``plan`` to build on instead of repeating the request; ``await read()`` when there
    is none (``ctx.checked`` is None: ``plan`` runs without a ``check`` before it, or
    ``check`` did not record ``key``). Only ``plan`` uses it: ``apply`` re-reads before
    it writes and ``verify`` after."""
    checked = ctx.checked
    if checked is not None and key in checked.observed:
        return cast(T, checked.observed[key])
    return await read()


async def unless(call: Awaitable[Any], *codes: str) -> Any:
    """The answer of ``call``, or None when AWS answers with one of the error ``codes``."""
    try:
        return await call
    except ClientError as exc:
        if aws_error_code(exc) in codes:
            return None
        raise
