"""Bucket policies: reading, judging and rewriting statements, shared by LW_S3_11/15/17/18-21.

Four remediations edit the same document, so every edit is a read-modify-write
under the bucket's lock with the read right before the write (:func:`apply_edit`):
whatever another remediation wrote a moment ago is the input of this one. Only the
``Statement`` list is rewritten; ``Version``, ``Id`` and every statement the edit
does not touch are kept as they were. The before-image is the policy *text*
verbatim, so revert is byte-exact.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from lw_remediate import (
    ActionRecord,
    Change,
    Plan,
    RemediationContext,
    RemediationRefused,
    Violation,
)

from ._s3 import (
    bucket_arn,
    changed_since,
    get_or_none,
    locked_client,
    put_or_delete,
)

POLICY_VERSION = "2012-10-17"
#: The plan note of every edit: revert is byte-exact.
UNDO_NOTE = "undo writes the original policy text back verbatim"
#: AWS rejects bucket policies larger than 20 KB.
MAX_POLICY_BYTES = 20 * 1024

#: Condition keys that make a public statement non-public for
#: ``conditioned_statements = "public_unless_restrictive"`` (lower case).
RESTRICTIVE_CONDITION_KEYS = frozenset(
    key.lower()
    for key in (
        "aws:SourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalOrgID",
        "aws:PrincipalAccount",
        "aws:SourceAccount",
        "aws:SourceArn",
        "aws:PrincipalArn",
        "aws:SourceOrgID",
        "aws:PrincipalOrgPaths",
    )
)

ConditionedStatements = Literal["ignore", "public_unless_restrictive"]

Statement = dict[str, Any]


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


@dataclass(frozen=True)
class BucketPolicy:
    """A bucket policy as read: the verbatim text (None = no policy) and its statements."""

    text: str | None
    document: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, violation: Violation) -> BucketPolicy:
        if text is None:
            return cls(None)
        try:
            document = json.loads(text)
        except ValueError:
            document = None
        if not isinstance(document, dict) or not all(
            isinstance(s, dict) for s in as_list(document.get("Statement"))
        ):
            raise RemediationRefused(
                f"the policy of bucket {violation.resource_name} is not a JSON policy document; "
                "not editing it"
            )
        return cls(text, document)

    @property
    def statements(self) -> list[Statement]:
        return [dict(s) for s in as_list(self.document.get("Statement"))]

    def with_statements(self, statements: Sequence[Statement]) -> str | None:
        """The policy text with ``statements`` (None: nothing is left, delete the policy)."""
        if not statements:
            return None
        document: dict[str, Any] = (
            dict(self.document) if self.text is not None else {"Version": POLICY_VERSION}
        )
        document["Statement"] = list(statements)
        return json.dumps(document, separators=(",", ":"))


# -- judging statements -------------------------------------------------------------------


def _principal_is_everyone(statement: Mapping[str, Any]) -> bool:
    """``Principal: "*"`` or ``{"AWS": "*"}`` (or a list holding it)."""
    principal = statement.get("Principal")
    if principal == "*":
        return True
    return isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))


def is_public_principal(statement: Mapping[str, Any]) -> bool:
    """``Principal: "*"`` or ``{"AWS": "*"}`` (or a list holding it); any ``NotPrincipal``."""
    return "NotPrincipal" in statement or _principal_is_everyone(statement)


def condition_keys(statement: Mapping[str, Any]) -> set[str]:
    """Every condition key of a statement, lower case."""
    condition = statement.get("Condition") or {}
    if not isinstance(condition, Mapping):
        return set()
    return {
        str(key).lower()
        for block in condition.values()
        if isinstance(block, Mapping)
        for key in block
    }


def is_restricted(statement: Mapping[str, Any], conditioned: ConditionedStatements) -> bool:
    """Does a condition keep this statement from being public?

    ``ignore`` (Lacework's reading): any condition does. ``public_unless_restrictive``:
    only a condition on who or where the caller is (:data:`RESTRICTIVE_CONDITION_KEYS`).
    """
    if not statement.get("Condition"):
        return False
    if conditioned == "ignore":
        return True
    return bool(condition_keys(statement) & RESTRICTIVE_CONDITION_KEYS)


def is_public_allow(statement: Mapping[str, Any], conditioned: ConditionedStatements) -> bool:
    """An Allow for everyone that no condition restricts (the LW_S3_11 test)."""
    return (
        statement.get("Effect") == "Allow"
        and is_public_principal(statement)
        and not is_restricted(statement, conditioned)
    )


def covers_all_s3_actions(statement: Mapping[str, Any]) -> bool:
    return any(str(a).lower() in {"*", "s3:*"} for a in as_list(statement.get("Action")))


def covers_bucket_and_objects(statement: Mapping[str, Any], violation: Violation) -> bool:
    """The statement's ``Resource`` covers the bucket and every object in it."""
    arn = bucket_arn(violation)
    patterns = [str(r) for r in as_list(statement.get("Resource"))]
    return any(fnmatch.fnmatchcase(arn, p) for p in patterns) and any(
        fnmatch.fnmatchcase(f"{arn}/*", p) for p in patterns
    )


def is_bucket_wide_deny(statement: Mapping[str, Any], violation: Violation) -> bool:
    """A Deny for everyone of every S3 action on the bucket and its objects."""
    return (
        statement.get("Effect") == "Deny"
        and _principal_is_everyone(statement)
        and covers_all_s3_actions(statement)
        and covers_bucket_and_objects(statement, violation)
    )


def bucket_wide_deny(sid: str, violation: Violation, condition: Mapping[str, Any]) -> Statement:
    """A Deny for everyone of every S3 action on the bucket and its objects, under
    ``condition`` (what :func:`is_bucket_wide_deny` recognises)."""
    arn = bucket_arn(violation)
    return {
        "Sid": sid,
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": dict(condition),
    }


def condition_values(statement: Mapping[str, Any], operators: Iterable[str], key: str) -> list[str]:
    """The values a statement's condition gives ``key`` under any of ``operators``."""
    condition = statement.get("Condition") or {}
    wanted = {o.lower() for o in operators}
    values: list[str] = []
    for operator, block in condition.items() if isinstance(condition, Mapping) else ():
        if str(operator).lower() not in wanted or not isinstance(block, Mapping):
            continue
        for k, v in block.items():
            if str(k).lower() == key.lower():
                values.extend(str(x).lower() for x in as_list(v))
    return values


def unique_sid(wanted: str, statements: Sequence[Mapping[str, Any]]) -> str:
    """``wanted``, or ``wanted2``, ``wanted3``... when another statement already uses it."""
    taken = {s.get("Sid") for s in statements}
    sid, n = wanted, 1
    while sid in taken:
        n += 1
        sid = f"{wanted}{n}"
    return sid


# -- reading and writing ------------------------------------------------------------------


async def get_policy(s3: Any, violation: Violation) -> BucketPolicy:
    """The live policy (``NoSuchBucketPolicy`` means none); ``NoSuchBucket`` propagates."""
    response = await get_or_none(s3.get_bucket_policy, violation, "NoSuchBucketPolicy")
    if response is None:
        return BucketPolicy(None)
    return BucketPolicy.parse(str(response["Policy"]), violation)


async def read_policy(ctx: RemediationContext[Any], violation: Violation) -> BucketPolicy:
    """:func:`get_policy` with a client of its own."""
    async with ctx.aws.client("s3") as s3:
        return await get_policy(s3, violation)


async def checked_policy(ctx: RemediationContext[Any], violation: Violation) -> BucketPolicy:
    """The policy ``plan`` builds on: the text this run's ``check`` read (its ``observed``
    ``policy``, see :func:`observed_policy`), else the live policy (one ``GetBucketPolicy``)."""

    async def live() -> str | None:
        return (await read_policy(ctx, violation)).text

    return BucketPolicy.parse(await ctx.checked_or_read("policy", live), violation)


def observed_policy(policy: BucketPolicy) -> dict[str, str | None]:
    """What a ``check`` records of the policy it read, for ``plan`` (:func:`checked_policy`):
    the verbatim text (None: no policy)."""
    return {"policy": policy.text}


async def write_policy(s3: Any, violation: Violation, text: str | None) -> None:
    """Put ``text`` as the policy, or delete the policy when ``text`` is None."""
    await put_or_delete(
        s3.put_bucket_policy,
        s3.delete_bucket_policy,
        violation,
        "Policy",
        text,
        ConfirmRemoveSelfBucketAccess=False,
    )


@dataclass(frozen=True)
class Edit:
    """What a remediation wants to do to a policy: the new statements and the changes."""

    statements: list[Statement]
    changes: list[Change]
    summary: str
    notes: list[str] = field(default_factory=list)

    def plan(self, *notes: str) -> Plan:
        """The edit as a plan, with ``notes`` after the edit's own."""
        return Plan(summary=self.summary, changes=self.changes, notes=[*self.notes, *notes])


EditFn = Callable[[BucketPolicy], Edit]


def check_size(text: str | None, violation: Violation) -> None:
    if text is not None and len(text.encode()) > MAX_POLICY_BYTES:
        raise RemediationRefused(
            f"the edited policy of bucket {violation.resource_name} would exceed the 20 KB "
            "bucket-policy limit; not writing it"
        )


async def apply_edit(ctx: RemediationContext[Any], edit: EditFn) -> Mapping[str, Any]:
    """Re-read, edit, record the before-image and write, all under the bucket's lock.

    Returns the after-image ``{"Policy": text-or-None}``. When the re-read policy needs
    no change (another action fixed it meanwhile) nothing is recorded or written.
    """
    violation = ctx.violation
    async with locked_client(ctx, violation) as s3:
        policy = await get_policy(s3, violation)
        result = edit(policy)
        if not result.changes:
            return {"Policy": policy.text}
        text = policy.with_statements(result.statements)
        check_size(text, violation)
        await ctx.record_before({"Policy": policy.text})
        await write_policy(s3, violation, text)
    return {"Policy": text}


def _same_policy(live: str | None, image: str | None) -> bool:
    if live is None or image is None:
        return live is image
    try:
        return bool(json.loads(live) == json.loads(image))
    except ValueError:
        return live == image


async def revert_edit(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    """Write the recorded policy text back (or delete the policy if there was none).

    Refuses with :class:`ResourceChanged` when the live policy is no longer what the
    action wrote: somebody (or another remediation) edited it since.
    """
    violation = record.violation
    before = (record.before_image or {}).get("Policy")
    after = (record.after_image or {}).get("Policy")
    async with locked_client(ctx, violation) as s3:
        live = await get_policy(s3, violation)
        if not _same_policy(live.text, after):
            raise changed_since(violation, "the policy")
        await write_policy(s3, violation, before)
    if before is None:
        return f"deleted the policy of bucket {violation.resource_name} (it had none before)"
    return f"restored the previous policy of bucket {violation.resource_name} verbatim"


def statement_label(statement: Mapping[str, Any]) -> str:
    sid = statement.get("Sid")
    actions = ",".join(
        str(a) for a in as_list(statement.get("Action") or statement.get("NotAction"))
    )
    return (
        f"{sid!r} ({statement.get('Effect')} {actions})"
        if sid
        else f"({statement.get('Effect')} {actions})"
    )
