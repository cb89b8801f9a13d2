"""LW_S3_11: remove the bucket-policy statements that Allow everyone without a condition.

A statement is offending when it is an ``Allow`` whose principal is public (``"*"``,
``{"AWS": "*"}`` or any ``NotPrincipal``) and no condition restricts it. Every other
statement -- cross-account grants, service principals, Denies, conditioned public
statements -- is kept as it is. The policy is deleted only when nothing is left.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

from lw_remediate import (
    Change,
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    VerifyResult,
    Violation,
)

from .._policy import (
    UNDO_NOTE,
    BucketPolicy,
    ConditionedStatements,
    Edit,
    apply_edit,
    checked_policy,
    is_public_allow,
    observed_policy,
    read_policy,
    revert_edit,
    statement_label,
)
from .._s3 import bucket_policy, resolves_missing_bucket


class Options(RemediationOptions):
    """Which conditions make a public statement acceptable."""

    #: ``ignore``: any condition does (as Lacework judges it). ``public_unless_restrictive``:
    #: only a condition on the caller's network, account, organisation or ARN does.
    conditioned_statements: ConditionedStatements = "ignore"


def offending(policy: BucketPolicy, options: Options) -> list[dict[str, Any]]:
    return [s for s in policy.statements if is_public_allow(s, options.conditioned_statements)]


def edit(violation: Violation, options: Options, policy: BucketPolicy) -> Edit:
    removed = offending(policy, options)
    kept = [s for s in policy.statements if not is_public_allow(s, options.conditioned_statements)]
    changes = [Change("remove_policy_statement", violation.resource_arn, s, None) for s in removed]
    if not removed:
        return Edit(kept, [], "no public Allow statement in the policy")
    summary = (
        f"remove {len(removed)} public Allow statement(s) from the policy of bucket "
        f"{violation.resource_name}: " + ", ".join(statement_label(s) for s in removed)
    )
    if kept:
        summary += f"; keep the other {len(kept)} statement(s)"
    else:
        summary += "; nothing is left, so delete the policy"
        changes.append(Change("delete_bucket_policy", violation.resource_arn, policy.text, None))
    return Edit(kept, changes, summary)


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    policy = await read_policy(ctx, violation)
    if policy.text is None:
        return CheckResult.compliant("the bucket has no policy")
    removed = offending(policy, ctx.options)
    if not removed:
        return CheckResult.compliant("no statement of the policy Allows everyone unconditionally")
    return CheckResult.violating(
        "public Allow statement(s): " + ", ".join(statement_label(s) for s in removed),
        **observed_policy(policy),
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    # check read the policy in this run: no second GetBucketPolicy (apply re-reads)
    return edit(violation, ctx.options, await checked_policy(ctx, violation)).plan(UNDO_NOTE)


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    return await apply_edit(ctx, partial(edit, ctx.violation, ctx.options))


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    policy = await read_policy(ctx, violation)
    left = offending(policy, ctx.options)
    if left:
        return VerifyResult.failed("still public: " + ", ".join(statement_label(s) for s in left))
    if policy.text is None:
        return VerifyResult.verified("the bucket has no policy")
    return VerifyResult.verified(
        f"no public Allow statement left; {len(policy.statements)} statement(s) kept"
    )


REMEDIATION = Remediation(
    id="s3.remove_public_policy_statements",
    rules=("LW_S3_11",),
    title="Remove bucket-policy statements that Allow everyone",
    description=(
        "Drops unconditioned Allow statements for Principal '*' / {'AWS': '*'}; keeps every "
        "other statement; deletes the policy only when nothing is left."
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
