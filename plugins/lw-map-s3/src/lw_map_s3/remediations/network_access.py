"""LW_S3_17: restrict bucket access to allowed networks (manual by default).

Applying an IP allow-list can lock out users, AWS services and the daemon itself,
so by default the action ends ``manual`` and the runbook describes the statement.
With ``enforce = true`` (and ``allowed_cidrs`` set) the remediation merges this Deny
into the bucket policy:

    {"Sid": "LWDenyOutsideAllowedNetworks", "Effect": "Deny", "Principal": "*",
     "Action": "s3:*", "Resource": ["arn:aws:s3:::B", "arn:aws:s3:::B/*"],
     "Condition": {"NotIpAddress": {"aws:SourceIp": CIDRS},
                   "StringNotEqualsIfExists": {"aws:SourceVpce": VPCES},
                   "Bool": {"aws:ViaAWSService": "false",
                            "aws:PrincipalIsAWSService": "false"},
                   "ArnNotLike": {"aws:PrincipalArn": EXEMPT}}}

``EXEMPT`` always contains the principal the daemon runs as (read with
``sts:GetCallerIdentity``), so the daemon can still revert its change.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from functools import partial
from typing import Any

import pydantic

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
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
from .._s3 import bucket_policy, resolves_missing_bucket

SID = "LWDenyOutsideAllowedNetworks"
_VPCE_RE = re.compile(r"^vpce-[0-9a-f]+$")
_ASSUMED_ROLE_RE = re.compile(r"^arn:([^:]+):sts::(\d{12}):assumed-role/([^/]+)/.+$")


class Options(RemediationOptions):
    """The allow-list; nothing is written unless ``enforce`` is set."""

    #: Write the Deny (default: notify with the runbook only).
    enforce: bool = False
    #: Networks allowed to reach the bucket (``aws:SourceIp``), e.g. ``["203.0.113.0/24"]``.
    allowed_cidrs: tuple[str, ...] = ()
    #: VPC endpoints allowed to reach the bucket (traffic through them has no SourceIp).
    allowed_vpce_ids: tuple[str, ...] = ()
    #: Principals (ARN patterns) never denied, e.g. break-glass roles. The daemon's own
    #: principal is always added.
    exempt_principal_arns: tuple[str, ...] = ()
    #: Let AWS services acting for a principal (and service principals) through.
    exempt_aws_services: bool = True

    @pydantic.field_validator("allowed_cidrs")
    @classmethod
    def _cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(str(ipaddress.ip_network(c, strict=False)) for c in value)

    @pydantic.field_validator("allowed_vpce_ids")
    @classmethod
    def _vpces(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for vpce in value:
            if not _VPCE_RE.match(vpce):
                raise ValueError(f"not a VPC endpoint id: {vpce!r}")
        return value

    @pydantic.field_validator("exempt_principal_arns")
    @classmethod
    def _arns(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not arn.startswith("arn:"):
                raise ValueError(f"not an ARN pattern: {arn!r}")
        return value

    @pydantic.model_validator(mode="after")
    def _enforce_needs_cidrs(self) -> Options:
        if self.enforce and not self.allowed_cidrs:
            raise ValueError("enforce = true needs allowed_cidrs")
        return self

    @property
    def runbook_condition(self) -> str:
        """The Deny's ``Condition`` for the runbook: what is configured, placeholders else."""
        return runbook_condition(self)

    @property
    def runbook_placeholders(self) -> str:
        """What the runbook's CIDRS / VPCES placeholders stand for (when not configured)."""
        return runbook_placeholders(self)


def restricts_networks(statement: Mapping[str, Any], violation: Violation) -> bool:
    """A bucket-wide Deny for requests from outside some ``aws:SourceIp`` networks."""
    return is_bucket_wide_deny(statement, violation) and bool(
        condition_values(statement, ("NotIpAddress", "NotIpAddressIfExists"), "aws:SourceIp")
    )


def principal_patterns(caller_arn: str) -> list[str]:
    """``aws:PrincipalArn`` patterns matching the caller (a role session becomes its role)."""
    match = _ASSUMED_ROLE_RE.match(caller_arn)
    if match:
        partition, account, role = match.groups()
        # The session ARN drops the role's path; match the role with and without one.
        return [
            f"arn:{partition}:iam::{account}:role/{role}",
            f"arn:{partition}:iam::{account}:role/*/{role}",
        ]
    return [caller_arn]


def deny_statement(
    violation: Violation, options: Options, exempt: list[str], sid: str = SID
) -> Statement:
    condition: dict[str, Any] = {"NotIpAddress": {"aws:SourceIp": list(options.allowed_cidrs)}}
    if options.allowed_vpce_ids:
        condition["StringNotEqualsIfExists"] = {"aws:SourceVpce": list(options.allowed_vpce_ids)}
    if options.exempt_aws_services:
        condition["Bool"] = {"aws:ViaAWSService": "false", "aws:PrincipalIsAWSService": "false"}
    condition["ArnNotLike"] = {"aws:PrincipalArn": exempt}
    return bucket_wide_deny(sid, violation, condition)


def runbook_condition(options: Options) -> str:
    def values(configured: tuple[str, ...], placeholder: str) -> str:
        return json.dumps(list(configured)) if configured else placeholder

    lines = [
        f'"NotIpAddress": {{"aws:SourceIp": {values(options.allowed_cidrs, "CIDRS")}}}',
        f'"StringNotEqualsIfExists": {{"aws:SourceVpce": '
        f"{values(options.allowed_vpce_ids, 'VPCES')}}}",
    ]
    if options.exempt_aws_services:
        lines.append('"Bool": {"aws:ViaAWSService": "false", "aws:PrincipalIsAWSService": "false"}')
    exempt = [json.dumps(arn) for arn in options.exempt_principal_arns]
    lines.append(f'"ArnNotLike": {{"aws:PrincipalArn": [{", ".join([*exempt, "DAEMON_ROLE"])}]}}')
    return ",\n                 ".join(lines)


