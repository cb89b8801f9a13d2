"""Security group open to the world on any port: LW_AWS_NETWORKING_5, 6, 7-11.

NETWORKING_5 (open to all) and 7-11 (an unrestricted group attached to an EC2 instance,
RDS database, network interface, classic or application load balancer) revoke every
world-open ingress permission; NETWORKING_6 every one except tcp 80 and 443. The same
engine as ``network.revoke_world_ingress``; **manual by default** because it can cut
every public service behind the group at once (``enforce = true`` to apply).
"""

from __future__ import annotations

from collections.abc import Mapping

from lw_remediate import Remediation, RuleId

from .._ingress import POLICY, IngressLifecycle, IngressOptions, option_policy, revert_policy
from .._sg import ANY_PORT, NOT_WEB, Target

TARGETS: Mapping[str, Target] = {
    "LW_AWS_NETWORKING_5": ANY_PORT,
    "LW_AWS_NETWORKING_6": NOT_WEB,
    **{f"LW_AWS_NETWORKING_{n}": ANY_PORT for n in range(7, 12)},
}


class Options(IngressOptions):
    """The ingress options, plus the switch from runbook to automatic revoke."""

    #: Revoke automatically (default: end ``manual`` with the runbook).
    enforce: bool = False


LIFECYCLE = IngressLifecycle(TARGETS)

RUNBOOK = """\
Security group {resource_name} ({region}, account {account}) accepts traffic from the whole
internet ({rule_id}). Revoking it can cut every public service behind the group, so it is
not done automatically.
1. List the world-open rules:
   aws ec2 describe-security-group-rules --region {region} \\
     --filters Name=group-id,Values={resource_name} \\
     --query "SecurityGroupRules[?!IsEgress && (CidrIpv4=='0.0.0.0/0' || CidrIpv6=='::/0')]"
2. Find what uses the group (instances, load balancers, RDS, Lambda):
   aws ec2 describe-network-interfaces --region {region} \\
     --filters Name=group-id,Values={resource_name}
3. For each world-open rule that is not a deliberate public endpoint (for {rule_id}:
   NETWORKING_6 allows tcp 80 and 443), authorize the real source first (VPN range, prefix
   list, load balancer group), then revoke it:
   aws ec2 revoke-security-group-ingress --region {region} --group-id {resource_name} \\
     --security-group-rule-ids <sgr-…>
4. Or let lw-remediate do exactly that: [remediation."network.revoke_unrestricted_ingress"]
   enforce = true (with trusted_cidrs / trusted_prefix_lists to re-grant first)."""

REMEDIATION = Remediation(
    id="network.revoke_unrestricted_ingress",
    rules=tuple(TARGETS),
    # lacework-global-148 stands for NETWORKING_5 and NETWORKING_36; the reason Lacework
    # reports for NETWORKING_5 (remediation-catalog-aws.md section 3.2) tells it apart.
    rule_ids=(
        RuleId(
            "lacework-global-148",
            reasons=("UnrestrictedSecurityGroupInboundTraffic",),
            means="LW_AWS_NETWORKING_5",
        ),
    ),
    title="Revoke every world-open ingress permission of a security group (6: except 80/443)",
    description=(
        "Manual by default: the runbook lists the world-open rules. With enforce, revokes "
        "every 0.0.0.0/0 and ::/0 ingress permission (NETWORKING_6: all but tcp 80 and "
        "443); other sources, descriptions and egress stay."
    ),
    resource_type="ec2:security-group",
    policy=POLICY,
    option_policy=option_policy,
    revert_policy=revert_policy,
    options=Options,
    check=LIFECYCLE.check,
    plan=LIFECYCLE.plan,
    apply=LIFECYCLE.apply,
    verify=LIFECYCLE.verify,
    revert=LIFECYCLE.revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
