"""LW_AWS_SERVERLESS_2: a Lambda function's resource policy lets other accounts in.

Removes (``RemovePermission``, by statement id) every ``Allow`` statement that admits an
account outside the function's own account and ``allowed_accounts``:

- an AWS principal in another account (``"210987654321"``,
  ``arn:aws:iam::210987654321:root``, a role or user of that account);
- the principal ``*``, unless ``aws:SourceAccount`` / ``aws:PrincipalAccount`` pins it to
  allowed accounts or ``aws:PrincipalOrgID`` names an organization in ``allowed_org_ids``;
- a service principal whose ``aws:SourceAccount`` names another account.

Service principals without a source account (``s3.amazonaws.com`` with a ``SourceArn``)
and every statement of the own or allowed accounts stay. Undo re-adds each removed
statement with ``AddPermission``, rebuilt from the recorded statement (action, principal,
source ARN, source account, organization, function-URL auth type); a statement with a
condition ``AddPermission`` cannot express is not removed (``refused``), since undo could
not restore it.
"""

from __future__ import annotations

import re
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
    RemediationRefused,
    ResourceChanged,
    Violation,
)

from .._common import (
    FUNCTION,
    as_list,
    condition_keys,
    condition_values,
    or_none,
    parse_policy,
    verify_by,
)
from .._lambda import function_name

_ACCOUNT = re.compile(r"^\d{12}$")
_ARN_ACCOUNT = re.compile(r"^arn:[^:]+:[^:]*:[^:]*:(\d{12}):")
#: Condition keys AddPermission can write back (lower case).
_RESTORABLE = frozenset(
    {"aws:sourcearn", "aws:sourceaccount", "aws:principalorgid", "lambda:functionurlauthtype"}
)

Statement = dict[str, Any]


