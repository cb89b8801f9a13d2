"""LW_AWS_IAM_3, 4, 5: SSH public keys rotated within 30 / 45 / 90 days.

IAM SSH public keys only serve CodeCommit over SSH, and IAM reports no last-used date
for them, so age is all there is. An ``Active`` key uploaded longer ago than the
threshold plus ``grace_days`` is deactivated -- reversible, undo reactivates it. Keys are
never deleted (re-uploading a deleted key would give it a new id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import USER_ARNS, as_utc, day, is_no_such_entity, iso, rule_threshold, user_arn, utcnow

#: Maximum SSH key age in days, per rule.
THRESHOLDS: Mapping[str, int] = {"LW_AWS_IAM_3": 30, "LW_AWS_IAM_4": 45, "LW_AWS_IAM_5": 90}


class Options(RemediationOptions):
    """Threshold and grace period."""

    #: Maximum key age; default: the rule's own value (30 / 45 / 90 days).
    max_key_age_days: int | None = pydantic.Field(None, ge=1, le=3650)
    #: Extra days past the threshold before a key is deactivated (time to upload a new one).
    grace_days: int = pydantic.Field(0, ge=0, le=365)


@dataclass(frozen=True)
class SshKey:
    key_id: str
    status: str
    uploaded: dt.datetime

    def describe(self) -> str:
        return f"{self.key_id} (uploaded {day(self.uploaded)}, {self.status})"

    def to_dict(self) -> dict[str, Any]:
        return {
            "SSHPublicKeyId": self.key_id,
            "Status": self.status,
            "UploadDate": iso(self.uploaded),
        }


async def read_ssh_keys(iam: Any, user: str) -> list[SshKey] | None:
    """The user's SSH public keys, oldest first; None when the user does not exist."""
    keys: list[SshKey] = []
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


async def _read(ctx: RemediationContext[Any], user: str) -> list[SshKey] | None:
    async with ctx.aws.client("iam") as iam:
        return await read_ssh_keys(iam, user)


def _threshold(ctx: RemediationContext[Any], violation: Violation) -> int:
    return rule_threshold(violation, THRESHOLDS, ctx.options.max_key_age_days, fallback=90)


def older_than(keys: list[SshKey], now: dt.datetime, days: int) -> list[SshKey]:
    cutoff = now - dt.timedelta(days=days)
    return [k for k in keys if k.status == "Active" and k.uploaded < cutoff]


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    keys = await _read(ctx, user)
    if keys is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    days = _threshold(ctx, violation)
    old = older_than(keys, utcnow(), days)
    observed = {"max_key_age_days": days, "ssh_keys": [k.to_dict() for k in keys]}
    if not old:
        return CheckResult.compliant(
            f"{user} has no active SSH public key older than {days} days", **observed
        )
    return CheckResult.violating(
        f"{user}: active SSH public key(s) older than {days} days: "
        + "; ".join(k.describe() for k in old),
        **observed,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    keys = await _read(ctx, user)
    if keys is None:
        return Plan(f"user {user} no longer exists")
    days, grace, now = _threshold(ctx, violation), ctx.options.grace_days, utcnow()
    due = older_than(keys, now, days + grace)
    waiting = [k for k in older_than(keys, now, days) if k not in due]
    later = [
        f"SSH key {k.describe()} is within the {grace}-day grace period until "
        f"{day(k.uploaded + dt.timedelta(days=days + grace))}"
        for k in waiting
    ]
    if not due:
        if waiting:
            raise RemediationRefused("; ".join(later))
        return Plan(f"{user} has no active SSH public key older than {days} days")
    arn = user_arn(violation, user)
    return Plan(
        summary=f"{user}: deactivate SSH public key(s) older than {days}"
        + (f"+{grace}" if grace else "")
        + " days: "
        + "; ".join(k.describe() for k in due),
        changes=[
            Change(
                "update_ssh_public_key", f"{arn} SSH public key {k.key_id}", "Active", "Inactive"
            )
            for k in due
        ],
        data={"user": user, "keys": [k.key_id for k in due], "min_age_days": days + grace},
        notes=[
            "reversible: undo reactivates the keys; until then the user cannot push to "
            "CodeCommit over SSH with them (upload a new key to continue)",
            *later,
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    async with ctx.aws.client("iam") as iam:
        keys = await read_ssh_keys(iam, user)  # re-read right before writing
        if keys is None:
            raise RemediationRefused(f"user {user} disappeared before the change")
        planned = set(plan.data["keys"])
        min_age = int(plan.data["min_age_days"])
        targets = [k for k in older_than(keys, utcnow(), min_age) if k.key_id in planned]
        if not targets:
            return {"user": user, "keys": {}}
        await ctx.record_before(
            {
                "user": user,
                "keys": {k.key_id: k.status for k in targets},
                "key_details": [k.to_dict() for k in targets],
            }
        )
        for key in targets:
            await iam.update_ssh_public_key(
                UserName=user, SSHPublicKeyId=key.key_id, Status="Inactive"
            )
            ctx.log.info("ssh_key_deactivated", user=user, ssh_public_key_id=key.key_id)
    return {"user": user, "keys": {k.key_id: "Inactive" for k in targets}}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    keys = await _read(ctx, user)
    if keys is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    days = _threshold(ctx, violation) + ctx.options.grace_days
    due = older_than(keys, utcnow(), days)
    if due:
        return VerifyResult.failed(
            "still active after the change: " + ", ".join(k.describe() for k in due)
        )
    return VerifyResult.verified(f"{user}: no active SSH public key older than {days} days")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    user = str(before.get("user", record.violation.resource_name))
    before_keys: Mapping[str, str] = before.get("keys", {})
    after_keys: Mapping[str, str] | None = (record.after_image or {}).get("keys")
    async with ctx.aws.client("iam") as iam:
        live = await read_ssh_keys(iam, user)
        if live is None:
            raise ResourceChanged(f"user {user} no longer exists; not reverting")
        status = {k.key_id: k.status for k in live}
        restore: list[str] = []
        for key_id, old in before_keys.items():
            now = status.get(key_id)
            if now is None:
                raise ResourceChanged(f"SSH key {key_id} of {user} was deleted; not reverting")
            if after_keys is not None:
                if now != after_keys.get(key_id):
                    raise ResourceChanged(
                        f"SSH key {key_id} of {user} is {now} now, not "
                        f"{after_keys.get(key_id)} as the action left it; not reverting"
                    )
            elif now == old:
                continue  # apply failed before reaching this key
            restore.append(key_id)
        for key_id in restore:
            await iam.update_ssh_public_key(
                UserName=user, SSHPublicKeyId=key_id, Status=before_keys[key_id]
            )
    if not restore:
        return f"nothing to restore for {user}"
    return f"reactivated SSH public key(s) {', '.join(restore)} of {user}"


REMEDIATION = Remediation(
    id="cis_iam.deactivate_old_ssh_keys",
    rules=("LW_AWS_IAM_3", "LW_AWS_IAM_4", "LW_AWS_IAM_5"),
    title="Deactivate IAM SSH public keys older than 30 / 45 / 90 days (plus grace)",
    description=(
        "Deactivates Active CodeCommit SSH public keys uploaded longer ago than the rule's "
        "threshold plus grace_days (0). Never deletes them; undo reactivates."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:ListSSHPublicKeys", "iam:UpdateSSHPublicKey"], USER_ARNS),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
