"""A user's credentials as a whole: reading them, what counts as unused, disabling them.

Shared by ``cis_iam.disable_unused_credentials`` (AWS_CIS_1_3, LW_AWS_IAM_6),
``cis_iam.disable_inactive_user`` (LW_AWS_IAM_7) and
``cis_iam.delete_unused_console_password`` (LW_AWS_IAM_14). Access keys are only ever
deactivated (undo reactivates them); a login profile can only be deleted, which is
**irreversible**: AWS cannot give a password back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    Plan,
    RemediationContext,
    RevertNotSupported,
    Violation,
)

from ._iam import as_utc, day, iso, login_profile, unless_missing, user_arn
from ._keys import (
    ACCESS_KEY,
    AccessKey,
    deactivate_keys,
    deactivation_changes,
    reactivate_keys,
    read_access_keys,
    restored,
    still_planned,
)

#: The plan note when access keys are deactivated.
KEYS_REVERSIBLE = (
    "deactivation is reversible (undo reactivates the keys); a consumer still holding a key "
    "gets InvalidClientTokenId until then"
)


@dataclass(frozen=True)
class UserCredentials:
    """What IAM says about one user's credentials."""

    user: str
    #: The user's CreateDate.
    created: dt.datetime | None
    keys: list[AccessKey]
    #: ``CreateDate`` and ``PasswordResetRequired`` of the login profile; None without one.
    login_profile: dict[str, Any] | None
    password_last_used: dt.datetime | None

    def observed(self, *, keys: bool = True) -> dict[str, Any]:
        """The state for a check result or a before-image (``keys=False``: without the
        access keys, for credentials read without them)."""
        state = {
            "user_created": iso(self.created),
            "keys": [k.to_dict() for k in self.keys],
            "login_profile": self.login_profile,
            "password_last_used": iso(self.password_last_used),
        }
        if not keys:
            del state["keys"]
        return state

    @classmethod
    def from_observed(cls, user: str, observed: Mapping[str, Any]) -> UserCredentials:
        """The credentials as :meth:`observed` recorded them."""
        return cls(
            user,
            as_utc(observed["user_created"]),
            [AccessKey.from_dict(k) for k in observed.get("keys", [])],
            observed["login_profile"],
            as_utc(observed["password_last_used"]),
        )


async def read_credentials(
    ctx: RemediationContext[Any], user: str, *, keys: bool = True
) -> UserCredentials | None:
    """The user's password and (unless ``keys=False``) key state; None when the user is gone."""
    async with ctx.aws.client("iam") as iam:
        response = await unless_missing(iam.get_user(UserName=user))
        if response is None:
            return None
        created = as_utc(response["User"].get("CreateDate"))
        password_last_used = as_utc(response["User"].get("PasswordLastUsed"))
        profile = await login_profile(iam, user)
    access_keys: list[AccessKey] | None = []
    if keys:
        access_keys = await read_access_keys(ctx, user)
        if access_keys is None:
            return None
    password: dict[str, Any] | None = None
    if profile is not None:
        password = {
            "CreateDate": iso(as_utc(profile.get("CreateDate"))),
            "PasswordResetRequired": bool(profile.get("PasswordResetRequired", False)),
        }
    return UserCredentials(user, created, access_keys or [], password, password_last_used)


async def checked_credentials(
    ctx: RemediationContext[Any], user: str, *, keys: bool = True
) -> UserCredentials | None:
    """The credentials ``plan`` builds on: what this run's ``check`` read (its ``observed``,
    :meth:`UserCredentials.observed`), else :func:`read_credentials` now (``ctx.checked``
    is None: ``plan`` runs without a ``check`` before it)."""
    checked = ctx.checked
    if checked is not None and "user_created" in checked.observed:
        return UserCredentials.from_observed(user, checked.observed)
    return await read_credentials(ctx, user, keys=keys)


def stale_keys(keys: Sequence[AccessKey], now: dt.datetime, days: int) -> list[AccessKey]:
    """Active keys last used (or, never used, created) more than ``days`` ago."""
    cutoff = now - dt.timedelta(days=days)
    return [k for k in keys if k.active and (k.last_used or k.created) < cutoff]


def unused_password(creds: UserCredentials, now: dt.datetime, days: int) -> str | None:
    """Why the console password counts as unused for ``days``, or None (none, or in use).

    Unused: last used more than ``days`` ago, or never used and the login profile is older.
    """
    if creds.login_profile is None:
        return None
    cutoff = now - dt.timedelta(days=days)
    if creds.password_last_used is not None:
        if creds.password_last_used < cutoff:
            return f"console password last used {day(creds.password_last_used)}"
        return None
    created = as_utc(creds.login_profile.get("CreateDate"))
    if created is not None and created < cutoff:
        return f"console password never used (login profile created {day(created)})"
    return None


