"""Access keys and SSH public keys: reading them, deactivating them, and the undo.

Shared by ``cis_iam.disable_unused_credentials`` (AWS_CIS_1_3, LW_AWS_IAM_6),
``cis_iam.retire_old_access_keys`` (AWS_CIS_1_4, LW_AWS_IAM_1/2),
``cis_iam.deactivate_setup_access_keys`` (AWS_CIS_1_23) and
``cis_iam.deactivate_old_ssh_keys`` (LW_AWS_IAM_3/4/5). Keys are only ever deactivated
(reversible), never deleted. The two kinds differ only in names (:class:`KeyKind`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    Plan,
    RemediationContext,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from ._iam import as_utc, day, is_no_such_entity, iso, user_arn


class Key(Protocol):
    """What the shared steps need of a key."""

    @property
    def key_id(self) -> str: ...

    @property
    def status(self) -> str: ...

    def describe(self) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


K = TypeVar("K", bound=Key)


@dataclass(frozen=True)
class AccessKey:
    """One access key of a user, as IAM reports it."""

    key_id: str
    status: str
    created: dt.datetime
    last_used: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.status == "Active"

    def describe(self) -> str:
        used = f"last used {day(self.last_used)}" if self.last_used else "never used"
        return f"{self.key_id} (created {day(self.created)}, {used}, {self.status})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "AccessKeyId": self.key_id,
            "Status": self.status,
            "CreateDate": iso(self.created),
            "LastUsedDate": iso(self.last_used),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccessKey:
        """The key as :meth:`to_dict` wrote it."""
        created = as_utc(data["CreateDate"])
        if created is None:
            raise ValueError(f"access key {data['AccessKeyId']} has no CreateDate")
        return cls(
            str(data["AccessKeyId"]), str(data["Status"]), created, as_utc(data["LastUsedDate"])
        )


@dataclass(frozen=True)
class SshKey:
    """One SSH public key (CodeCommit) of a user; IAM reports no last-used date for them."""

    key_id: str
    status: str
    uploaded: dt.datetime

    @property
    def active(self) -> bool:
        return self.status == "Active"

    def describe(self) -> str:
        return f"{self.key_id} (uploaded {day(self.uploaded)}, {self.status})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "SSHPublicKeyId": self.key_id,
            "Status": self.status,
            "UploadDate": iso(self.uploaded),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SshKey:
        """The key as :meth:`to_dict` wrote it."""
        uploaded = as_utc(data["UploadDate"])
        if uploaded is None:
            raise ValueError(f"SSH key {data['SSHPublicKeyId']} has no UploadDate")
        return cls(str(data["SSHPublicKeyId"]), str(data["Status"]), uploaded)


async def checked_keys(
    ctx: RemediationContext[Any],
    key: str,
    parse: Callable[[Mapping[str, Any]], K],
    read: Callable[[], Awaitable[list[K] | None]],
) -> list[K] | None:
    """The keys ``plan`` builds on: those this run's ``check`` recorded as
    ``observed[key]`` (their ``to_dict``), else ``await read()`` (``ctx.checked`` is None:
    ``plan`` runs without a ``check`` before it)."""
    checked = ctx.checked
    if checked is not None and key in checked.observed:
        return [parse(k) for k in checked.observed[key]]
    return await read()


async def read_access_keys(
    ctx: RemediationContext[Any], user: str, *, last_used: bool = True
) -> list[AccessKey] | None:
    """The user's access keys, oldest first; None when the user does not exist."""
    metadata: list[Mapping[str, Any]] = []
    async with ctx.aws.client("iam") as iam:
        try:
            async for page in iam.get_paginator("list_access_keys").paginate(UserName=user):
                metadata.extend(page.get("AccessKeyMetadata", []))
        except ClientError as exc:
            if is_no_such_entity(exc):
                return None
            raise
        keys: list[AccessKey] = []
        for meta in metadata:
            used: dt.datetime | None = None
            if last_used:
                response = await iam.get_access_key_last_used(AccessKeyId=meta["AccessKeyId"])
                used = as_utc(response.get("AccessKeyLastUsed", {}).get("LastUsedDate"))
            created = as_utc(meta["CreateDate"])
            if created is None:
                raise ValueError(f"access key {meta['AccessKeyId']} has no CreateDate")
            keys.append(AccessKey(str(meta["AccessKeyId"]), str(meta["Status"]), created, used))
    return sorted(keys, key=lambda k: k.created)


async def read_ssh_keys(ctx: RemediationContext[Any], user: str) -> list[SshKey] | None:
    """The user's SSH public keys, oldest first; None when the user does not exist."""
    keys: list[SshKey] = []
    async with ctx.aws.client("iam") as iam:
        try:
            async for page in iam.get_paginator("list_ssh_public_keys").paginate(UserName=user):
                for meta in page.get("SSHPublicKeys", []):
                    uploaded = as_utc(meta["UploadDate"])
                    if uploaded is None:
                        raise ValueError(f"SSH key {meta['SSHPublicKeyId']} has no UploadDate")
                    keys.append(SshKey(str(meta["SSHPublicKeyId"]), str(meta["Status"]), uploaded))
        except ClientError as exc:
            if is_no_such_entity(exc):
                return None
            raise
    return sorted(keys, key=lambda k: k.uploaded)


async def _access_key_statuses(ctx: RemediationContext[Any], user: str) -> Sequence[Key] | None:
    return await read_access_keys(ctx, user, last_used=False)


