"""LW_AWS_GENERAL_SECURITY_7 (ELB without a current secure cipher policy) and 8 (ELB
affected by POODLE, i.e. SSLv3 enabled).

A listener is judged by its rule:

- 7: its predefined policy (ALB/NLB ``SslPolicy``; classic: the predefined policy its SSL
  negotiation policy references) is not a current one (``ELBSecurityPolicy-2016-08``,
  ``-TLS-1-1-2017-01``, ``-TLS-1-2-…``, ``-FS-…``, ``-TLS13-…``, or the configured policy);
  a classic negotiation policy with hand-picked attributes and no reference is not current;
- 8: SSLv3 is on: a classic negotiation policy with ``Protocol-SSLv3 = true`` or
  referencing a pre-POODLE predefined policy (``ELBSecurityPolicy-2011-08``, ``-2014-01``).
  ALB/NLB policies never offer SSLv3.

**Manual by default** (clients that only speak old protocols stop connecting). With
``enforce``: ALB/NLB listeners get ``ssl_policy``; classic listeners get a new SSL
negotiation policy ``lw-remediate-<reference>`` referencing ``classic_reference_policy``
in place of their old one (their other policies stay). Undo sets the recorded policies
back and deletes the created negotiation policy.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    aws_error_code,
)

from .._common import (
    LISTENER,
    LOAD_BALANCER,
    on_star,
    or_none,
    unchanged,
    verify_by,
)

CURRENT = re.compile(r"^ELBSecurityPolicy-(2016-08|TLS-1-1-2017-01|TLS-1-2-.+|FS-.+|TLS13-.+)$")
PRE_POODLE = frozenset({"ELBSecurityPolicy-2011-08", "ELBSecurityPolicy-2014-01"})
_NEGOTIATION = "SSLNegotiationPolicyType"
_REFERENCE = "Reference-Security-Policy"

Listener = dict[str, Any]


class Options(RemediationOptions):
    #: Set the policy (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: ALB/NLB predefined policy for HTTPS/TLS listeners.
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    #: Classic ELB: the predefined policy the new SSL negotiation policy references.
    classic_reference_policy: str = "ELBSecurityPolicy-TLS-1-2-2017-01"


def _lb(violation: Any) -> tuple[str, bool]:
    """(name or ARN, classic?) of ``…:loadbalancer/<name>`` or ``…/app|net/<name>/<id>``."""
    resource = violation.arn.resource
    if violation.arn.service != "elasticloadbalancing" or not resource.startswith("loadbalancer/"):
        raise RemediationError(f"{violation.rule_id}: not a load balancer ARN")
    path = resource.split("/")[1:]
    return (path[0], True) if len(path) == 1 else (violation.resource_arn, False)


async def listeners(ctx: RemediationContext[Any], lb: str, classic: bool) -> list[Listener] | None:
    """HTTPS/TLS/SSL listeners with their policy; None when the load balancer is gone."""
    if not classic:
        async with ctx.aws.client("elbv2") as elbv2:
            response = await or_none(elbv2.describe_listeners(LoadBalancerArn=lb))
        if response is None:
            return None
        return [
            {"arn": li["ListenerArn"], "port": li["Port"], "policy": li.get("SslPolicy", "")}
            for li in response.get("Listeners", [])
            if li.get("Protocol") in {"HTTPS", "TLS"}
        ]
    async with ctx.aws.client("elb") as elb:
        response = await or_none(elb.describe_load_balancers(LoadBalancerNames=[lb]))
        if response is None:
            return None
        policies = await elb.describe_load_balancer_policies(LoadBalancerName=lb)
    attributes = {
        p["PolicyName"]: {
            a["AttributeName"]: a.get("AttributeValue", "")
            for a in p.get("PolicyAttributeDescriptions", [])
        }
        for p in policies.get("PolicyDescriptions", [])
        if p.get("PolicyTypeName") == _NEGOTIATION
    }
    found = []
    for item in response["LoadBalancerDescriptions"][0].get("ListenerDescriptions", []):
        if item["Listener"]["Protocol"].upper() not in {"HTTPS", "SSL"}:
            continue
        names = list(item.get("PolicyNames", []))
        ssl_name = next((n for n in names if n in attributes), None)
        attrs = attributes.get(ssl_name or "", {})
        found.append(
            {
                "port": item["Listener"]["LoadBalancerPort"],
                "names": names,
                "ssl_name": ssl_name,
                "policy": attrs.get(_REFERENCE, ""),
                "sslv3": attrs.get("Protocol-SSLv3", "").lower() == "true",
            }
        )
    return found


def weak(rule: str, found: list[Listener], options: Options) -> list[Listener]:
    if rule == "LW_AWS_GENERAL_SECURITY_8":
        return [li for li in found if li.get("sslv3") or li["policy"] in PRE_POODLE]
    accepted = {options.ssl_policy, options.classic_reference_policy}
    return [li for li in found if not (CURRENT.match(li["policy"]) or li["policy"] in accepted)]


def _text(found: list[Listener]) -> str:
    return ", ".join(f"port {li['port']} ({li['policy'] or 'custom'})" for li in found)


async def check(ctx: RemediationContext[Any], violation: Any) -> CheckResult:
    lb, classic = _lb(violation)
    found = await listeners(ctx, lb, classic)
    if found is None:
        return CheckResult.compliant(f"load balancer {violation.resource_name} no longer exists")
    bad = weak(violation.rule_id, found, ctx.options)
    if not bad:
        return CheckResult.compliant(f"no listener of {violation.resource_name} is affected")
    return CheckResult.violating(
        f"{violation.resource_name} listeners affected: {_text(bad)}", listeners=found
    )


def _classic_name(reference: str) -> str:
    return "lw-remediate-" + re.sub(r"[^A-Za-z0-9-]", "-", reference)


async def plan(ctx: RemediationContext[Any], violation: Any) -> Plan:
    lb, classic = _lb(violation)
    # check read the listeners in this run: no second Describe call
    found: list[Listener] | None = await ctx.checked_or_read(
        "listeners", lambda: listeners(ctx, lb, classic)
    )
    bad = weak(violation.rule_id, found or [], ctx.options)
    if not bad:
        return Plan(f"no listener of {violation.resource_name} is affected")
    wanted = ctx.options.classic_reference_policy if classic else ctx.options.ssl_policy
    return Plan(
        summary=f"set {wanted} on the listeners of {violation.resource_name}: {_text(bad)}"
        + (f" (new SSL negotiation policy {_classic_name(wanted)})" if classic else ""),
        changes=[
            Change(
                "set_ssl_policy",
                f"{violation.resource_arn} port {li['port']}",
                li["policy"],
                wanted,
            )
            for li in bad
        ],
        notes=[
            "clients limited to older protocols or ciphers can no longer connect",
            "undo sets the recorded policies back"
            + (" and deletes the created negotiation policy" if classic else ""),
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    lb, classic = _lb(violation)
    bad = weak(violation.rule_id, await listeners(ctx, lb, classic) or [], ctx.options)
    await ctx.record_before({"Listeners": bad})
    created = None
    if classic and bad:
        reference = ctx.options.classic_reference_policy
        created = _classic_name(reference)
        async with ctx.aws.client("elb") as elb:
            try:
                await elb.create_load_balancer_policy(
                    LoadBalancerName=lb,
                    PolicyName=created,
                    PolicyTypeName=_NEGOTIATION,
                    PolicyAttributes=[{"AttributeName": _REFERENCE, "AttributeValue": reference}],
                )
            except ClientError as exc:
                if aws_error_code(exc) != "DuplicatePolicyName":
                    raise
            for li in bad:
                names = [n for n in li["names"] if n != li["ssl_name"]] + [created]
                await elb.set_load_balancer_policies_of_listener(
                    LoadBalancerName=lb, LoadBalancerPort=li["port"], PolicyNames=names
                )
    elif bad:
        async with ctx.aws.client("elbv2") as elbv2:
            for li in bad:
                await elbv2.modify_listener(ListenerArn=li["arn"], SslPolicy=ctx.options.ssl_policy)
    return {"Listeners": await listeners(ctx, lb, classic) or [], "Created": created}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    lb, classic = _lb(record.violation)
    after = record.after_image or {}
    unchanged(await listeners(ctx, lb, classic), after.get("Listeners"), f"the listeners of {lb}")
    restored = list((record.before_image or {}).get("Listeners", []))
    if classic:
        async with ctx.aws.client("elb") as elb:
            for li in restored:
                await elb.set_load_balancer_policies_of_listener(
                    LoadBalancerName=lb, LoadBalancerPort=li["port"], PolicyNames=li["names"]
                )
            if after.get("Created"):
                await elb.delete_load_balancer_policy(
                    LoadBalancerName=lb, PolicyName=after["Created"]
                )
    else:
        async with ctx.aws.client("elbv2") as elbv2:
            for li in restored:
                await elbv2.modify_listener(ListenerArn=li["arn"], SslPolicy=li["policy"])
    return f"set the recorded SSL policies back on {len(restored)} listener(s)"


RUNBOOK = """\
Load balancer {resource_name} ({region}, account {account}) offers old protocols or ciphers
({rule_id}: GENERAL_SECURITY_7 = no current predefined policy, 8 = SSLv3 / POODLE).
A current policy cuts off clients that only speak older protocols, so it is not set
automatically.
1. ALB/NLB: aws elbv2 describe-listeners --region {region} --load-balancer-arn {resource}
   then per HTTPS/TLS listener: aws elbv2 modify-listener --region {region} \\
     --listener-arn <arn> --ssl-policy {options.ssl_policy}
