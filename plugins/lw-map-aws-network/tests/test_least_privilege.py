"""Least-privilege proofs (resource-scoped policies) for the network remediations.

Each runs the happy path and undo as a role holding only the declared policy (moto's IAM
enforcement on), then checks every recorded call's action and resource against the
declared, resource-scoped policy and that every declared action was used.
"""

from __future__ import annotations

import json

from lw_map_aws_network.remediations import (
    default_group,
    default_vpc,
    flow_logs,
    lb_access_logs,
    manual,
    nacl,
    tls_policy,
    unrestricted_ingress,
    unused_group,
    vpc_endpoint,
    world_ingress,
)
from lw_remediate import IamPolicy, PolicyStatement, Status

WORLD = "0.0.0.0/0"

#: Checked by AWS inside another call and not declared as a dependent of it: DeleteFlowLogs
#: does not say whether the flow log went to S3, so not recorded. The others (iam:PassRole,
#: ec2:CreateTags on create, logs:CreateLogDelivery) are declared with
#: ``AwsCall(dependent=...)`` and checked like any call.
DEPENDENT = frozenset({"logs:DeleteLogDelivery"})


def without_dependent(policy: IamPolicy) -> IamPolicy:
    statements = []
    for st in policy.statements:
        actions = tuple(a for a in st.actions if a not in DEPENDENT)
        if actions:
            statements.append(PolicyStatement(actions, st.resources, st.conditions))
    return IamPolicy(tuple(statements))


async def prove(
    least_privilege, remediation, violation, options=None, *, revert=True, expect=Status.REMEDIATED
):
    opts = remediation.parse_options(options or {})
    declared = remediation.policy_for(opts, revert=revert)
    return await least_privilege.run(
        remediation,
        violation,
        options=opts,
        revert=revert,
        policy=without_dependent(declared),
        expect=expect,
    )


async def test_world_ingress_default(groups, perm, sg_violation, least_privilege):
    group = groups.create("g", perm.tcp(22, WORLD))
    await prove(least_privilege, world_ingress.REMEDIATION, sg_violation("AWS_CIS_4_1", group))


async def test_world_ingress_trusted_and_split(groups, perm, sg_violation, least_privilege):
    group = groups.create("g", perm.tcp(20, WORLD, to=30))
    await prove(
        least_privilege,
        world_ingress.REMEDIATION,
        sg_violation("AWS_CIS_4_1", group),
        {"trusted_cidrs": ["10.0.0.0/8"], "split_wide_ranges": True},
    )


async def test_unrestricted_ingress_enforced(groups, perm, sg_violation, least_privilege):
    group = groups.create("g", perm.tcp(8080, WORLD))
    await prove(
        least_privilege,
        unrestricted_ingress.REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_5", group),
        {"enforce": True},
    )


async def test_default_group(ec2, vpc_id, sg_violation, least_privilege):
    [group] = ec2.describe_security_groups(
        Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]},
            {"Name": "group-name", "Values": ["default"]},
        ]
    )["SecurityGroups"]
    ec2.authorize_security_group_ingress(
        GroupId=group["GroupId"],
        IpPermissions=[{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": group["GroupId"]}]}],
    )
    await prove(
        least_privilege, default_group.REMEDIATION, sg_violation("AWS_CIS_4_4", group["GroupId"])
    )


async def test_flow_logs(vpc_id, admin_client, make_violation, least_privilege):
    admin_client("logs").create_log_group(logGroupName="flow")
    report = await prove(
        least_privilege,
        flow_logs.REMEDIATION,
        make_violation("AWS_CIS_2_9", f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}"),
        {"log_group_name": "flow", "delivery_role_arn": "arn:aws:iam::{account}:role/flow"},
    )
    # iam:PassRole (a dependent action, never checked by moto) is recorded on the role
    # and covered by the declared, role-scoped policy
    assert {(c.operation, c.resource) for c in report.calls if c.action == "iam:PassRole"} == {
        ("CreateFlowLogs", "arn:aws:iam::123456789012:role/flow")
    }


async def test_nacl(ec2, vpc_id, make_violation, least_privilege):
    acl = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    for number, cidr in ((100, {"CidrBlock": WORLD}), (101, {"Ipv6CidrBlock": "::/0"})):
        ec2.create_network_acl_entry(
            NetworkAclId=acl,
            RuleNumber=number,
            Protocol="-1",
            RuleAction="allow",
            Egress=False,
            **cidr,
        )
    options = {
        "enforce": True,
        "inbound_entries": [
            {
                "rule_number": 100,
                "cidr": "10.0.0.0/8",
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
            },
            {
                "rule_number": 110,
                "cidr": WORLD,
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
            },
        ],
    }
    await prove(
        least_privilege,
        nacl.REMEDIATION,
        make_violation(
            "LW_AWS_NETWORKING_2", f"arn:aws:ec2:us-east-1:123456789012:network-acl/{acl}"
        ),
        options,
    )


async def test_unused_group(groups, perm, sg_violation, least_privilege):
    group = groups.create("old", perm.tcp(22, "10.0.0.0/8"))
    # egress other than the all-traffic rule a new group gets: undo revokes that one and
    # authorizes the recorded rule
    [sg] = groups.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    groups.ec2.revoke_security_group_egress(GroupId=group, IpPermissions=sg["IpPermissionsEgress"])
    groups.ec2.authorize_security_group_egress(
        GroupId=group, IpPermissions=[perm.tcp(443, "10.0.0.0/8")]
    )
    # tags: undo recreates the group with them, which AWS authorises with ec2:CreateTags
    groups.ec2.create_tags(Resources=[group], Tags=[{"Key": "team", "Value": "net"}])
    report = await prove(
        least_privilege,
        unused_group.REMEDIATION,
        sg_violation("LW_AWS_NETWORKING_1", group),
        {"enforce": True},
    )
    assert {(c.operation, c.resource) for c in report.calls if c.action == "ec2:CreateTags"} == {
        ("CreateSecurityGroup", "arn:aws:ec2:us-east-1:123456789012:security-group/*")
    }


async def test_vpc_endpoint(ec2, vpc_id, make_violation, least_privilege):
    endpoint = ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]
    await prove(
        least_privilege,
        vpc_endpoint.REMEDIATION,
        make_violation(
            "LW_AWS_NETWORKING_4", f"arn:aws:ec2:us-east-1:123456789012:vpc-endpoint/{endpoint}"
        ),
        {"enforce": True},
    )


async def test_lb_access_logs(alb, admin_client, lb_violation, least_privilege):
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="elb-logs")
    s3.put_bucket_policy(
        Bucket="elb-logs",
        Policy=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"},
                        "Action": "s3:PutObject",
                        "Resource": "arn:aws:s3:::elb-logs/*",
                    }
                ],
            }
        ),
    )
    await prove(
        least_privilege,
        lb_access_logs.REMEDIATION,
        lb_violation("LW_AWS_NETWORKING_49", alb),
        {"bucket": "elb-logs"},
    )


