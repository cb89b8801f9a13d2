"""LW_AWS_NETWORKING_39: a load balancer negotiates insecure ciphers.

A listener counts as secure when its predefined security policy allows TLS 1.2 and later
only (``ELBSecurityPolicy-TLS13-1-2-…``, ``-TLS13-1-3-…``, ``-TLS-1-2-…``,
``-FS-1-2-…``; see ``SECURE_POLICY``). **Manual by default**: clients limited to TLS 1.0 /
1.1 stop connecting. With ``enforce``:

- ALB/NLB: every HTTPS/TLS listener on another policy gets ``ssl_policy``
  (``ModifyListener``); undo sets the recorded policy back.
- Classic ELB: an SSL negotiation policy ``lw-remediate-<reference>`` referencing
  ``classic_reference_policy`` is created and set on every HTTPS/SSL listener in place of
  its old SSL negotiation policy (its other policies stay); undo sets the recorded policy
  names back and deletes the created policy.
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
    RemediationOptions,
    ResourceChanged,
    Violation,
    aws_error_code,
)

from .._ec2 import verify_by
from .._elb import LISTENER, LOAD_BALANCER, NOT_FOUND, LoadBalancer

SECURE_POLICY = re.compile(r"ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)")
_SSL_NEGOTIATION = "SSLNegotiationPolicyType"


class Options(RemediationOptions):
    """Which predefined policy to set."""

    #: Set the policy (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: ALB/NLB predefined policy for HTTPS/TLS listeners.
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    #: Classic ELB: the predefined policy the new SSL negotiation policy references.
    classic_reference_policy: str = "ELBSecurityPolicy-TLS-1-2-2017-01"


def _classic_policy_name(reference: str) -> str:
    return "lw-remediate-" + re.sub(r"[^A-Za-z0-9-]", "-", reference)


async def v2_listeners(
    ctx: RemediationContext[Any], lb: LoadBalancer
) -> list[dict[str, Any]] | None:
    """HTTPS/TLS listeners as ``{"arn", "port", "policy"}``; None when the LB is gone."""
    async with ctx.aws.client("elbv2") as elbv2:
        try:
            response = await elbv2.describe_listeners(LoadBalancerArn=lb.arn)
        except ClientError as exc:
            if aws_error_code(exc) in NOT_FOUND:
                return None
            raise
    return [
        {"arn": li["ListenerArn"], "port": li.get("Port"), "policy": li.get("SslPolicy", "")}
        for li in response.get("Listeners", [])
        if li.get("Protocol") in {"HTTPS", "TLS"}
    ]


async def classic_listeners(
    ctx: RemediationContext[Any], lb: LoadBalancer
) -> list[dict[str, Any]] | None:
    """HTTPS/SSL listeners as ``{"port", "names", "ssl_name", "policy"}``: the listener's
    policy names, the SSL negotiation one and the predefined policy it references."""
    async with ctx.aws.client("elb") as elb:
        try:
            response = await elb.describe_load_balancers(LoadBalancerNames=[lb.name])
        except ClientError as exc:
            if aws_error_code(exc) in NOT_FOUND:
                return None
            raise
        [description] = response.get("LoadBalancerDescriptions", [])
        policies = await elb.describe_load_balancer_policies(LoadBalancerName=lb.name)
    negotiation = {
        p["PolicyName"]: next(
            (
                a.get("AttributeValue", "")
                for a in p.get("PolicyAttributeDescriptions", [])
                if a.get("AttributeName") == "Reference-Security-Policy"
            ),
            "",
        )
        for p in policies.get("PolicyDescriptions", [])
        if p.get("PolicyTypeName") == _SSL_NEGOTIATION
    }
    listeners = []
    for item in description.get("ListenerDescriptions", []):
        listener = item.get("Listener", {})
        if listener.get("Protocol", "").upper() not in {"HTTPS", "SSL"}:
            continue
        names = list(item.get("PolicyNames", []))
        ssl_name = next((n for n in names if n in negotiation), None)
        listeners.append(
            {
                "port": listener["LoadBalancerPort"],
                "names": names,
                "ssl_name": ssl_name,
                "policy": negotiation.get(ssl_name or "", ""),
            }
        )
    return listeners


async def read_listeners(
    ctx: RemediationContext[Any], lb: LoadBalancer
) -> list[dict[str, Any]] | None:
    return await (classic_listeners(ctx, lb) if lb.classic else v2_listeners(ctx, lb))


def insecure(listeners: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [li for li in listeners if not SECURE_POLICY.match(str(li["policy"]))]


def _text(listeners: list[dict[str, Any]]) -> str:
    return ", ".join(f"port {li['port']} ({li['policy'] or 'no SSL policy'})" for li in listeners)


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    lb = LoadBalancer.of(violation)
    listeners = await read_listeners(ctx, lb)
    if listeners is None:
        return CheckResult.compliant(f"load balancer {lb.name} no longer exists")
    weak = insecure(listeners)
    if not weak:
        return CheckResult.compliant(
            f"every HTTPS/TLS listener of {lb.name} uses a TLS 1.2+ policy"
        )
    return CheckResult.violating(
        f"{lb.name} listeners on weak policies: {_text(weak)}", listeners=listeners
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    lb = LoadBalancer.of(violation)
    # check read the listeners in this run: not again (apply re-reads)
    listeners: list[dict[str, Any]] | None = await ctx.checked_or_read(
        "listeners", lambda: read_listeners(ctx, lb)
    )
    weak = insecure(listeners or [])
    if not weak:
        return Plan(f"no listener of {lb.name} on a weak policy")
    wanted = ctx.options.classic_reference_policy if lb.classic else ctx.options.ssl_policy
    changes = [
        Change("set_ssl_policy", f"{lb.arn} port {li['port']}", li["policy"], wanted) for li in weak
    ]
    summary = f"set {wanted} on the listeners of {lb.name}: {_text(weak)}"
    if lb.classic:
        summary = (
            f"create SSL negotiation policy {_classic_policy_name(wanted)} on {lb.name} and "
            + summary
        )
    return Plan(
        summary=summary,
        changes=changes,
        notes=[
            "clients that only speak TLS 1.0/1.1 can no longer connect",
            "undo sets the recorded policies back"
            + (" and deletes the created SSL negotiation policy" if lb.classic else ""),
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    lb = LoadBalancer.of(ctx.violation)
    listeners = await read_listeners(ctx, lb)  # re-read right before writing
    weak = insecure(listeners or [])
    if not weak:
        return {"Listeners": listeners or []}
    await ctx.record_before({"Listeners": weak})
    if lb.classic:
        reference = ctx.options.classic_reference_policy
        name = _classic_policy_name(reference)
        async with ctx.aws.client("elb") as elb:
            try:
                await elb.create_load_balancer_policy(
                    LoadBalancerName=lb.name,
                    PolicyName=name,
                    PolicyTypeName=_SSL_NEGOTIATION,
                    PolicyAttributes=[
                        {"AttributeName": "Reference-Security-Policy", "AttributeValue": reference}
                    ],
                )
            except ClientError as exc:
                if aws_error_code(exc) != "DuplicatePolicyName":
                    raise
            for li in weak:
                names = [n for n in li["names"] if n != li["ssl_name"]] + [name]
                await elb.set_load_balancer_policies_of_listener(
                    LoadBalancerName=lb.name, LoadBalancerPort=li["port"], PolicyNames=names
                )
        return {"Listeners": await classic_listeners(ctx, lb) or [], "Created": name}
    async with ctx.aws.client("elbv2") as elbv2:
        for li in weak:
            await elbv2.modify_listener(ListenerArn=li["arn"], SslPolicy=ctx.options.ssl_policy)
    return {"Listeners": await v2_listeners(ctx, lb) or []}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    lb = LoadBalancer.of(record.violation)
    before = record.before_image or {}
    after = record.after_image or {}
    live = await read_listeners(ctx, lb)
    if live is None or live != after.get("Listeners"):
        raise ResourceChanged(
            f"the listeners of {lb.name} changed since the remediation; not reverting"
        )
    restored = list(before.get("Listeners", []))
    if lb.classic:
        async with ctx.aws.client("elb") as elb:
            for li in restored:
                await elb.set_load_balancer_policies_of_listener(
                    LoadBalancerName=lb.name, LoadBalancerPort=li["port"], PolicyNames=li["names"]
                )
            if after.get("Created"):
                await elb.delete_load_balancer_policy(
                    LoadBalancerName=lb.name, PolicyName=after["Created"]
                )
    else:
        async with ctx.aws.client("elbv2") as elbv2:
            for li in restored:
                await elbv2.modify_listener(ListenerArn=li["arn"], SslPolicy=li["policy"])
    return f"set the recorded SSL policies back on {len(restored)} listener(s) of {lb.name}"


RUNBOOK = """\
Load balancer {resource_name} ({region}, account {account}) negotiates insecure ciphers
({rule_id}). A TLS 1.2+ policy cuts off clients limited to TLS 1.0/1.1, so it is not set
automatically.
1. ALB/NLB: aws elbv2 describe-listeners --region {region} --load-balancer-arn {resource}
   then for each HTTPS/TLS listener:
   aws elbv2 modify-listener --region {region} --listener-arn <arn> \\
     --ssl-policy {options.ssl_policy}
