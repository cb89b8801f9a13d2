"""Manual-only network rules: each ends ``manual`` with a runbook naming what to look at.

AWS_CIS_4_5 (peering routes), LW_AWS_NETWORKING_16/17 (ELB certificate expiry), 38/44/45/51
(ELB security-group hygiene), 40 (EC2-Classic), 47 (public IP) and 48 (VPC CIDR
allow-list). Where an API exposes the state cheaply, ``check`` re-reads it first and
resolves a violation that is gone (route table without peering routes, instance without
public IP, ...); the rest keeps Lacework's finding. They never write.

The runbook is rendered from placeholders (``{resource_name}``, ``{region}``, ...); the
exact routes, addresses or listeners ``check`` found are in its structured log event
``network_manual_finding``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import (
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
    aws_error_code,
)

from .._ec2 import describe_policy
from .._elb import NOT_FOUND, LoadBalancer

CheckFn = Callable[[RemediationContext[Any], Violation], Awaitable[CheckResult]]


async def _no_plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    return Plan(f"{violation.rule_id} is manual-only: follow the runbook")


def _stands(what: str) -> CheckFn:
    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        return CheckResult.violating(f"{what}: Lacework's finding stands")

    return check


def _found(ctx: RemediationContext[Any], violation: Violation, **items: Any) -> None:
    ctx.log.info(
        "network_manual_finding",
        rule_id=violation.rule_id,
        resource_arn=violation.resource_arn,
        **items,
    )


async def check_peering_routes(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    table = violation.resource_name
    async with ctx.aws.client("ec2") as ec2:
        try:
            response = await ec2.describe_route_tables(RouteTableIds=[table])
        except ClientError as exc:
            if aws_error_code(exc) == "InvalidRouteTableID.NotFound":
                return CheckResult.compliant(f"route table {table} no longer exists")
            raise
    routes = [
        f"{r.get('DestinationCidrBlock') or r.get('DestinationIpv6CidrBlock')} -> "
        f"{r['VpcPeeringConnectionId']}"
        for t in response.get("RouteTables", [])
        for r in t.get("Routes", [])
        if r.get("VpcPeeringConnectionId")
    ]
    if not routes:
        return CheckResult.compliant(f"route table {table} has no peering route")
    _found(ctx, violation, peering_routes=routes)
    return CheckResult.violating(f"peering routes of {table}: " + ", ".join(routes), routes=routes)


async def _instance(ctx: RemediationContext[Any], violation: Violation) -> dict[str, Any] | None:
    instance = violation.resource_name
    async with ctx.aws.client("ec2") as ec2:
        try:
            response = await ec2.describe_instances(InstanceIds=[instance])
        except ClientError as exc:
            if aws_error_code(exc) in {"InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"}:
                return None
            raise
    found = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
    if not found or found[0].get("State", {}).get("Name") == "terminated":
        return None
    return dict(found[0])


async def check_public_ip(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    instance = await _instance(ctx, violation)
    if instance is None:
        return CheckResult.compliant(f"instance {violation.resource_name} no longer exists")
    addresses = sorted(
        {
            str(ni["Association"]["PublicIp"])
            for ni in instance.get("NetworkInterfaces", [])
            if (ni.get("Association") or {}).get("PublicIp")
        }
        | ({str(instance["PublicIpAddress"])} if instance.get("PublicIpAddress") else set())
    )
    if not addresses:
        return CheckResult.compliant(f"instance {violation.resource_name} has no public IP")
    _found(ctx, violation, public_ips=addresses)
    return CheckResult.violating(
        f"instance {violation.resource_name} has public IP(s) {', '.join(addresses)}",
        public_ips=addresses,
    )


async def check_ec2_classic(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    instance = await _instance(ctx, violation)
    if instance is None:
        return CheckResult.compliant(f"instance {violation.resource_name} no longer exists")
    if instance.get("VpcId"):
        return CheckResult.compliant(
            f"instance {violation.resource_name} runs in {instance['VpcId']}"
        )
    return CheckResult.violating(f"instance {violation.resource_name} is not in a VPC")


def _lb_exists(what: str) -> CheckFn:
    """The load balancer is gone -> resolved; otherwise Lacework's finding stands."""

    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        lb = LoadBalancer.of(violation)
        async with ctx.aws.client(lb.service) as client:
            try:
                if lb.classic:
                    await client.describe_load_balancers(LoadBalancerNames=[lb.name])
                else:
                    await client.describe_load_balancers(LoadBalancerArns=[lb.arn])
            except ClientError as exc:
                if aws_error_code(exc) in NOT_FOUND:
                    return CheckResult.compliant(f"load balancer {lb.name} no longer exists")
                raise
        return CheckResult.violating(f"{what} of {lb.name}: Lacework's finding stands")

    return check


