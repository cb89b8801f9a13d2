"""Access keys: reading them with their last use, deactivating them, and the undo.

Shared by ``cis_iam.disable_unused_credentials`` (AWS_CIS_1_3, LW_AWS_IAM_6),
``cis_iam.retire_old_access_keys`` (AWS_CIS_1_4, LW_AWS_IAM_1/2) and
``cis_iam.deactivate_setup_access_keys`` (AWS_CIS_1_23). Keys are only ever
deactivated (reversible), never deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import ActionRecord, Change, RemediationContext, ResourceChanged, Violation

from ._iam import as_utc, day, iam_client, is_no_such_entity, iso, user_arn


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


async def read_access_keys(
    iam: Any, user: str, *, last_used: bool = True
) -> list[AccessKey] | None:
    """The user's access keys, oldest first; None when the user does not exist.

    ``iam`` is an open IAM client (``async with ctx.aws.client("iam") as iam``).
    """
    metadata: list[Mapping[str, Any]] = []
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


def deactivation_changes(
    violation: Violation, user: str, keys: Iterable[AccessKey]
) -> list[Change]:
    """One ``update_access_key`` change per key: ``Active`` -> ``Inactive``."""
    arn = user_arn(violation, user)
    return [
        Change("update_access_key", f"{arn} access key {k.key_id}", k.status, "Inactive")
        for k in keys
    ]


async def deactivate_keys(
    ctx: RemediationContext[Any],
    user: str,
    keys: list[AccessKey],
    *,
    extra_before: Mapping[str, Any] | None = None,
    iam: Any = None,
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
    async with iam_client(ctx, iam) as client:
        for key in keys:
            await client.update_access_key(UserName=user, AccessKeyId=key.key_id, Status="Inactive")
            ctx.log.info("access_key_deactivated", user=user, access_key_id=key.key_id)
    return {"user": user, "keys": {k.key_id: "Inactive" for k in keys}}


def still_planned(plan_keys: Iterable[str], eligible: Iterable[AccessKey]) -> list[AccessKey]:
    """Keys that were planned and are still eligible after the re-read (never new ones)."""
    planned = set(plan_keys)
    return [k for k in eligible if k.key_id in planned]


async def reactivate_keys(ctx: RemediationContext[Any], record: ActionRecord) -> list[str]:
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
    async with ctx.aws.client("iam") as iam:
        live = await read_access_keys(iam, user, last_used=False)
        if live is None:
            raise ResourceChanged(f"user {user} no longer exists; not reverting")
        status = {k.key_id: k.status for k in live}
        restore: list[str] = []
        for key_id, old in before_keys.items():
            now = status.get(key_id)
            if now is None:
                raise ResourceChanged(
                    f"access key {key_id} of {user} was deleted since; not reverting"
                )
            if after_keys is not None:
                if now != after_keys.get(key_id):
                    raise ResourceChanged(
                        f"access key {key_id} of {user} is {now} now, not "
                        f"{after_keys.get(key_id)} as the action left it; not reverting"
                    )
            elif now == old:
                continue  # apply failed before reaching this key
            restore.append(key_id)
        for key_id in restore:
            await iam.update_access_key(
                UserName=user, AccessKeyId=key_id, Status=before_keys[key_id]
            )
    return restore