2. Classic ELB: aws elb create-load-balancer-policy --region {region} \\
     --load-balancer-name {resource_name} --policy-name tls12 \\
     --policy-type-name SSLNegotiationPolicyType \\
     --policy-attributes AttributeName=Reference-Security-Policy,AttributeValue={options.classic_reference_policy}
   aws elb set-load-balancer-policies-of-listener --region {region} \\
     --load-balancer-name {resource_name} --load-balancer-port 443 --policy-names tls12
3. Check client compatibility first (access logs show ssl_protocol per request).
4. Or set enforce = true under [remediation."network.set_lb_tls_policy"]."""


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
    id="network.set_lb_tls_policy",
    rules=("LW_AWS_NETWORKING_39",),
    title="Set a TLS 1.2+ predefined security policy on a load balancer's HTTPS/TLS listeners",
    description=(
        "Manual by default (old clients). With enforce: ALB/NLB listeners get ssl_policy; "
        "classic listeners an SSL negotiation policy referencing classic_reference_policy."
    ),
    resource_type="elasticloadbalancing:loadbalancer",
    policy=IamPolicy.allow(
        [
            "elasticloadbalancing:DescribeListeners",
            "elasticloadbalancing:DescribeLoadBalancerPolicies",
            "elasticloadbalancing:DescribeLoadBalancers",
        ]
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
