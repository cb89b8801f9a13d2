"""LW_AWS_NETWORKING_4: an exposed VPC endpoint (its policy allows any principal).

**Manual by default**: consumers in other accounts that use the endpoint would be cut
off. With ``enforce``, every ``Allow`` statement whose principal is ``*`` (or
``{"AWS": "*"}``) and that no principal-account / organisation condition narrows gets
``aws:PrincipalAccount`` = the endpoint's account (plus ``allowed_accounts``), or
``aws:PrincipalOrgID`` when ``principal_org_id`` is set. Every other statement and
condition stays. Reports name a bare ``vpce-…`` id; the core builds the endpoint ARN.
Undo writes the recorded policy document back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import pydantic
from botocore.exceptions import ClientError

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
    Violation,
    aws_error_code,
)

from .._ec2 import VPC_ENDPOINT, describe_policy, resource_id, verify_by

#: Condition keys that already narrow who may use the endpoint.
NARROWING_KEYS = frozenset(
    k.lower()
    for k in (
        "aws:PrincipalAccount",
        "aws:PrincipalOrgID",
        "aws:PrincipalOrgPaths",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceVpce",
        "aws:SourceVpc",
    )
)


class Options(RemediationOptions):
    """Who may keep using the endpoint."""

    #: Narrow the policy (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: Accounts allowed besides the endpoint's own (12-digit ids).
    allowed_accounts: tuple[str, ...] = ()
    #: Narrow to an AWS Organization (``o-…``) instead of accounts.
    principal_org_id: str | None = None

    @pydantic.field_validator("allowed_accounts")
    @classmethod
    def _accounts(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for account in value:
            if not re.fullmatch(r"\d{12}", account):
                raise ValueError(f"not an AWS account id: {account!r}")
        return value

    @pydantic.field_validator("principal_org_id")
    @classmethod
    def _org(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"o-[a-z0-9]{10,32}", value):
            raise ValueError(f"not an organization id: {value!r}")
        return value


def _statements(document: Mapping[str, Any]) -> list[dict[str, Any]]:
    statements = document.get("Statement", [])
    return [dict(s) for s in (statements if isinstance(statements, list) else [statements])]


def is_public(statement: Mapping[str, Any]) -> bool:
    """An Allow to every principal that no principal condition narrows."""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    aws = principal.get("AWS") if isinstance(principal, dict) else None
    everyone = principal == "*" or aws == "*" or (isinstance(aws, list) and "*" in aws)
    if not everyone:
        return False
    keys = {
        key.lower()
        for block in (statement.get("Condition") or {}).values()
        if isinstance(block, dict)
        for key in block
    }
    return not keys & NARROWING_KEYS


def narrowed(
    document: Mapping[str, Any], options: Options, account: str
) -> tuple[dict[str, Any], list[int]]:
    """The document with every public statement narrowed, and their indexes."""
    condition: dict[str, dict[str, Any]]
    if options.principal_org_id:
        condition = {"StringEquals": {"aws:PrincipalOrgID": options.principal_org_id}}
    else:
        accounts = [account, *[a for a in options.allowed_accounts if a != account]]
        value: str | list[str] = accounts[0] if len(accounts) == 1 else accounts
        condition = {"StringEquals": {"aws:PrincipalAccount": value}}
    statements: list[dict[str, Any]] = []
    changed: list[int] = []
    for index, statement in enumerate(_statements(document)):
        if is_public(statement):
            merged = {k: dict(v) for k, v in (statement.get("Condition") or {}).items()}
            for operator, block in condition.items():
                merged.setdefault(operator, {}).update(block)
            statement = {**statement, "Condition": merged}
            changed.append(index)
        statements.append(statement)
    return {**document, "Statement": statements}, changed


async def read_policy(ec2: Any, endpoint_id: str) -> str | None:
    """The endpoint's policy document (text); None when the endpoint does not exist or
    its type has no policy."""
    try:
        response = await ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])
    except ClientError as exc:
        if aws_error_code(exc) in {"InvalidVpcEndpointId.NotFound", "InvalidVpcEndpoint.NotFound"}:
            return None
        raise
    endpoints = response.get("VpcEndpoints", [])
    if not endpoints or endpoints[0].get("State", "").lower() in {"deleted", "deleting"}:
        return None
    document = endpoints[0].get("PolicyDocument")
    return str(document) if document else None


def _public_text(document: Mapping[str, Any]) -> str:
    public = [s for s in _statements(document) if is_public(s)]
    return "; ".join(
        f"{s.get('Sid') or '(no Sid)'}: {s.get('Action')} on {s.get('Resource')}" for s in public
    )


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    endpoint = resource_id(violation, "vpce")
    async with ctx.aws.client("ec2") as ec2:
        text = await read_policy(ec2, endpoint)
    if text is None:
        return CheckResult.compliant(f"VPC endpoint {endpoint} no longer exists or has no policy")
    document = json.loads(text)
    if not any(is_public(s) for s in _statements(document)):
        return CheckResult.compliant(f"the policy of {endpoint} allows no unrestricted principal")
    return CheckResult.violating(
        f"the policy of {endpoint} allows any principal: {_public_text(document)}", policy=text
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    endpoint = resource_id(violation, "vpce")
    async with ctx.aws.client("ec2") as ec2:
        # check read the policy in this run: no second DescribeVpcEndpoints (apply re-reads)
        text: str | None = await ctx.checked_or_read("policy", lambda: read_policy(ec2, endpoint))
    if text is None:
        return Plan(f"VPC endpoint {endpoint} no longer exists or has no policy")
    document = json.loads(text)
    after, changed = narrowed(document, ctx.options, violation.account_id)
    if not changed:
        return Plan(f"the policy of {endpoint} allows no unrestricted principal")
    who = (
        f"organization {ctx.options.principal_org_id}"
        if ctx.options.principal_org_id
        else "account(s) " + ", ".join([violation.account_id, *ctx.options.allowed_accounts])
    )
    return Plan(
        summary=(
            f"narrow {len(changed)} statement(s) of the policy of {endpoint} to {who}: "
            f"{_public_text(document)}; keep the other "
            f"{len(_statements(document)) - len(changed)} statement(s)"
        ),
        changes=[Change("modify_vpc_endpoint_policy", violation.resource_arn, document, after)],
        notes=["undo writes the recorded policy document back"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    endpoint = resource_id(violation, "vpce")
    async with ctx.aws.client("ec2") as ec2:
        text = await read_policy(ec2, endpoint)  # re-read right before writing
        if text is None:
            return {"VpcEndpointId": endpoint, "PolicyDocument": None}
        after, changed = narrowed(json.loads(text), ctx.options, violation.account_id)
        if not changed:
            return {"VpcEndpointId": endpoint, "PolicyDocument": text}
        await ctx.record_before({"VpcEndpointId": endpoint, "PolicyDocument": text})
        new_text = json.dumps(after)
        await ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=new_text)
    return {"VpcEndpointId": endpoint, "PolicyDocument": new_text}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    after = record.after_image or {}
    endpoint = str(before["VpcEndpointId"])
    async with ctx.aws.client("ec2") as ec2:
        live = await read_policy(ec2, endpoint)
        if live is None or json.loads(live) != json.loads(str(after.get("PolicyDocument"))):
            raise ResourceChanged(
                f"the policy of {endpoint} changed since the remediation; not reverting"
            )
        await ec2.modify_vpc_endpoint(
            VpcEndpointId=endpoint, PolicyDocument=str(before["PolicyDocument"])
        )
    return f"restored the recorded policy of {endpoint}"


RUNBOOK = """\
VPC endpoint {resource_name} ({region}, account {account}) has a policy that allows any
principal ({rule_id}). Narrowing it cuts off other accounts that use the endpoint.
1. Read the policy: aws ec2 describe-vpc-endpoints --region {region} \\
     --vpc-endpoint-ids {resource_name} --query "VpcEndpoints[0].PolicyDocument"
