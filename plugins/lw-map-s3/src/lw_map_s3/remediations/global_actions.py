"""LW_S3_18 ... LW_S3_21: strip global Get / Delete / List / Put actions from public statements.

In each ``Allow`` for everyone that no condition restricts, the remediation removes
only the action patterns that grant *every* action of the rule's verb: ``*``,
``s3:*`` and ``s3:<prefix>*`` where ``<prefix>`` starts the verb (``s3:Get*``,
``s3:G*``). Specific actions (``s3:GetObject``) and the other patterns stay. A
statement left without actions is dropped; a policy left without statements is
deleted. A public ``NotAction`` statement that does not already exclude the verb
gets ``s3:<Verb>*`` added to its ``NotAction``, so it stops granting the verb.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

import pydantic

from lw_remediate import (
    Change,
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    VerifyResult,
    Violation,
)

from .._policy import (
    UNDO_NOTE,
    BucketPolicy,
    ConditionedStatements,
    Edit,
    Statement,
    apply_edit,
    as_list,
    checked_policy,
    is_public_allow,
    observed_policy,
    read_policy,
    revert_edit,
    statement_label,
)
from .._s3 import bucket_policy, resolves_missing_bucket

Verb = Literal["Get", "Delete", "List", "Put"]

#: Rule -> the verb whose global actions it flags.
RULES: Mapping[str, Verb] = {
    "LW_S3_18": "Get",
    "LW_S3_19": "Delete",
    "LW_S3_20": "List",
    "LW_S3_21": "Put",
}

_ACTION_RE = re.compile(r"^s3:[A-Za-z]+$")


def is_global(pattern: str, verb: str) -> bool:
    """True when ``pattern`` grants every ``s3:<verb>...`` action (``*``, ``s3:*``, ``s3:Ge*``)."""
    p = pattern.lower()
    if p == "*":
        return True
    if not p.endswith("*"):
        return False
    stem = p[:-1]
    if "*" in stem or "?" in stem:
        return False
    return f"s3:{verb.lower()}".startswith(stem)


class Options(RemediationOptions):
    """Which statements count as public, and what to grant instead."""

    #: ``ignore``: a conditioned public statement is left alone (as Lacework judges it);
    #: ``public_unless_restrictive``: only a condition on the caller's network, account,
    #: organisation or ARN protects it.
    conditioned_statements: ConditionedStatements = "ignore"
    #: Specific actions to grant in place of a removed global pattern, per verb, e.g.
    #: ``{"Get": ["s3:GetObject"]}`` for a bucket that must stay publicly readable.
    replacement_actions: dict[Verb, tuple[str, ...]] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("replacement_actions")
    @classmethod
    def _specific(cls, value: dict[Verb, tuple[str, ...]]) -> dict[Verb, tuple[str, ...]]:
        for verb, actions in value.items():
            for action in actions:
                if not _ACTION_RE.match(action) or is_global(action, verb):
                    raise ValueError(
                        f"replacement for {verb} must be specific S3 actions such as "
                        f"s3:{verb}Object, not {action!r}"
                    )
        return value


def verb_of(violation: Violation) -> Verb:
    try:
        return RULES[violation.rule_id]
    except KeyError:
        raise RemediationError(f"{violation.rule_id} is not a rule of this remediation") from None


def grants_globally(statement: Mapping[str, Any], verb: str, options: Options) -> bool:
    """A public, unrestricted Allow that grants every action of ``verb``."""
    if not is_public_allow(statement, options.conditioned_statements):
        return False
    if "NotAction" in statement:
        return not any(is_global(str(a), verb) for a in as_list(statement["NotAction"]))
    return any(is_global(str(a), verb) for a in as_list(statement.get("Action")))


def narrowed(statement: Statement, verb: Verb, options: Options) -> Statement | None:
    """The statement without its global ``verb`` grant (None: nothing left, drop it)."""
    new = dict(statement)
    if "NotAction" in statement:
        new["NotAction"] = [*as_list(statement["NotAction"]), f"s3:{verb}*"]
        return new
    actions = [a for a in as_list(statement.get("Action")) if not is_global(str(a), verb)]
    for extra in options.replacement_actions.get(verb, ()):
        if extra.lower() not in {str(a).lower() for a in actions}:
            actions.append(extra)
    if not actions:
        return None
    new["Action"] = actions[0] if len(actions) == 1 else actions
    return new


def edit(violation: Violation, options: Options, policy: BucketPolicy) -> Edit:
    verb = verb_of(violation)
    statements: list[Statement] = []
    changes: list[Change] = []
    described: list[str] = []
    for statement in policy.statements:
        if not grants_globally(statement, verb, options):
            statements.append(statement)
            continue
        new = narrowed(statement, verb, options)
        changes.append(Change("narrow_policy_statement", violation.resource_arn, statement, new))
        if new is None:
            described.append(f"drop {statement_label(statement)} (only global {verb} actions)")
        else:
            statements.append(new)
            described.append(f"narrow {statement_label(statement)} to {statement_label(new)}")
    if not changes:
        return Edit(statements, [], f"no public statement grants every {verb} action")
    summary = (
        f"remove the global {verb} actions from {len(changes)} public statement(s) of the "
        f"policy of bucket {violation.resource_name}: " + "; ".join(described)
    )
    if not statements:
        summary += "; nothing is left, so delete the policy"
        changes.append(Change("delete_bucket_policy", violation.resource_arn, policy.text, None))
    return Edit(
        statements,
        changes,
        summary,
        notes=[
            "removing '*' or 's3:*' also removes the other verbs that pattern granted",
            UNDO_NOTE,
        ],
    )


def offending(policy: BucketPolicy, violation: Violation, options: Options) -> list[Statement]:
    verb = verb_of(violation)
    return [s for s in policy.statements if grants_globally(s, verb, options)]


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    verb = verb_of(violation)
    policy = await read_policy(ctx, violation)
    found = offending(policy, violation, ctx.options)
    if not found:
        return CheckResult.compliant(f"no public statement grants every {verb} action")
    return CheckResult.violating(
        f"public statement(s) granting every {verb} action: "
        + ", ".join(statement_label(s) for s in found),
        **observed_policy(policy),
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the policy in this run: no second GetBucketPolicy (apply re-reads)
    return edit(violation, ctx.options, await checked_policy(ctx, violation)).plan()


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    return await apply_edit(ctx, partial(edit, ctx.violation, ctx.options))


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    verb = verb_of(violation)
    found = offending(await read_policy(ctx, violation), violation, ctx.options)
    if found:
        return VerifyResult.failed(
            f"still granting every {verb} action: " + ", ".join(statement_label(s) for s in found)
        )
    return VerifyResult.verified(f"no public statement grants every {verb} action")


REMEDIATION = Remediation(
    id="s3.remove_global_policy_actions",
    rules=tuple(RULES),
    title="Remove global Get/Delete/List/Put actions from public bucket-policy statements",
    description=(
        "In unconditioned public Allow statements, removes only the wildcard patterns that "
        "grant every action of the rule's verb; drops a statement left empty."
    ),
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_edit,
    options=Options,
)