def password_in_use(creds: UserCredentials) -> str:
    """The console password's last use, in words."""
    if creds.password_last_used is None:
        return "console password never used"
    return f"console password last used {day(creds.password_last_used)}"


def recreate_command(user: str) -> str:
    return f"`aws iam create-login-profile --user-name {user} --password-reset-required`"


def delete_profile_change(violation: Violation, creds: UserCredentials) -> Change:
    """The plan's change for deleting the login profile (before: its state, after: none)."""
    before = {**(creds.login_profile or {}), "PasswordLastUsed": iso(creds.password_last_used)}
    return Change("delete_login_profile", user_arn(violation, creds.user), before, None)


def irreversible_note(user: str) -> str:
    """The plan note that goes with :func:`delete_profile_change`."""
    return (
        f"IRREVERSIBLE: deleting the login profile of {user} removes the console password "
        "for good; undo cannot restore it (an administrator can create a new one with "
        f"{recreate_command(user)})"
    )


def disable_plan(
    violation: Violation,
    creds: UserCredentials,
    keys: Sequence[AccessKey],
    *,
    password: str | None,
    headline: str,
    reported: Sequence[str] = (),
    data: Mapping[str, Any] | None = None,
) -> Plan:
    """The plan to deactivate ``keys`` and, when ``password`` says why, delete the login
    profile (irreversible). ``reported`` are notes on what stays. At least one change."""
    changes = deactivation_changes(violation, creds.user, keys)
    notes = [KEYS_REVERSIBLE] if keys else []
    what = [f"deactivate access key {k.describe()}" for k in keys]
    if password:
        changes.append(delete_profile_change(violation, creds))
        notes.append(irreversible_note(creds.user))
        what.append(f"delete the login profile ({password})")
    return Plan(
        summary=f"{headline}: " + "; ".join(what),
        changes=changes,
        data={
            "user": creds.user,
            "keys": [k.key_id for k in keys],
            "delete_login_profile": bool(password),
            **(data or {}),
        },
        irreversible=bool(password),
        notes=[*notes, *reported],
    )


async def apply_disable(
    ctx: RemediationContext[Any],
    plan: Plan,
    creds: UserCredentials,
    eligible: Sequence[AccessKey],
    *,
    password_due: bool,
) -> dict[str, Any]:
    """Apply a :func:`disable_plan` to the state re-read right before: only the planned keys
    that are still ``eligible``, the login profile only if planned and still ``password_due``."""
    keys = still_planned(plan.data["keys"], eligible)
    delete_profile = bool(plan.data["delete_login_profile"]) and password_due
    if not keys and not delete_profile:
        return {"user": creds.user, "keys": {}}
    return await disable_credentials(ctx, creds, keys, delete_profile=delete_profile)


async def disable_credentials(
    ctx: RemediationContext[Any],
    creds: UserCredentials,
    keys: Sequence[AccessKey],
    *,
    delete_profile: bool,
) -> dict[str, Any]:
    """Record the before-image, deactivate ``keys``, delete the login profile if asked.

    ``creds`` is the state re-read right before this call. Returns the after-image.
    """
    after = await deactivate_keys(
        ctx,
        creds.user,
        keys,
        extra_before={
            "login_profile": creds.login_profile if delete_profile else None,
            "password_last_used": iso(creds.password_last_used),
        },
    )
    if delete_profile:
        async with ctx.aws.client("iam") as iam:
            await iam.delete_login_profile(UserName=creds.user)
        ctx.log.info("login_profile_deleted", user=creds.user)
    return {**after, "login_profile_deleted": delete_profile}


async def revert_disable(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    """Undo :func:`disable_credentials`: reactivate the keys; a deleted login profile cannot
    come back (RevertNotSupported when that was all the action did)."""
    before: Mapping[str, Any] = record.before_image or {}
    user = before.get("user", record.violation.resource_name)
    deleted = bool((record.after_image or {}).get("login_profile_deleted")) or bool(
        before.get("login_profile")
    )
    lost = (
        f"the deleted login profile of {user} cannot be restored (a password cannot be "
        f"recovered); create a new one with {recreate_command(user)} if the user needs the "
        "console"
    )
    key_ids = await reactivate_keys(ctx, record)
    if not key_ids and deleted:
        raise RevertNotSupported(lost)
    detail = restored(ACCESS_KEY, user, key_ids)
    return f"{detail}; {lost}" if deleted else detail