ELB_DESCRIBE = IamPolicy.allow(["elasticloadbalancing:DescribeLoadBalancers"])

RUNBOOKS: dict[str, str] = {
    "AWS_CIS_4_5": """\
Route table {resource_name} ({region}, account {account}) routes a large block to a VPC
peering connection ({rule_id}). Which CIDRs a peer needs is a design decision.
1. The peering routes: aws ec2 describe-route-tables --region {region} \\
     --route-table-ids {resource_name} \\
     --query "RouteTables[].Routes[?VpcPeeringConnectionId]"
2. The peer's CIDRs: aws ec2 describe-vpc-peering-connections --region {region} \\
     --vpc-peering-connection-ids <pcx-…>
3. Replace each wide route by the subnets that really talk to each other:
   aws ec2 create-route --region {region} --route-table-id {resource_name} \\
     --destination-cidr-block <narrow cidr> --vpc-peering-connection-id <pcx-…>
   aws ec2 delete-route --region {region} --route-table-id {resource_name} \\
     --destination-cidr-block <wide cidr>""",
    "LW_AWS_NETWORKING_16": """\
An SSL certificate of load balancer {resource_name} ({region}, account {account}) expires
soon ({rule_id}: NETWORKING_16 within 5 days, NETWORKING_17 within 45 days). Renewal or reissue is an owner action.
1. Which certificate: aws elb describe-load-balancers --region {region} \\
     --load-balancer-names {resource_name} --query "LoadBalancerDescriptions[].ListenerDescriptions[].Listener.SSLCertificateId"
   (ALB/NLB: aws elbv2 describe-listener-certificates --listener-arn <arn>)
2. ACM: aws acm describe-certificate --certificate-arn <arn> (NotAfter, RenewalEligibility;
   DNS validation renews automatically when the CNAME is in place).
   IAM: aws iam get-server-certificate --server-certificate-name <name> (Expiration).
3. Put the new certificate on the listener:
   aws elb set-load-balancer-listener-ssl-certificate --region {region} \\
     --load-balancer-name {resource_name} --load-balancer-port 443 --ssl-certificate-id <new arn>
   (ALB/NLB: aws elbv2 modify-listener --listener-arn <arn> --certificates CertificateArn=<new arn>)""",
    "LW_AWS_NETWORKING_38": """\
The security group of load balancer {resource_name} ({region}, account {account}) has no
outbound rule ({rule_id}): it cannot reach its targets.
1. aws elb describe-load-balancers --region {region} --load-balancer-names {resource_name} \\
     --query "LoadBalancerDescriptions[].SecurityGroups"  (ALB: aws elbv2 describe-load-balancers)
2. Add an egress rule to the targets' security group on the listener's instance port:
   aws ec2 authorize-security-group-egress --region {region} --group-id <sg-…> \\
     --ip-permissions IpProtocol=tcp,FromPort=<port>,ToPort=<port>,UserIdGroupPairs=[{{GroupId=<targets sg>}}]""",
    "LW_AWS_NETWORKING_44": """\
Load balancer {resource_name} ({region}, account {account}) has no VPC ingress security group
({rule_id}).
1. aws elb describe-load-balancers --region {region} --load-balancer-names {resource_name}
2. Create (or pick) a security group in the load balancer's VPC admitting only the listener
   ports, then: aws elb apply-security-groups-to-load-balancer --region {region} \\
     --load-balancer-name {resource_name} --security-groups <sg-…>""",
    "LW_AWS_NETWORKING_45": """\
Classic load balancer {resource_name} ({region}, account {account}) has an invalid or
insecure security group ({rule_id}).
1. aws elb describe-load-balancers --region {region} --load-balancer-names {resource_name} \\
     --query "LoadBalancerDescriptions[].[SecurityGroups,ListenerDescriptions[].Listener]"
2. aws ec2 describe-security-groups --region {region} --group-ids <sg-…>: the group must
   exist, admit only the listener ports, and allow egress to the instances.
3. Replace it: aws elb apply-security-groups-to-load-balancer --region {region} \\
     --load-balancer-name {resource_name} --security-groups <sg-…>""",
    "LW_AWS_NETWORKING_51": """\
Load balancer {resource_name} ({region}, account {account}) has an invalid or insecure
security group ({rule_id}).
1. aws elbv2 describe-load-balancers --region {region} --load-balancer-arns {resource} \\
     --query "LoadBalancers[].SecurityGroups"
2. aws ec2 describe-security-groups --region {region} --group-ids <sg-…>: the group must
   exist, admit only the listener ports, and allow egress to the targets.
3. Replace it: aws elbv2 set-security-groups --region {region} \\
     --load-balancer-arn {resource} --security-groups <sg-…>""",
    "LW_AWS_NETWORKING_40": """\
Instance {resource_name} ({region}, account {account}) is not in a VPC ({rule_id}). EC2-Classic
is retired; the instance has to be migrated.
1. aws ec2 describe-instances --region {region} --instance-ids {resource_name}
2. Create an AMI (aws ec2 create-image --instance-id {resource_name} --name migrate), launch it
   in a VPC subnet with equivalent security groups, move Elastic IPs and DNS, then terminate
   the old instance.""",
    "LW_AWS_NETWORKING_47": """\
Instance {resource_name} ({region}, account {account}) has a public IP address ({rule_id}).
Removing it cuts its internet reachability.
1. aws ec2 describe-instances --region {region} --instance-ids {resource_name} \\
     --query "Reservations[].Instances[].[PublicIpAddress,NetworkInterfaces[].Association]"
2. Elastic IP: aws ec2 describe-addresses --region {region} \\
     --filters Name=instance-id,Values={resource_name}
   then aws ec2 disassociate-address --region {region} --association-id <eipassoc-…>
3. Auto-assigned address: it goes only by replacing the instance (or its primary interface)
   in a subnet with MapPublicIpOnLaunch off; publish through a load balancer or NAT instead.
4. Prevent new ones: aws ec2 modify-subnet-attribute --region {region} \\
     --subnet-id <subnet-…> --no-map-public-ip-on-launch""",
    "LW_AWS_NETWORKING_48": """\
A CIDR block of VPC {resource_name} ({region}, account {account}) is not on your allow-list
({rule_id}).
1. aws ec2 describe-vpcs --region {region} --vpc-ids {resource_name} \\
     --query "Vpcs[].CidrBlockAssociationSet"
2. Compare with the address plan; a wrong secondary block without subnets goes with
   aws ec2 disassociate-vpc-cidr-block --region {region} --association-id <vpc-cidr-assoc-…>;
   a primary block means re-creating the VPC. Or update the allow-list in Lacework.""",
}