async def test_flow_logs_to_s3(vpc_id, admin_client, make_violation, least_privilege):
    admin_client("s3").create_bucket(Bucket="flow-logs")
    report = await prove(
        least_privilege,
        flow_logs.REMEDIATION,
        make_violation("AWS_CIS_4_3", f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}"),
        {"s3_bucket_arn": "arn:aws:s3:::flow-logs"},
    )
    assert [(c.operation, c.action) for c in report.calls if c.dependent] == [
        ("CreateFlowLogs", "logs:CreateLogDelivery")
    ]


async def test_default_vpc_deletion(ec2, make_violation, least_privilege):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc["VpcId"])
    await prove(
        least_privilege,
        default_vpc.REMEDIATION,
        make_violation(
            "LW_AWS_NETWORKING_46", f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc['VpcId']}"
        ),
        {"delete_when_empty": True},
        revert=False,
    )


def _only(policy: IamPolicy, *actions: str) -> IamPolicy:
    """The declared statements narrowed to the actions one kind of load balancer uses."""
    statements = []
    for st in policy.statements:
        kept = tuple(a for a in st.actions if a in actions)
        if kept:
            statements.append(PolicyStatement(kept, st.resources, st.conditions))
    return IamPolicy(tuple(statements))


ALB_ACTIONS = ("elasticloadbalancing:DescribeListeners", "elasticloadbalancing:ModifyListener")
CLASSIC_ACTIONS = (
    "elasticloadbalancing:DescribeLoadBalancers",
    "elasticloadbalancing:DescribeLoadBalancerPolicies",
    "elasticloadbalancing:CreateLoadBalancerPolicy",
    "elasticloadbalancing:SetLoadBalancerPoliciesOfListener",
    "elasticloadbalancing:DeleteLoadBalancerPolicy",
)


def test_tls_policy_declares_exactly_both_kinds():
    rem = tls_policy.REMEDIATION
    declared = rem.policy_for(rem.parse_options({"enforce": True}), revert=True)
    assert declared.actions == frozenset(ALB_ACTIONS + CLASSIC_ACTIONS)


async def test_tls_policy_alb(alb, admin_client, lb_violation, least_privilege):
    """One run uses one kind's calls: each kind is proven with its part of the declared
    policy (same statements and resources), and the two parts make up the declaration."""
    cert = admin_client("acm").request_certificate(DomainName="example.com")["CertificateArn"]
    admin_client("elbv2").create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-2016-08",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain"},
            }
        ],
    )
    rem = tls_policy.REMEDIATION
    opts = rem.parse_options({"enforce": True})
    await least_privilege.run(
        rem,
        lb_violation("LW_AWS_NETWORKING_39", alb),
        options=opts,
        revert=True,
        policy=_only(rem.policy_for(opts, revert=True), *ALB_ACTIONS),
    )


async def test_tls_policy_classic(admin_client, lb_violation, least_privilege):
    elb = admin_client("elb")
    elb.create_load_balancer(
        LoadBalancerName="legacy",
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstancePort": 80,
                "InstanceProtocol": "HTTP",
                "SSLCertificateId": "arn:aws:iam::123456789012:server-certificate/legacy",
            }
        ],
        AvailabilityZones=["us-east-1a"],
    )
    rem = tls_policy.REMEDIATION
    opts = rem.parse_options({"enforce": True})
    await least_privilege.run(
        rem,
        lb_violation(
            "LW_AWS_NETWORKING_39",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/legacy",
        ),
        options=opts,
        revert=True,
        policy=_only(rem.policy_for(opts, revert=True), *CLASSIC_ACTIONS),
    )


async def test_manual_checks_are_read_only(ec2, vpc_id, make_violation, least_privilege):
    peer = ec2.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc_id, PeerVpcId=peer)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"
    ]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock="172.0.0.0/8", VpcPeeringConnectionId=pcx
    )
    await least_privilege.run(
        manual.PEERING_ROUTES,
        make_violation("AWS_CIS_4_5", f"arn:aws:ec2:us-east-1:123456789012:route-table/{table}"),
        expect=Status.MANUAL,
    )


async def test_manual_elb_check(alb, lb_violation, least_privilege):
    await least_privilege.run(
        manual.ELB_GROUP, lb_violation("LW_AWS_NETWORKING_51", alb), expect=Status.MANUAL
    )