def runbook_placeholders(options: Options) -> str:
    meanings = []
    if not options.allowed_cidrs:
        meanings.append(
            'CIDRS = the networks allowed to reach the bucket, e.g. ["203.0.113.0/24"] (none '
            "configured: set allowed_cidrs for s3.restrict_network_access); "
        )
    if not options.allowed_vpce_ids:
        meanings.append(
            "VPCES = the VPC endpoints allowed (allowed_vpce_ids; leave the line out if none); "
        )
    return "".join(meanings)


def edit(violation: Violation, options: Options, exempt: list[str], policy: BucketPolicy) -> Edit:
    statements = policy.statements
    if any(restricts_networks(s, violation) for s in statements):
        return Edit(statements, [], "the policy already restricts source networks")
    added = deny_statement(violation, options, exempt, unique_sid(SID, statements))
    return Edit(
        [*statements, added],
        [Change("add_policy_statement", violation.resource_arn, None, added)],
        f"add {added['Sid']} to the policy of bucket {violation.resource_name}: deny requests "
        f"from outside {', '.join(options.allowed_cidrs)}"
        + (f" except via {', '.join(options.allowed_vpce_ids)}" if options.allowed_vpce_ids else "")
        + f"; exempt {', '.join(exempt)}",
    )


async def exempt_principals(ctx: RemediationContext[Any]) -> list[str]:
    """The configured exemptions plus the daemon's own principal."""
    async with ctx.aws.client("sts") as sts:
        caller = str((await sts.get_caller_identity())["Arn"])
    exempt = list(ctx.options.exempt_principal_arns)
    for pattern in principal_patterns(caller):
        if pattern not in exempt:
            exempt.append(pattern)
    return exempt


@resolves_missing_bucket
async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    policy = await read_policy(ctx, violation)
    if any(restricts_networks(s, violation) for s in policy.statements):
        return CheckResult.compliant("the policy denies requests from outside allowed networks")
    return CheckResult.violating(
        "no statement restricts the networks requests may come from", **observed_policy(policy)
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    exempt = await exempt_principals(ctx)
    # check read the policy in this run: no second GetBucketPolicy (apply re-reads)
    result = edit(violation, ctx.options, exempt, await checked_policy(ctx, violation))
    return Plan(
        summary=result.summary,
        changes=result.changes,
        data={"exempt_principal_arns": exempt},
        notes=[
            "requests from other networks, including the AWS console and CLI users outside "
            "them, are denied; the daemon's principal stays exempt so undo keeps working",
            UNDO_NOTE,
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    exempt = [str(a) for a in plan.data["exempt_principal_arns"]]
    return await apply_edit(ctx, partial(edit, ctx.violation, ctx.options, exempt))


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    policy = await read_policy(ctx, violation)
    if any(restricts_networks(s, violation) for s in policy.statements):
        return VerifyResult.verified("the policy denies requests from outside allowed networks")
    return VerifyResult.failed("the network restriction is not in the policy")


def option_policy(options: Options) -> IamPolicy:
    if not options.enforce:
        return IamPolicy()
    return bucket_policy("s3:PutBucketPolicy") + IamPolicy.allow(["sts:GetCallerIdentity"])


RUNBOOK = """\
Bucket {resource_name} (account {account}) accepts requests from any network (rule {rule_id}).
The operator chose to restrict networks by hand (lw-remediate's s3.restrict_network_access \
is in notify mode). Review who uses the bucket, then add this statement to its policy:

  {{"Sid": "LWDenyOutsideAllowedNetworks", "Effect": "Deny", "Principal": "*",
   "Action": "s3:*", "Resource": ["{resource}", "{resource}/*"],
   "Condition": {{{options.runbook_condition}}}}}

where {options.runbook_placeholders}DAEMON_ROLE = the ARN of the role lw-remediate \
runs as (e.g. arn:{partition}:iam::{account}:role/lw-remediate). Keep it and your \
break-glass roles (exempt_principal_arns) in ArnNotLike: without an exempt principal only \
the root user can remove the statement again.

Merge it into the existing policy (aws s3api get-bucket-policy --bucket {resource_name} \
--expected-bucket-owner {account}), then aws s3api put-bucket-policy --bucket \
{resource_name} --expected-bucket-owner {account} --policy file://policy.json. To let \
lw-remediate write it, set enforce = true and allowed_cidrs for s3.restrict_network_access.
"""


REMEDIATION = Remediation(
    id="s3.restrict_network_access",
    rules=("LW_S3_17",),
    title="Restrict S3 bucket access to allowed networks",
    description=(
        "Manual by default (runbook with the Deny statement); with enforce = true, merges a "
        "Deny outside allowed_cidrs that exempts the allowed VPC endpoints, AWS services, "
        "the configured principals and the daemon itself."
    ),
    resource_type="s3:bucket",
    policy=bucket_policy("s3:GetBucketPolicy"),
    option_policy=option_policy,
    # Undo writes the old policy back (or deletes it), whatever the options are by then.
    revert_policy=bucket_policy("s3:PutBucketPolicy", "s3:DeleteBucketPolicy"),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert_edit,
    options=Options,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
