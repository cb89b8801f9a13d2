"""Small helpers shared by the IAM remediations: errors, time, thresholds, ARN patterns."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import RemediationContext, Violation


@asynccontextmanager
async def iam_client(ctx: RemediationContext[Any], iam: Any = None) -> AsyncIterator[Any]:
    """``iam`` when the caller already has an open IAM client, a new one otherwise.

    Each client costs a TLS context and a connection pool, so ``apply`` opens one and
    hands it to the re-read and the write.
    """
    if iam is not None:
        yield iam
        return
    async with ctx.aws.client("iam") as client:
        yield client


# -- ARN patterns of declared policies ----------------------------------------------------

#: Every IAM user of the account (any path).
USER_ARNS = ("arn:{partition}:iam::{account}:user/*",)

#: ``iam:GetAccessKeyLastUsed`` takes only an access key id, so the call names no user and is
#: recorded (and, for least-privilege purposes, declared) against ``*``. In AWS the action's
#: only resource type is ``user``, so ``*`` grants nothing beyond ``user/*``.
KEY_LAST_USED_ARNS = ("*",)


def path_arns(kind: str, path: str, name: str) -> tuple[str, ...]:
    """The pattern for one named IAM entity (``group``, ``role``) on ``path``, as AWS
    authorises it: the ARN includes the path (``group/lw-remediation/require-mfa``)."""
    return (f"arn:{{partition}}:iam::{{account}}:{kind}{normal_path(path)}{name}",)


def normal_path(path: str) -> str:
    """An IAM path with a leading and trailing slash (``lw-remediation`` -> ``/lw-remediation/``)."""
    inner = path.strip("/")
    return f"/{inner}/" if inner else "/"


# -- errors -------------------------------------------------------------------------------


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_no_such_entity(exc: ClientError) -> bool:
    return error_code(exc) in {"NoSuchEntity", "NoSuchEntityException"}


# -- time ---------------------------------------------------------------------------------


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_utc(value: Any) -> dt.datetime | None:
    """A timezone-aware UTC datetime from what botocore returns (None stays None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, dt.datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def iso(value: dt.datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def day(value: dt.datetime | None) -> str:
    return value.date().isoformat() if value is not None else "never"


def age_days(value: dt.datetime, now: dt.datetime) -> int:
    """Whole days between ``value`` and ``now``."""
    return (now - value).days


# -- rule thresholds ----------------------------------------------------------------------


def rule_threshold(
    violation: Violation,
    defaults: Mapping[str, int],
    override: int | None,
    *,
    fallback: int,
) -> int:
    """The threshold in days for the violated rule, unless the operator set one.

    ``defaults`` is keyed by canonical rule id; a ``lacework-global-N`` key is looked up
    first against the id Lacework actually sent (some new policies use other values than
    the legacy rule they alias).
    """
    if override is not None:
        return override
    source = (violation.source_rule_id or "").strip().lower()
    if source and source in defaults:
        return defaults[source]
    return defaults.get(violation.rule_id, fallback)


def user_arn(violation: Violation, user: str) -> str:
    arn = violation.arn
    return f"arn:{arn.partition}:iam::{violation.account_id}:user/{user}"
