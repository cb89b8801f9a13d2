"""LW_AWS_IAM_3, 4, 5: SSH public keys rotated within 30 / 45 / 90 days.

IAM SSH public keys only serve CodeCommit over SSH, and IAM reports no last-used date
for them, so age is all there is. An ``Active`` key uploaded longer ago than the
threshold plus ``grace_days`` is deactivated -- reversible, undo reactivates it. Keys are
never deleted (re-uploading a deleted key would give it a new id).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    VerifyResult,
    Violation,
)

from .._iam import USER_ARNS, rule_threshold, utcnow
from .._keys import (
    SSH_KEY,
    SshKey,
    age_check,
    checked_keys,
    deactivate_keys,
    deactivation_changes,
    grace_note,
    nothing_due,
    read_ssh_keys,
    revert_deactivation,
    still_active,
    still_planned,
)

#: Maximum SSH key age in days, per rule.
THRESHOLDS: Mapping[str, int] = {"LW_AWS_IAM_3": 30, "LW_AWS_IAM_4": 45, "LW_AWS_IAM_5": 90}


class Options(RemediationOptions):
    """Threshold and grace period."""

    #: Maximum key age; default: the rule's own value (30 / 45 / 90 days).
    max_key_age_days: int | None = pydantic.Field(None, ge=1, le=3650)
    #: Extra days past the threshold before a key is deactivated (time to upload a new one).
    grace_days: int = pydantic.Field(0, ge=0, le=365)


def _threshold(ctx: RemediationContext[Any], violation: Violation) -> int:
    return rule_threshold(violation, THRESHOLDS, ctx.options.max_key_age_days, fallback=90)


def older_than(keys: list[SshKey], now: dt.datetime, days: int) -> list[SshKey]:
    cutoff = now - dt.timedelta(days=days)
    return [k for k in keys if k.active and k.uploaded < cutoff]


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    keys = await read_ssh_keys(ctx, user)
    if keys is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    days = _threshold(ctx, violation)
    old = older_than(keys, utcnow(), days)
    return age_check(
        SSH_KEY, user, old, days, max_key_age_days=days, ssh_keys=[k.to_dict() for k in keys]
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    # check read the keys in this run: no second ListSSHPublicKeys (apply re-reads)
    keys = await checked_keys(ctx, "ssh_keys", SshKey.from_dict, lambda: read_ssh_keys(ctx, user))
    if keys is None:
        return Plan(f"user {user} no longer exists")
    days, grace, now = _threshold(ctx, violation), ctx.options.grace_days, utcnow()
    due = older_than(keys, now, days + grace)
    waiting = [k for k in older_than(keys, now, days) if k not in due]
    later = [
        grace_note(SSH_KEY, k, grace, k.uploaded + dt.timedelta(days=days + grace)) for k in waiting
    ]
    if not due:
        return nothing_due(later, f"{user} has no active SSH public key older than {days} days")
    return Plan(
        summary=f"{user}: deactivate SSH public key(s) older than {days}"
        + (f"+{grace}" if grace else "")
        + " days: "
        + "; ".join(k.describe() for k in due),
        changes=deactivation_changes(violation, user, due, kind=SSH_KEY),
        data={"user": user, "keys": [k.key_id for k in due], "min_age_days": days + grace},
        notes=[
            "reversible: undo reactivates the keys; until then the user cannot push to "
            "CodeCommit over SSH with them (upload a new key to continue)",
            *later,
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    keys = await read_ssh_keys(ctx, user)  # re-read right before writing
    if keys is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    min_age = int(plan.data["min_age_days"])
    targets = still_planned(plan.data["keys"], older_than(keys, utcnow(), min_age))
    if not targets:
        return {"user": user, "keys": {}}
    return await deactivate_keys(ctx, user, targets, kind=SSH_KEY)


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    keys = await read_ssh_keys(ctx, user)
    if keys is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    days = _threshold(ctx, violation) + ctx.options.grace_days
    due = older_than(keys, utcnow(), days)
    if due:
        return still_active(due)
    return VerifyResult.verified(f"{user}: no active SSH public key older than {days} days")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    return await revert_deactivation(ctx, record, SSH_KEY)


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
