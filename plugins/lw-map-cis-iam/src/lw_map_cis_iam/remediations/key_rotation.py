"""AWS_CIS_1_4, LW_AWS_IAM_1, 2, 12, 13: access keys rotated within 90 / 30 / 45 / 350 / 180 days.

The daemon cannot rotate a key: it can neither issue nor deliver a new secret to the
key's consumer. So the default is to notify (``manual``). The opt-in
``deactivate_if_rotated`` retires an old key only when rotation has evidently happened:
the same user has a *newer* ``Active`` key that has been used since it was created. A
user's only working key is never touched.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal

import pydantic

from lw_remediate import (
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

from .._iam import KEY_LAST_USED_ARNS, USER_ARNS, rule_threshold, utcnow
from .._keys import (
    ACCESS_KEY,
    AccessKey,
    age_check,
    checked_keys,
    deactivate_keys,
    deactivation_changes,
    nothing_due,
    read_access_keys,
    revert_deactivation,
    still_active,
    still_planned,
)

#: Maximum key age in days, per rule.
THRESHOLDS: Mapping[str, int] = {
    "AWS_CIS_1_4": 90,
    "LW_AWS_IAM_1": 30,
    "LW_AWS_IAM_2": 45,
    "LW_AWS_IAM_12": 350,
    "LW_AWS_IAM_13": 180,
}


class Options(RemediationOptions):
    """Notify by default; deactivation only once a newer key is in use."""

    action: Literal["notify", "deactivate_if_rotated"] = "notify"
    #: Maximum key age; default: the rule's own value (90 / 30 / 45 / 350 / 180 days).
    max_key_age_days: int | None = pydantic.Field(None, ge=1, le=3650)


def _threshold(ctx: RemediationContext[Any], violation: Violation) -> int:
    return rule_threshold(violation, THRESHOLDS, ctx.options.max_key_age_days, fallback=90)


def old_keys(keys: list[AccessKey], now: dt.datetime, days: int) -> list[AccessKey]:
    """Active keys created more than ``days`` ago."""
    cutoff = now - dt.timedelta(days=days)
    return [k for k in keys if k.active and k.created < cutoff]


def successor(key: AccessKey, keys: list[AccessKey]) -> AccessKey | None:
    """A newer Active key of the same user that has been used since it was created."""
    for other in keys:
        if (
            other.key_id != key.key_id
            and other.active
            and other.created > key.created
            and other.last_used is not None
            and other.last_used >= other.created
        ):
            return other
    return None


def retirable(
    keys: list[AccessKey], now: dt.datetime, days: int
) -> tuple[list[tuple[AccessKey, AccessKey]], list[AccessKey]]:
    """(old key, its successor) pairs that may go, and the old keys that must stay.

    A key never counts as a successor once it is itself being retired, so at least one
    working key always remains.
    """
    going: list[tuple[AccessKey, AccessKey]] = []
    staying: list[AccessKey] = []
    retired: set[str] = set()
    for key in old_keys(keys, now, days):  # oldest first
        candidates = [k for k in keys if k.key_id not in retired]
        newer = successor(key, candidates)
        if newer is None:
            staying.append(key)
        else:
            going.append((key, newer))
            retired.add(key.key_id)
    return going, staying


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    user = violation.resource_name
    keys = await read_access_keys(ctx, user)
    if keys is None:
        return CheckResult.compliant(f"user {user} no longer exists")
    days = _threshold(ctx, violation)
    old = old_keys(keys, utcnow(), days)
    return age_check(
        ACCESS_KEY, user, old, days, max_key_age_days=days, keys=[k.to_dict() for k in keys]
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    user = violation.resource_name
    # check read the keys in this run: not again (apply re-reads)
    keys = await checked_keys(ctx, "keys", AccessKey.from_dict, lambda: read_access_keys(ctx, user))
    if keys is None:
        return Plan(f"user {user} no longer exists")
    days = _threshold(ctx, violation)
    going, staying = retirable(keys, utcnow(), days)
    kept = [
        f"access key {k.describe()} is kept: {user} has no newer active key in use, so it "
        "may be the user's only working key -- rotate it (create a new key, move its "
        "consumers, then retire the old one)"
        for k in staying
    ]
    if not going:
        return nothing_due(kept, f"{user} has no active access key older than {days} days")
    return Plan(
        summary=f"{user}: deactivate rotated access key(s) older than {days} days: "
        + "; ".join(f"{old.describe()}, replaced by {new.describe()}" for old, new in going),
        changes=deactivation_changes(violation, user, [old for old, _ in going]),
        data={
            "user": user,
            "keys": [old.key_id for old, _ in going],
            "successors": {old.key_id: new.key_id for old, new in going},
            "max_key_age_days": days,
        },
        notes=[
            "deactivation is reversible (undo reactivates the keys); a consumer still using "
            "an old key gets InvalidClientTokenId until then",
            *kept,
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    user = str(plan.data["user"])
    keys = await read_access_keys(ctx, user)  # re-read right before writing
    if keys is None:
        raise RemediationRefused(f"user {user} disappeared before the change")
    going, _ = retirable(keys, utcnow(), int(plan.data["max_key_age_days"]))
    # only planned keys, and only while their successor is still active and in use
    targets = still_planned(plan.data["keys"], [old for old, _ in going])
    if not targets:
        return {"user": user, "keys": {}}
    successors = {old.key_id: new.to_dict() for old, new in going}
    return await deactivate_keys(
        ctx,
        user,
        targets,
        extra_before={"successors": {k.key_id: successors[k.key_id] for k in targets}},
    )


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    user = violation.resource_name
    keys = await read_access_keys(ctx, user)
    if keys is None:
        return VerifyResult.verified(f"user {user} no longer exists")
    going, staying = retirable(keys, utcnow(), _threshold(ctx, violation))
    if going:
        return still_active(old for old, _ in going)
    if not any(k.active for k in keys):
        return VerifyResult.failed(f"{user} has no active access key left")  # never by us
    detail = f"{user}: rotated access keys are inactive"
    if staying:
        detail += "; not rotated yet (kept): " + ", ".join(k.describe() for k in staying)
    return VerifyResult.verified(detail)


def _option_policy(options: Options) -> IamPolicy:
    if options.action == "deactivate_if_rotated":
        return IamPolicy.allow(["iam:UpdateAccessKey"], USER_ARNS)
    return IamPolicy()


RUNBOOK = """\
Access key(s) of IAM user {resource_name} in account {account} are older than {rule_id} allows.
The daemon cannot rotate a key (it cannot hand a new secret to the key's consumer). For each old key:
1. aws iam list-access-keys --user-name {resource_name}   (note the old key's AccessKeyId)
2. aws iam create-access-key --user-name {resource_name}   (a user may hold two keys; deactivate
   or delete an unused one first if it already has two)
3. Move every consumer of the old key (CI secrets, ~/.aws/credentials, applications) to the new key.
4. Confirm the new key is in use: aws iam get-access-key-last-used --access-key-id <new key id>
5. aws iam update-access-key --user-name {resource_name} --access-key-id <old key id> --status Inactive
6. After a quiet period: aws iam delete-access-key --user-name {resource_name} --access-key-id <old key id>
Once step 4 shows the new key in use, the option action = "deactivate_if_rotated" lets
lw-remediate do step 5 (reversibly) for you."""


REMEDIATION = Remediation(
    id="cis_iam.retire_old_access_keys",
    rules=("AWS_CIS_1_4", "LW_AWS_IAM_1", "LW_AWS_IAM_2", "LW_AWS_IAM_12", "LW_AWS_IAM_13"),
    title="Retire access keys older than the rule allows once a newer key is in use",
    description=(
        "Notifies by default (a key cannot be rotated for its consumer). The opt-in "
        "deactivate_if_rotated deactivates an old key only when the user has a newer "
        "active key used since its creation; a user's only working key is never touched. "
        "Maximum age per rule: AWS_CIS_1_4 90 days, LW_AWS_IAM_1 30, LW_AWS_IAM_2 45, "
        "LW_AWS_IAM_12 350, LW_AWS_IAM_13 180."
    ),
    resource_type="iam:user",
    policy=IamPolicy.allow(["iam:ListAccessKeys"], USER_ARNS)
    + IamPolicy.allow(["iam:GetAccessKeyLastUsed"], KEY_LAST_USED_ARNS),
    option_policy=_option_policy,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_deactivation,
    options=Options,
    manual_when=lambda options: options.action == "notify",
    runbook=RUNBOOK,
)
