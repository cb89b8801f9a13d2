"""AWS_CIS_1_5 ... AWS_CIS_1_11: tighten the account password policy, never loosen it.

``UpdateAccountPasswordPolicy`` resets every parameter it is not given, so each
write sends the complete merged policy. By default only the parameter(s) of the
violated rule are tightened; ``tighten_all`` applies the whole baseline at once.
A value that is already stricter than the baseline is always kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import unless_missing


class Options(RemediationOptions):
    """Baseline values; the defaults are the CIS benchmark's."""

    min_length: int = pydantic.Field(14, ge=6, le=128)
    reuse_prevention: int = pydantic.Field(24, ge=1, le=24)
    max_age_days: int = pydantic.Field(90, ge=1, le=1095)
    require_uppercase: bool = True
    require_lowercase: bool = True
    require_symbols: bool = True
    require_numbers: bool = True
    #: Tighten every baseline parameter whichever rule fired (default: only the rule's own).
    tighten_all: bool = False


#: Rule -> the password-policy parameter it is about.
RULE_FIELDS: Mapping[str, str] = {
    "AWS_CIS_1_5": "RequireUppercaseCharacters",
    "AWS_CIS_1_6": "RequireLowercaseCharacters",
    "AWS_CIS_1_7": "RequireSymbols",
    "AWS_CIS_1_8": "RequireNumbers",
    "AWS_CIS_1_9": "MinimumPasswordLength",
    "AWS_CIS_1_10": "PasswordReusePrevention",
    "AWS_CIS_1_11": "MaxPasswordAge",
}

#: What AWS uses for a parameter that is not set (no policy = these values).
AWS_DEFAULTS: Mapping[str, Any] = {
    "MinimumPasswordLength": 8,
    "RequireSymbols": False,
    "RequireNumbers": False,
    "RequireUppercaseCharacters": False,
    "RequireLowercaseCharacters": False,
    "AllowUsersToChangePassword": False,
    "MaxPasswordAge": None,
    "PasswordReusePrevention": None,
    "HardExpiry": False,
}

_WRITABLE = tuple(AWS_DEFAULTS)


async def read_policy(ctx: RemediationContext[Any]) -> dict[str, Any] | None:
    """The live password policy (writable fields only), or None when the account has none."""
    async with ctx.aws.client("iam") as iam:
        response = await unless_missing(iam.get_account_password_policy())
    if response is None:
        return None
    raw = response["PasswordPolicy"]
    policy = {k: raw.get(k, AWS_DEFAULTS[k]) for k in _WRITABLE}
    if not policy["MaxPasswordAge"]:  # moto reports 0 for "not set"; AWS omits the field
        policy["MaxPasswordAge"] = None
    return policy


def _target(options: Options, name: str) -> Any:
    return {
        "RequireUppercaseCharacters": options.require_uppercase,
        "RequireLowercaseCharacters": options.require_lowercase,
        "RequireSymbols": options.require_symbols,
        "RequireNumbers": options.require_numbers,
        "MinimumPasswordLength": options.min_length,
        "PasswordReusePrevention": options.reuse_prevention,
        "MaxPasswordAge": options.max_age_days,
    }[name]


def tightened(name: str, current: Any, target: Any) -> Any:
    """The stricter of ``current`` and ``target`` for one parameter."""
    if name.startswith("Require"):
        return bool(current) or bool(target)
    if name == "MaxPasswordAge":  # shorter is stricter; None means "never expires"
        return target if current is None else min(current, target)
    return target if current is None else max(current, target)


def _fields(options: Options, violation: Violation) -> list[str]:
    if options.tighten_all or violation.rule_id not in RULE_FIELDS:
        return list(RULE_FIELDS.values())
    return [RULE_FIELDS[violation.rule_id]]


def merged(
    current: Mapping[str, Any] | None, options: Options, fields: list[str]
) -> dict[str, Any]:
    """The complete policy to write: ``current`` with ``fields`` tightened."""
    base = dict(current) if current is not None else dict(AWS_DEFAULTS)
    if current is None:
        base["AllowUsersToChangePassword"] = True  # AWS console default for a new policy
    for name in fields:
        base[name] = tightened(name, base.get(name), _target(options, name))
    return base


def _update_kwargs(policy: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in policy.items() if v is not None}


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    current = await read_policy(ctx)
    fields = _fields(ctx.options, violation)
    wanted = merged(current, ctx.options, fields)
    weak = [f for f in fields if (current or AWS_DEFAULTS).get(f) != wanted[f]]
    if not weak:
        return CheckResult.compliant("password policy already meets the baseline", policy=current)
    return CheckResult.violating(f"password policy is weak in: {', '.join(weak)}", policy=current)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the policy in this run: no second GetAccountPasswordPolicy (apply re-reads)
    current: dict[str, Any] | None = await ctx.checked_or_read("policy", lambda: read_policy(ctx))
    wanted = merged(current, ctx.options, _fields(ctx.options, violation))
    shown = current or AWS_DEFAULTS
    changes = [
        Change("update_account_password_policy", f"{name}", shown.get(name), wanted[name])
        for name in _WRITABLE
        if shown.get(name) != wanted[name]
    ]
    if not changes:
        return Plan("password policy already meets the baseline")
    text = ", ".join(f"{c.target} {c.before} -> {c.after}" for c in changes)
    return Plan(
        summary=f"tighten the account password policy of {violation.account_id}: {text}",
        changes=changes,
        data={"policy": wanted},
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    current = await read_policy(ctx)  # re-read right before writing
    wanted = merged(current, ctx.options, _fields(ctx.options, ctx.violation))
    if current == wanted:
        return wanted
    await ctx.record_before({"policy": current})
    async with ctx.aws.client("iam") as iam:
        await iam.update_account_password_policy(**_update_kwargs(wanted))
    return {"policy": wanted}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    current = await read_policy(ctx)
    if current is None:
        return VerifyResult.failed("the account has no password policy after the change")
    fields = _fields(ctx.options, violation)
    weak = [f for f in fields if merged(current, ctx.options, fields)[f] != current[f]]
    if weak:
        return VerifyResult.failed(f"still weak after the change: {', '.join(weak)}")
    return VerifyResult.verified("password policy meets the baseline")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    current = await read_policy(ctx)
    written = (record.after_image or {}).get("policy")
    if current != written:
        raise ResourceChanged("the password policy changed since the action; not reverting")
    before = (record.before_image or {}).get("policy")
    async with ctx.aws.client("iam") as iam:
        if before is None:
            await iam.delete_account_password_policy()
            return "password policy deleted (the account had none before)"
        await iam.update_account_password_policy(**_update_kwargs(before))
    return "password policy restored to its previous values"


REMEDIATION = Remediation(
    id="cis_iam.tighten_password_policy",
    rules=(
        "AWS_CIS_1_5",
        "AWS_CIS_1_6",
        "AWS_CIS_1_7",
        "AWS_CIS_1_8",
        "AWS_CIS_1_9",
        "AWS_CIS_1_10",
        "AWS_CIS_1_11",
    ),
    title="Tighten the account password policy (never loosen it)",
    description=(
        "Merges the CIS baseline into the current password policy; stricter existing "
        "values are kept. Only the violated rule's parameter changes unless tighten_all."
    ),
    resource_type="iam:account",
    policy=IamPolicy.allow(["iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy"]),
    revert_policy=IamPolicy.allow(["iam:DeleteAccountPasswordPolicy"]),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
)
