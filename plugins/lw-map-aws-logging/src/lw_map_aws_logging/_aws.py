"""Small helpers shared by the logging remediations: resource patterns, errors, templates."""

from __future__ import annotations

import re
import string
from collections.abc import Awaitable, Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import RemediationRefused, Violation

#: Resource patterns (IAM Service Authorization Reference). ``{region}`` and ``{account}``
#: are filled in when the policy is rendered; ``*`` where not.
TRAIL = "arn:{partition}:cloudtrail:{region}:{account}:trail/*"
LOG_GROUP = "arn:{partition}:logs:{region}:{account}:log-group:*"
ALARM = "arn:{partition}:cloudwatch:{region}:{account}:alarm:*"
KEY = "arn:{partition}:kms:{region}:{account}:key/*"
TOPIC = "arn:{partition}:sns:{region}:{account}:*"
RECORDER = "arn:{partition}:config:{region}:{account}:configuration-recorder/*"

#: Actions AWS grants only on ``*`` (no resource-level permission exists for them).
ANY = ("*",)


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")) or error_code(exc)


async def unless(call: Awaitable[Any], *codes: str) -> Any:
    """The answer of ``call``, or None when AWS answers with one of the error ``codes``."""
    try:
        return await call
    except ClientError as exc:
        if error_code(exc) in codes:
            return None
        raise


def template_fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_template(value: str | None, allowed: Iterable[str], option: str) -> str | None:
    """Validate an option template: only the ``allowed`` ``{placeholders}``."""
    allowed = set(allowed)
    if value is not None and not template_fields(value) <= allowed:
        names = ", ".join("{" + a + "}" for a in sorted(allowed)) or "no placeholder"
        raise ValueError(f"{option} may only use {names}")
    return value


def fill(template: str, violation: Violation, region: str, **extra: str) -> str:
    """A template with ``{account}``, ``{region}`` (and ``extra``) filled in."""
    return template.format(account=violation.account_id, region=region, **extra)


def refuse_without(option: str, remediation_id: str, what: str) -> RemediationRefused:
    """The refusal of an action whose configuration is missing: it names the option."""
    return RemediationRefused(
        f'{what}: set {option} under [remediation."{remediation_id}"]; '
        "lw-remediate never guesses a destination"
    )


def as_list(value: Any) -> list[Any]:
    """A policy field that may be one value or a list, as a list."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def allows_service(statement: Mapping[str, Any], service: str, action: str) -> bool:
    """True when ``statement`` Allows the service principal ``service`` (e.g.
    ``cloudtrail.amazonaws.com``) ``action``, wildcards in the statement's actions included.
    Conditions are not evaluated."""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    services = as_list(principal.get("Service")) if isinstance(principal, dict) else []
    if service not in services:
        return False
    return any(
        re.fullmatch(re.escape(str(a)).replace(r"\*", ".*"), action, re.IGNORECASE)
        for a in as_list(statement.get("Action"))
    )
