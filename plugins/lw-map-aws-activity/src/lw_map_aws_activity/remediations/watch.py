"""Watch-only activity classes: root usage, unauthorized API calls, console sign-in
without MFA, a new IAM user, a sign-in from a new geolocation.

No AWS call at all: each ends ``manual`` with a runbook naming the user, source IP, API
calls and time from the alert (``violation.activity``), so a person decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lw_remediate import (
    ActivityEvent,
    CheckResult,
    IamPolicy,
    ManualActionRequired,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
)

_RUNBOOK = (
    "{what} in account {account}: review it with the actor's owner. "
    "User: {user}. Source IP: {ip}. API: {apis}. Time: {time}. Lacework alert {alert} "
    "({policy}). {advice}"
)


def _runbook(what: str, advice: str) -> Callable[[Violation], str]:
    def render(violation: Violation) -> str:
        event = violation.activity
        if event is None:
            event = ActivityEvent(alert_id=violation.alert_id or "?")
        return _RUNBOOK.format(
            what=what,
            account=violation.account_id,
            user=event.user or "(not in the alert)",
            ip=", ".join(event.source_ips) or "(not in the alert)",
            apis=", ".join(event.apis) or "(not in the alert)",
            time=event.time or "(not in the alert)",
            alert=event.alert_id,
            policy=event.policy_id or event.alert_type or "no policy id",
            advice=advice,
        )

    return render


async def _never(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    return Plan("watch only: nothing to change")


@dataclass(frozen=True)
class Watched:
    """One watch-only class: how to recognise it and the remediation that answers it."""

    event_class: str
    policy_ids: tuple[str, ...]
    apis: tuple[str, ...]
    alert_types: tuple[str, ...]
    remediation: Remediation
    also: Callable[[ActivityEvent], bool] | None = None

    def matches(self, event: ActivityEvent) -> bool:
        if event.policy_id and event.policy_id in self.policy_ids:
            return True
        if event.alert_type and event.alert_type.lower() in {t.lower() for t in self.alert_types}:
            return True
        return self.also is not None and self.also(event)


def _watch(rid: str, rule: str, title: str, what: str, advice: str) -> Remediation:
    render = _runbook(what, advice)

    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        raise ManualActionRequired(render(violation))

    check.__qualname__ = f"{rid}.check"
    return Remediation(
        id=rid,
        rules=(rule,),
        title=title,
        description=f"Watch only: {what.lower()}; a runbook naming the actor, no AWS call.",
        resource_type="cloudtrail:event",
        policy=IamPolicy(),
        check=check,
        plan=_never,
        auto_remediable=False,
        runbook=f"{what} in account {{account}}: see the alert's user, source IP, API and time.",
    )


ROOT = _watch(
    "activity.review_root_usage",
    "lacework-global-8",
    "Root account used: runbook naming the source IP, API and time",
    "The root user was used",
    "If nobody expected it, rotate the root password, check its MFA device and look for "
    "other activity from this source IP.",
)
UNAUTHORIZED = _watch(
    "activity.review_unauthorized_calls",
    "lacework-global-29",
    "Unauthorized API calls: runbook naming the user, source IP, API and time",
    "API calls were denied (AccessDenied / UnauthorizedOperation)",
    "Repeated denials can be a misconfigured tool or a probe with stolen credentials: "
    "confirm with the user, deactivate its access keys if it is not theirs.",
)
NO_MFA = _watch(
    "activity.review_console_login_without_mfa",
    "ACTIVITY:CONSOLE_LOGIN_WITHOUT_MFA",
    "Console sign-in without MFA: runbook naming the user, source IP and time",
    "A console sign-in without MFA happened",
    "Require MFA for the user (CIS 1.2); if the sign-in was not theirs, reset its password.",
)
NEW_USER = _watch(
    "activity.review_new_user",
    "ACTIVITY:NEW_USER",
    "New IAM user: runbook naming who created it, from where and when",
    "An IAM user was created",
    "Confirm the user is expected and follows the account's identity policy (prefer roles "
    "and SSO); delete it if it is not.",
)
NEW_GEO = _watch(
    "activity.review_new_geolocation_login",
    "ACTIVITY:NEW_GEOLOCATION_LOGIN",
    "Sign-in from a new geolocation: runbook naming the user, source IP and time",
    "A sign-in from a new geolocation happened",
    "Confirm the location with the user; if it was not them, reset the credentials and "
    "revoke active sessions.",
)


def _console_without_mfa(event: ActivityEvent) -> bool:
    return "ConsoleLogin" in event.apis and event.mfa is False and (event.user or "") != "root"


def _geolocation(event: ActivityEvent) -> bool:
    text = f"{event.alert_type or ''} {event.title}".lower()
    return "geolocation" in text or "geo location" in text


WATCHED = (
    Watched(
        "Root account usage",
        ("lacework-global-8",),
        (),
        ("UsageOfRootAccount",),
        ROOT,
        lambda e: (e.user or "").lower() == "root",
    ),
    Watched(
        "Unauthorized API calls",
        ("lacework-global-29",),
        (),
        ("UnauthorizedAPICall",),
        UNAUTHORIZED,
    ),
    Watched(
        "Console sign-in without MFA (CIS 3.2 event)",
        (),
        ("ConsoleLogin",),
        (),
        NO_MFA,
        _console_without_mfa,
    ),
    Watched(
        "New IAM user",
        (),
        ("CreateUser",),
        (),
        NEW_USER,
        lambda e: "CreateUser" in e.apis,
    ),
    Watched(
        "Sign-in from a new geolocation",
        (),
        ("ConsoleLogin",),
        (),
        NEW_GEO,
        _geolocation,
    ),
)
REMEDIATIONS = tuple(w.remediation for w in WATCHED)