2. Classic ELB: aws elb create-load-balancer-policy --region {region} \\
     --load-balancer-name {resource_name} --policy-name current-tls \\
     --policy-type-name SSLNegotiationPolicyType \\
     --policy-attributes AttributeName=Reference-Security-Policy,AttributeValue={options.classic_reference_policy}
   aws elb set-load-balancer-policies-of-listener --region {region} \\
     --load-balancer-name {resource_name} --load-balancer-port 443 --policy-names current-tls
3. Or set enforce = true under [remediation."services.set_elb_cipher_policy"]."""


def option_policy(options: Options) -> IamPolicy:
    if not options.enforce:
        return IamPolicy()
    return IamPolicy.allow(
        [
            "elasticloadbalancing:CreateLoadBalancerPolicy",
            "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
        ],
        [LOAD_BALANCER],
    ) + IamPolicy.allow(["elasticloadbalancing:ModifyListener"], [LISTENER])


REMEDIATION = Remediation(
    id="services.set_elb_cipher_policy",
    rules=("LW_AWS_GENERAL_SECURITY_7", "LW_AWS_GENERAL_SECURITY_8"),
    title="Set a current predefined security policy on ELB listeners (old ciphers, SSLv3/POODLE)",
    description=(
        "Manual by default (old clients). With enforce: ALB/NLB listeners get ssl_policy; "
        "classic listeners a negotiation policy referencing classic_reference_policy."
    ),
    resource_type="elasticloadbalancing:loadbalancer",
    policy=on_star(
        "elasticloadbalancing:DescribeListeners",
        "elasticloadbalancing:DescribeLoadBalancerPolicies",
        "elasticloadbalancing:DescribeLoadBalancers",
    ),
    option_policy=option_policy,
    revert_policy=IamPolicy.allow(
        ["elasticloadbalancing:DeleteLoadBalancerPolicy"], [LOAD_BALANCER]
    ),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