2. Decide who needs the endpoint: this account, listed accounts, or your organization.
3. Add a condition to each Allow statement with Principal "*", e.g.
   "Condition": {{"StringEquals": {{"aws:PrincipalAccount": "{account}"}}}}
   and write it: aws ec2 modify-vpc-endpoint --region {region} \\
     --vpc-endpoint-id {resource_name} --policy-document file://policy.json
4. Or set enforce = true (with allowed_accounts or principal_org_id) under
   [remediation."network.restrict_vpc_endpoint_policy"]."""


def option_policy(options: Options) -> IamPolicy:
    if not options.enforce:
        return IamPolicy()
    return IamPolicy.allow(["ec2:ModifyVpcEndpoint"], [VPC_ENDPOINT])


REMEDIATION = Remediation(
    id="network.restrict_vpc_endpoint_policy",
    rules=("LW_AWS_NETWORKING_4",),
    title="Narrow a VPC endpoint policy's public statements to the account (or organization)",
    description=(
        "Manual by default. With enforce: Allow statements to any principal without a "
        "principal condition get aws:PrincipalAccount (or aws:PrincipalOrgID)."
    ),
    resource_type="ec2:vpc-endpoint",
    policy=describe_policy("ec2:DescribeVpcEndpoints"),
    option_policy=option_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