class Options(RemediationOptions):
    #: Accounts besides the function's own that may stay in its resource policy.
    allowed_accounts: tuple[str, ...] = ()
    #: Organizations (``o-…``) whose ``aws:PrincipalOrgID`` statements may stay.
    allowed_org_ids: tuple[str, ...] = ()

    @pydantic.field_validator("allowed_accounts")
    @classmethod
    def _accounts(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            if not _ACCOUNT.match(value):
                raise ValueError(f"not a 12-digit account id: {value!r}")
        return values


def _principal_accounts(statement: Statement) -> list[str] | None:
    """Accounts of the AWS principals (``*`` for everyone); None for a service principal."""
    principal = statement.get("Principal")
    if principal == "*":
        return ["*"]
    if isinstance(principal, str):
        principal = {"AWS": principal}
    if not isinstance(principal, Mapping) or "AWS" not in principal:
        return None
    accounts = []
    for value in as_list(principal.get("AWS")):
        text = str(value)
        match = _ARN_ACCOUNT.match(text)
        accounts.append("*" if text == "*" else match.group(1) if match else text)
    return accounts


def outside_accounts(statement: Statement, allowed: set[str], orgs: set[str]) -> list[str]:
    """The accounts (or ``*``) outside ``allowed`` an ``Allow`` statement admits."""
    if statement.get("Effect") != "Allow":
        return []
    pinned = (condition_values(statement, "aws:SourceAccount") or []) + (
        condition_values(statement, "aws:PrincipalAccount") or []
    )
    principals = _principal_accounts(statement)
    if principals is None:  # a service principal: only its source account matters
        return sorted(set(pinned) - allowed)
    outside = sorted(set(principals) - allowed)
    if outside == ["*"]:
        if pinned:
            return sorted(set(pinned) - allowed)
        org_ids = condition_values(statement, "aws:PrincipalOrgID")
        if org_ids and set(org_ids) <= orgs:
            return []
    return outside


def add_permission_args(statement: Statement) -> dict[str, Any] | None:
    """``AddPermission`` arguments that re-create ``statement``; None when they cannot."""
    if condition_keys(statement) - _RESTORABLE or not statement.get("Sid"):
        return None
    actions = as_list(statement.get("Action"))
    principal = statement.get("Principal")
    if len(actions) != 1:
        return None
    if isinstance(principal, Mapping):
        values = as_list(principal.get("AWS") or principal.get("Service"))
        if len(principal) != 1 or len(values) != 1:
            return None
        principal = values[0]
    args: dict[str, Any] = {
        "StatementId": statement["Sid"],
        "Action": actions[0],
        "Principal": str(principal),
    }
    for key, param in (
        ("aws:SourceArn", "SourceArn"),
        ("aws:SourceAccount", "SourceAccount"),
        ("aws:PrincipalOrgID", "PrincipalOrgID"),
        ("lambda:FunctionUrlAuthType", "FunctionUrlAuthType"),
    ):
        found = condition_values(statement, key)
        if found:
            if len(found) != 1:
                return None
            args[param] = found[0]
    if statement.get("FunctionUrlAuthType"):  # how Lambda renders it on the statement
        args["FunctionUrlAuthType"] = statement["FunctionUrlAuthType"]
    return args


async def read_policy(ctx: RemediationContext[Any], name: str) -> str | None:
    """The function's resource policy text; None without one (or when it is gone)."""
    async with ctx.aws.client("lambda") as client:
        response = await or_none(client.get_policy(FunctionName=name))
    return None if response is None else str(response.get("Policy") or "") or None


async def _exists(ctx: RemediationContext[Any], name: str) -> bool:
    async with ctx.aws.client("lambda") as client:
        return await or_none(client.get_function_configuration(FunctionName=name)) is not None


def _offending(ctx: RemediationContext[Any], text: str | None, what: str) -> list[Statement]:
    allowed = {ctx.violation.account_id, *ctx.options.allowed_accounts}
    orgs = set(ctx.options.allowed_org_ids)
    statements = as_list(parse_policy(text, what).get("Statement"))
    return [s for s in statements if outside_accounts(s, allowed, orgs)]


def _describe(statement: Statement, ctx: RemediationContext[Any]) -> str:
    allowed = {ctx.violation.account_id, *ctx.options.allowed_accounts}
    accounts = outside_accounts(statement, allowed, set(ctx.options.allowed_org_ids))
    return f"{statement.get('Sid', '?')} ({', '.join(accounts)})"


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = function_name(violation)
    if not await _exists(ctx, name):
        return CheckResult.compliant(f"function {name} no longer exists")
    text = await read_policy(ctx, name)
    offending = _offending(ctx, text, f"function {name}")
    if not offending:
        return CheckResult.compliant(f"no statement of function {name} admits another account")
    return CheckResult.violating(
        f"function {name} admits other accounts: "
        + ", ".join(_describe(s, ctx) for s in offending),
        policy=text,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    name = function_name(violation)
    # check read the resource policy in this run: no second GetPolicy
    text: str | None = await ctx.checked_or_read("policy", lambda: read_policy(ctx, name))
    offending = _offending(ctx, text, f"function {name}")
    if not offending:
        return Plan(f"no statement of function {name} admits another account")
    lossy = [str(s.get("Sid", "?")) for s in offending if add_permission_args(s) is None]
    if lossy:
        raise RemediationRefused(
            f"statement(s) {', '.join(lossy)} of function {name} carry conditions or principals "
            "AddPermission cannot re-create, so undo could not restore them; remove them by "
            f"hand: aws lambda remove-permission --function-name {name} --statement-id <sid>"
        )
    return Plan(
        summary=f"remove statement(s) of function {name} admitting other accounts: "
        + ", ".join(_describe(s, ctx) for s in offending),
        changes=[Change("remove_permission", f"{name} {s['Sid']}", s, None) for s in offending],
        notes=[
            "callers from those accounts (cross-account invokers, event sources) stop working",
            "every other statement stays; undo re-adds the removed statements",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    name = function_name(ctx.violation)
    text = await read_policy(ctx, name)
    offending = _offending(ctx, text, f"function {name}")
    await ctx.record_before({"Policy": text, "Removed": offending})
    async with ctx.aws.client("lambda") as client:
        for statement in offending:
            await client.remove_permission(FunctionName=name, StatementId=statement["Sid"])
    return {"Policy": await read_policy(ctx, name)}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    name = function_name(record.violation)
    removed = list((record.before_image or {}).get("Removed", []))
    live = parse_policy(await read_policy(ctx, name), f"function {name}")
    present = {s.get("Sid") for s in as_list(live.get("Statement"))}
    back = sorted(str(s["Sid"]) for s in removed if s.get("Sid") in present)
    if back:
        raise ResourceChanged(
            f"statement(s) {', '.join(back)} of function {name} are back since the remediation"
        )
    async with ctx.aws.client("lambda") as client:
        for statement in removed:
            args = add_permission_args(statement)
            if args is not None:
                await client.add_permission(FunctionName=name, **args)
    return f"re-added statement(s) {', '.join(str(s['Sid']) for s in removed)} of function {name}"


REMEDIATION = Remediation(
    id="services.remove_lambda_cross_account_access",
    rules=("LW_AWS_SERVERLESS_2",),
    title="Remove Lambda resource-policy statements admitting accounts not on the allow-list",
    description=(
        "Removes Allow statements for other accounts (and unpinned '*'); the function's own "
        "account, allowed_accounts and allowed_org_ids stay."
    ),
    resource_type="lambda:function",
    policy=IamPolicy.allow(
        ["lambda:GetFunctionConfiguration", "lambda:GetPolicy", "lambda:RemovePermission"],
        [FUNCTION],
    ),
    revert_policy=IamPolicy.allow(["lambda:AddPermission"], [FUNCTION]),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
