"""LW_AWS_ELASTICSEARCH_1: an Elasticsearch/OpenSearch domain is exposed to everyone.

Removes from the domain's access policy every ``Allow`` statement whose principal is
everyone (``"*"`` or ``{"AWS": "*"}``) and that no source or principal condition narrows
(``aws:SourceIp``, ``aws:SourceVpc(e)``, ``aws:PrincipalOrgID``, ``aws:PrincipalAccount``,
``aws:PrincipalArn``, ``aws:SourceAccount``, ``aws:SourceArn``). Every other statement,
and the document's ``Version``/``Id``, stay. When no statement is left, the policy becomes
one statement that admits the domain's own account (``arn:…:iam::<account>:root``), i.e.
only IAM principals of the account whose identity policies allow it: the plan says so.

Works through the OpenSearch API (``DescribeDomainConfig``/``UpdateDomainConfig``), which
serves Elasticsearch domains too. Undo writes the recorded policy text back verbatim.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
)

from .._common import (
    DOMAIN,
    as_list,
    condition_keys,
    or_none,
    parse_policy,
    unchanged,
    verify_by,
)

#: Conditions that make an everyone-principal statement not public (lower case).
NARROWING = frozenset(
    k.lower()
    for k in (
        "aws:SourceIp",
        "aws:SourceVpc",
        "aws:SourceVpce",
        "aws:PrincipalOrgID",
        "aws:PrincipalAccount",
        "aws:PrincipalArn",
        "aws:SourceAccount",
        "aws:SourceArn",
    )
)


def domain_name(violation: Violation) -> str:
    """``arn:aws:es:R:A:domain/<name>`` -> ``<name>``."""
    return violation.resource_name


def is_public(statement: Mapping[str, Any]) -> bool:
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    everyone = principal == "*" or (
        isinstance(principal, Mapping) and "*" in as_list(principal.get("AWS"))
    )
    return everyone and not (condition_keys(statement) & NARROWING)


async def read_policy(ctx: RemediationContext[Any], name: str) -> tuple[bool, str | None]:
    """(the domain exists, its access policy text or None)."""
    async with ctx.aws.client("opensearch") as client:
        response = await or_none(client.describe_domain_config(DomainName=name))
    if response is None:
        return False, None
    text = (response.get("DomainConfig", {}).get("AccessPolicies") or {}).get("Options")
    return True, str(text) if text else None


def _public(text: str | None, name: str) -> list[dict[str, Any]]:
    document = parse_policy(text, f"domain {name}")
    return [s for s in as_list(document.get("Statement")) if is_public(s)]


def narrowed(text: str, violation: Violation) -> str:
    """The policy text without its public statements (own-account-only when none is left)."""
    document = parse_policy(text, f"domain {domain_name(violation)}")
    kept = [s for s in as_list(document.get("Statement")) if not is_public(s)]
    if not kept:
        partition, account = violation.arn.partition, violation.account_id
        kept = [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:{partition}:iam::{account}:root"},
                "Action": "es:*",
                "Resource": f"{violation.resource_arn}/*",
            }
        ]
    return json.dumps({**document, "Statement": kept}, separators=(",", ":"))


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    name = domain_name(violation)
    exists, text = await read_policy(ctx, name)
    if not exists:
        return CheckResult.compliant(f"domain {name} no longer exists")
    public = _public(text, name)
    if not public:
        return CheckResult.compliant(f"the access policy of domain {name} admits no one-and-all")
    return CheckResult.violating(
        f"domain {name} has {len(public)} statement(s) open to everyone",
        statements=public,
        policy=text,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    name = domain_name(violation)

    async def live() -> str | None:
        return (await read_policy(ctx, name))[1]

    # check read the access policy in this run: no second DescribeDomainConfig
    text: str | None = await ctx.checked_or_read("policy", live)
    if text is None or not _public(text, name):
        return Plan(f"domain {name} has no public statement (or is gone)")
    public = _public(text, name)
    new = narrowed(text, violation)
    notes = [
        "clients relying on anonymous access (dashboards, public apps) lose it",
        "every other statement stays; undo writes the recorded policy text back verbatim",
    ]
    if len(public) == len(as_list(parse_policy(text, name).get("Statement"))):
        notes.append(
            "no statement is left: the policy admits the domain's own account only "
            "(IAM principals whose identity policies allow es:*)"
        )
    return Plan(
        summary=f"remove {len(public)} public statement(s) from the access policy of domain {name}",
        changes=[Change("remove_statement", name, s, None) for s in public]
        + [Change("update_access_policies", name, text, new)],
        notes=notes,
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    name = domain_name(ctx.violation)
    _, current = await read_policy(ctx, name)
    await ctx.record_before({"AccessPolicies": current})
    if current is not None and _public(current, name):
        async with ctx.aws.client("opensearch") as client:
            await client.update_domain_config(
                DomainName=name, AccessPolicies=narrowed(current, ctx.violation)
            )
    return {"AccessPolicies": (await read_policy(ctx, name))[1]}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    name = domain_name(record.violation)
    _, live = await read_policy(ctx, name)
    unchanged(
        {"AccessPolicies": live},
        record.after_image,
        f"the access policy of domain {name}",
    )
    before = (record.before_image or {}).get("AccessPolicies")
    async with ctx.aws.client("opensearch") as client:
        await client.update_domain_config(DomainName=name, AccessPolicies=before or "")
    return f"wrote the recorded access policy of domain {name} back"


REMEDIATION = Remediation(
    id="services.restrict_es_domain_policy",
    rules=("LW_AWS_ELASTICSEARCH_1",),
    title="Remove the statements open to everyone from an Elasticsearch/OpenSearch access policy",
    description=(
        "Unconditioned Principal '*' Allow statements go; every other statement stays. "
        "Public clients lose access."
    ),
    resource_type="es:domain",
    policy=IamPolicy.allow(["es:DescribeDomainConfig", "es:UpdateDomainConfig"], [DOMAIN]),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