def _manual(
    rules: tuple[str, ...],
    verb_object: str,
    title: str,
    resource_type: str,
    check: CheckFn,
    policy: IamPolicy,
    runbook: str,
) -> Remediation:
    return Remediation(
        id=f"network.{verb_object}",
        rules=rules,
        title=title,
        resource_type=resource_type,
        policy=policy,
        check=check,
        plan=_no_plan,
        auto_remediable=False,
        runbook=runbook,
    )


PEERING_ROUTES = _manual(
    ("AWS_CIS_4_5",),
    "narrow_peering_routes",
    "VPC peering routes are least access (manual: a design decision)",
    "ec2:route-table",
    check_peering_routes,
    describe_policy("ec2:DescribeRouteTables"),
    RUNBOOKS["AWS_CIS_4_5"],
)
CERTIFICATE_EXPIRY = _manual(
    ("LW_AWS_NETWORKING_16", "LW_AWS_NETWORKING_17"),
    "renew_elb_certificate",
    "Renew an ELB certificate that expires within 5 / 45 days (manual: owner action)",
    "elasticloadbalancing:loadbalancer",
    _lb_exists("certificate expiry"),
    ELB_DESCRIBE,
    RUNBOOKS["LW_AWS_NETWORKING_16"],
)
ELB_EGRESS = _manual(
    ("LW_AWS_NETWORKING_38",),
    "review_elb_group_egress",
    "Give an ELB security group its outbound rules (manual)",
    "elasticloadbalancing:loadbalancer",
    _lb_exists("security-group egress"),
    ELB_DESCRIBE,
    RUNBOOKS["LW_AWS_NETWORKING_38"],
)
ELB_VPC_GROUP = _manual(
    ("LW_AWS_NETWORKING_44",),
    "attach_elb_vpc_group",
    "Give an ELB a VPC ingress security group (manual)",
    "elasticloadbalancing:loadbalancer",
    _lb_exists("VPC ingress security group"),
    ELB_DESCRIBE,
    RUNBOOKS["LW_AWS_NETWORKING_44"],
)
CLASSIC_GROUP = _manual(
    ("LW_AWS_NETWORKING_45",),
    "replace_classic_elb_group",
    "Replace an invalid classic ELB security group (manual)",
    "elasticloadbalancing:loadbalancer",
    _lb_exists("security group"),
    ELB_DESCRIBE,
    RUNBOOKS["LW_AWS_NETWORKING_45"],
)
ELB_GROUP = _manual(
    ("LW_AWS_NETWORKING_51",),
    "replace_elb_group",
    "Replace an invalid ALB/NLB security group (manual)",
    "elasticloadbalancing:loadbalancer",
    _lb_exists("security group"),
    ELB_DESCRIBE,
    RUNBOOKS["LW_AWS_NETWORKING_51"],
)
EC2_CLASSIC = _manual(
    ("LW_AWS_NETWORKING_40",),
    "migrate_ec2_classic",
    "Move an EC2-Classic instance into a VPC (manual: migration)",
    "ec2:instance",
    check_ec2_classic,
    describe_policy("ec2:DescribeInstances"),
    RUNBOOKS["LW_AWS_NETWORKING_40"],
)
PUBLIC_IP = _manual(
    ("LW_AWS_NETWORKING_47",),
    "remove_instance_public_ip",
    "Remove an EC2 instance's public IP (manual: cuts reachability)",
    "ec2:instance",
    check_public_ip,
    describe_policy("ec2:DescribeInstances"),
    RUNBOOKS["LW_AWS_NETWORKING_47"],
)
VPC_CIDRS = _manual(
    ("LW_AWS_NETWORKING_48",),
    "review_vpc_cidrs",
    "Keep VPC CIDR blocks on the allow-list (manual: address plan)",
    "ec2:vpc",
    _stands("the VPC's CIDR blocks against your allow-list"),
    IamPolicy(),
    RUNBOOKS["LW_AWS_NETWORKING_48"],
)

REMEDIATIONS: tuple[Remediation, ...] = (
    PEERING_ROUTES,
    CERTIFICATE_EXPIRY,
    ELB_EGRESS,
    ELB_VPC_GROUP,
    CLASSIC_GROUP,
    ELB_GROUP,
    EC2_CLASSIC,
    PUBLIC_IP,
    VPC_CIDRS,
)