@dataclass(frozen=True)
class KeyKind:
    """How IAM names one kind of key: the write, its id parameter, the words for it."""

    label: str
    operation: str
    id_param: str
    log_event: str
    log_field: str
    #: The user's keys (their statuses are what undo compares); None when the user is gone.
    read_statuses: Callable[[RemediationContext[Any], str], Awaitable[Sequence[Key] | None]]

    async def set_status(self, iam: Any, user: str, key_id: str, status: str) -> None:
        await getattr(iam, self.operation)(UserName=user, Status=status, **{self.id_param: key_id})


ACCESS_KEY = KeyKind(
    label="access key",
    operation="update_access_key",
    id_param="AccessKeyId",
    log_event="access_key_deactivated",
    log_field="access_key_id",
    read_statuses=_access_key_statuses,
)
SSH_KEY = KeyKind(
    label="SSH public key",
    operation="update_ssh_public_key",
    id_param="SSHPublicKeyId",
    log_event="ssh_key_deactivated",
    log_field="ssh_public_key_id",
    read_statuses=read_ssh_keys,
)


def deactivation_changes(
    violation: Violation, user: str, keys: Iterable[Key], *, kind: KeyKind = ACCESS_KEY
) -> list[Change]:
    """One change per key: ``Active`` -> ``Inactive``."""
    arn = user_arn(violation, user)
    return [
        Change(kind.operation, f"{arn} {kind.label} {k.key_id}", k.status, "Inactive") for k in keys
    ]


def age_check(
    kind: KeyKind, user: str, old: Sequence[Key], days: int, **observed: Any
) -> CheckResult:
    """``check``'s answer when ``old`` are the user's active keys older than ``days``."""
    if not old:
        return CheckResult.compliant(
            f"{user} has no active {kind.label} older than {days} days", **observed
        )
    return CheckResult.violating(
        f"{user}: active {kind.label}(s) older than {days} days: "
        + "; ".join(k.describe() for k in old),
        **observed,
    )


def still_planned(plan_keys: Iterable[str], eligible: Iterable[K]) -> list[K]:
    """Keys that were planned and are still eligible after the re-read (never new ones)."""
    planned = set(plan_keys)
    return [k for k in eligible if k.key_id in planned]


def nothing_due(kept: Sequence[str], summary: str) -> Plan:
    """The plan when no key is due: refused, saying why each kept key stays; or no change."""
    if kept:
        raise RemediationRefused("; ".join(kept))
    return Plan(summary)


def grace_note(kind: KeyKind, key: Key, grace_days: int, until: dt.datetime) -> str:
    return (
        f"{kind.label} {key.describe()} is within the {grace_days}-day grace period until "
        f"{day(until)}"
    )


def still_active(keys: Iterable[Key]) -> VerifyResult:
    """``verify`` found keys that the change should have deactivated."""
    return VerifyResult.failed(
        "still active after the change: " + ", ".join(k.describe() for k in keys)
    )


async def deactivate_keys(
    ctx: RemediationContext[Any],
    user: str,
    keys: Sequence[Key],
    *,
    kind: KeyKind = ACCESS_KEY,
    extra_before: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Record the before-image, set each key ``Inactive``; return the after-image."""
    await ctx.record_before(
        {
            "user": user,
            "keys": {k.key_id: k.status for k in keys},
            "key_details": [k.to_dict() for k in keys],
            **(extra_before or {}),
        }
    )
    async with ctx.aws.client("iam") as iam:
        for key in keys:
            await kind.set_status(iam, user, key.key_id, "Inactive")
            ctx.log.info(kind.log_event, user=user, **{kind.log_field: key.key_id})
    return {"user": user, "keys": {k.key_id: "Inactive" for k in keys}}


async def reactivate_keys(
    ctx: RemediationContext[Any], record: ActionRecord, kind: KeyKind = ACCESS_KEY
) -> list[str]:
    """Undo a deactivation: restore each key's recorded status.

    Raises ResourceChanged when a key is gone or its status is no longer what the action
    left (somebody acted on it since). Returns the key ids restored.
    """
    before = record.before_image or {}
    user = str(before.get("user", ""))
    before_keys: Mapping[str, str] = before.get("keys", {})
    if not before_keys:
        return []
    after_keys: Mapping[str, str] | None = (record.after_image or {}).get("keys")
    live = await kind.read_statuses(ctx, user)
    if live is None:
        raise ResourceChanged(f"user {user} no longer exists; not reverting")
    status = {k.key_id: k.status for k in live}
    restore: list[str] = []
    for key_id, old in before_keys.items():
        now = status.get(key_id)
        if now is None:
            raise ResourceChanged(
                f"{kind.label} {key_id} of {user} was deleted since; not reverting"
            )
        if after_keys is not None:
            if now != after_keys.get(key_id):
                raise ResourceChanged(
                    f"{kind.label} {key_id} of {user} is {now} now, not "
                    f"{after_keys.get(key_id)} as the action left it; not reverting"
                )
        elif now == old:
            continue  # apply failed before reaching this key
        restore.append(key_id)
    async with ctx.aws.client("iam") as iam:
        for key_id in restore:
            await kind.set_status(iam, user, key_id, before_keys[key_id])
    return restore


def restored(kind: KeyKind, user: str, key_ids: Sequence[str]) -> str:
    """The detail line of an undo that reactivated ``key_ids``."""
    if not key_ids:
        return f"nothing to restore for {user}"
    return f"reactivated {kind.label}(s) {', '.join(key_ids)} of {user}"


async def revert_deactivation(
    ctx: RemediationContext[Any], record: ActionRecord, kind: KeyKind = ACCESS_KEY
) -> str:
    """``revert`` of a remediation that only deactivates keys: reactivate them."""
    key_ids = await reactivate_keys(ctx, record, kind)
    user = (record.before_image or {}).get("user", record.violation.resource_name)
    return restored(kind, user, key_ids)
