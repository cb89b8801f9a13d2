"""LW_S3_15: deny every request to the bucket that does not use TLS.

Adds one statement to the bucket policy (creating the policy if there is none),
merged with whatever is there:

    {"Sid": "LWDenyInsecureTransport", "Effect": "Deny", "Principal": "*",
     "Action": "s3:*", "Resource": ["arn:aws:s3:::B", "arn:aws:s3:::B/*"],
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}}

A bucket already holding an equivalent Deny (any Sid, ``Bool`` or ``BoolIfExists``)
is compliant. Buckets that host a static website are refused by default: website
endpoints speak only HTTP, and this Deny would take the site down.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any, Literal

from lw_remediate import (
    Change,
    CheckResult,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    VerifyResult,
    Violation,
)

from .._policy import (
    BucketPolicy,
    Edit,
    Statement,
    apply_edit,
    bucket_wide_deny,
    checked_policy,
    condition_values,
    is_bucket_wide_deny,
    observed_policy,
    read_policy,
    revert_edit,
    unique_sid,
)
from .._s3 import bucket_policy, get_or_none, resolves_missing_bucket

SECURE_TRANSPORT_SID = "LWDenyInsecureTransport"
TLS_VERSION_SID = "LWDenyOldTls"


class Options(RemediationOptions):
    """What to require besides TLS, and whether website buckets are left alone."""

    #: Refuse buckets with a static-website configuration (their endpoint is HTTP-only).
    skip_website_buckets: bool = True
    #: Also deny TLS versions below this one (``NumericLessThan s3:TlsVersion``).
    min_tls_version: Literal["1.2", "1.3"] | None = None


def denies_insecure_transport(statement: Mapping[str, Any], violation: Violation) -> bool:
    return is_bucket_wide_deny(statement, violation) and "false" in condition_values(
        statement, ("Bool", "BoolIfExists"), "aws:SecureTransport"
    )


def denies_old_tls(statement: Mapping[str, Any], violation: Violation, version: str) -> bool:
    values = condition_values(statement, ("NumericLessThan",), "s3:TlsVersion")
    return is_bucket_wide_deny(statement, violation) and any(
        _as_float(v) >= float(version) for v in values
    )


def _as_float(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        return 0.0


def missing_statements(
    policy: BucketPolicy, violation: Violation, options: Options
) -> list[Statement]:
    """The Deny statements the policy lacks (empty: compliant)."""
    statements = policy.statements
    missing: list[Statement] = []
    if not any(denies_insecure_transport(s, violation) for s in statements):
        missing.append(
            bucket_wide_deny(
                unique_sid(SECURE_TRANSPORT_SID, statements),
                violation,
                {"Bool": {"aws:SecureTransport": "false"}},
            )
        )
    version = options.min_tls_version
    if version and not any(denies_old_tls(s, violation, version) for s in statements):
        missing.append(
            bucket_wide_deny(
                unique_sid(TLS_VERSION_SID, statements),
                violation,
                {"NumericLessThan": {"s3:TlsVersion": version}},
            )
        )
    return missing


def edit(violation: Violation, options: Options, policy: BucketPolicy) -> Edit:
    added = missing_statements(policy, violation, options)
    if not added:
        return Edit(policy.statements, [], "the policy already denies insecure transport")
    changes = [Change("add_policy_statement", violation.resource_arn, None, s) for s in added]
    where = "the existing policy" if policy.text is not None else "a new policy"
    summary = (
        f"add {', '.join(str(s['Sid']) for s in added)} (Deny s3:* unless TLS"
        + (f" >= {options.min_tls_version}" if options.min_tls_version else "")
        + f") to {where} of bucket {violation.resource_name}"
    )
    if policy.text is not None:
        summary += f", keeping its {len(policy.statements)} statement(s)"
    return Edit(policy.statements + added, changes, summary)


async def website_configured(s3: Any, violation: Violation) -> bool:
    website = await get_or_none(s3.get_bucket_website, violation, "NoSuchWebsiteConfiguration")
    return website is not None


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    policy = await read_policy(ctx, violation)
    missing = missing_statements(policy, violation, ctx.options)
    if not missing:
        return CheckResult.compliant("the policy already denies requests without TLS")
    return CheckResult.violating(
        "the policy does not deny requests without TLS"
        if policy.text is not None
        else "the bucket has no policy, so requests without TLS are not denied",
        **observed_policy(policy),
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    notes = [
        "undo writes the original policy text back verbatim (or deletes the policy if there "
        "was none)",
    ]
    async with ctx.aws.client("s3") as s3:
        if await website_configured(s3, violation):
            if ctx.options.skip_website_buckets:
                raise RemediationRefused(
                    f"bucket {violation.resource_name} hosts a static website, whose endpoint "
                    "is HTTP-only: denying insecure transport would take the site down "
                    "(set skip_website_buckets = false to apply anyway)"
                )
            notes.append("the bucket hosts a static website: its HTTP endpoint will stop serving")
    # check read the policy in this run: no second GetBucketPolicy (apply re-reads)
    return edit(violation, ctx.options, await checked_policy(ctx, violation)).plan(*notes)


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    return await apply_edit(ctx, partial(edit, ctx.violation, ctx.options))


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    policy = await read_policy(ctx, violation)
    missing = missing_statements(policy, violation, ctx.options)
    if missing:
        return VerifyResult.failed("the policy still lacks the insecure-transport Deny")
    return VerifyResult.verified("the policy denies requests without TLS")


REMEDIATION = Remediation(
    id="s3.require_secure_transport",
    rules=("LW_S3_15",),
    title="Deny non-TLS requests in the S3 bucket policy",
    description=(
        "Merges a Deny for aws:SecureTransport = false into the bucket policy; refuses "
        "static-website buckets by default."
    ),
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketPolicy", "s3:GetBucketWebsite", "s3:PutBucketPolicy"),
    revert_policy=bucket_policy("s3:DeleteBucketPolicy"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_edit,
    options=Options,
)
