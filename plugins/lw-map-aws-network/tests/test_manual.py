"""Manual-only network rules: re-read where possible, never write, runbook filled in."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations import manual
from lw_remediate import Status

REGION_ARN = "arn:aws:ec2:us-east-1:123456789012"


@pytest.fixture
def peering(ec2, vpc_id):
    """The test VPC's main route table with a /8 route to a peering connection."""
    peer = ec2.create_vpc(CidrBlock="172.16.0.0/16")["Vpc"]["VpcId"]
    pcx = ec2.create_vpc_peering_connection(VpcId=vpc_id, PeerVpcId=peer)["VpcPeeringConnection"][
        "VpcPeeringConnectionId"
    ]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    ec2.create_route(
        RouteTableId=table, DestinationCidrBlock="172.0.0.0/8", VpcPeeringConnectionId=pcx
    )
    return table, pcx


async def test_peering_routes_runbook(peering, make_violation, run_remediation, writes):
    table, _ = peering
    record = await run_remediation(
        manual.PEERING_ROUTES, make_violation("AWS_CIS_4_5", f"{REGION_ARN}:route-table/{table}")
    )
    assert record.status is Status.MANUAL
    assert f"--route-table-ids {table}" in record.detail
    assert writes(record) == []


async def test_route_table_without_peering_is_resolved(
    ec2, vpc_id, make_violation, run_remediation
):
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]["RouteTableId"]
    record = await run_remediation(
        manual.PEERING_ROUTES, make_violation("AWS_CIS_4_5", f"{REGION_ARN}:route-table/{table}")
    )
    assert record.status is Status.RESOLVED


@pytest.fixture
def instance(ec2, subnets):
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(
        ImageId=image, MinCount=1, MaxCount=1, SubnetId=subnets[0], InstanceType="t3.micro"
    )["Instances"][0]["InstanceId"]


async def test_public_ip(ec2, instance, make_violation, run_remediation, writes):
    violation = make_violation("LW_AWS_NETWORKING_47", f"{REGION_ARN}:instance/{instance}")
    record = await run_remediation(manual.PUBLIC_IP, violation)
    assert record.status is Status.RESOLVED  # a private subnet instance has no public IP
    allocation = ec2.allocate_address(Domain="vpc")["AllocationId"]
    ec2.associate_address(AllocationId=allocation, InstanceId=instance)
    record = await run_remediation(manual.PUBLIC_IP, violation)
    assert record.status is Status.MANUAL
    assert f"--instance-ids {instance}" in record.detail
    assert writes(record) == []


async def test_vpc_instance_is_not_ec2_classic(instance, make_violation, run_remediation):
    violation = make_violation("LW_AWS_NETWORKING_40", f"{REGION_ARN}:instance/{instance}")
    record = await run_remediation(manual.EC2_CLASSIC, violation)
    assert record.status is Status.RESOLVED


@pytest.mark.parametrize(
    ("remediation", "rule"),
    [
        (manual.CERTIFICATE_EXPIRY, "LW_AWS_NETWORKING_16"),
        (manual.CERTIFICATE_EXPIRY, "LW_AWS_NETWORKING_17"),
        (manual.ELB_EGRESS, "LW_AWS_NETWORKING_38"),
        (manual.ELB_VPC_GROUP, "LW_AWS_NETWORKING_44"),
        (manual.CLASSIC_GROUP, "LW_AWS_NETWORKING_45"),
    ],
)
async def test_classic_elb_runbooks(
    remediation, rule, classic_lb, lb_violation, run_remediation, writes
):
    record = await run_remediation(remediation, lb_violation(rule, classic_lb))
    assert record.status is Status.MANUAL
    assert "legacy" in record.detail and rule in record.detail
    assert writes(record) == []


async def test_alb_group_runbook_and_gone_lb(alb, lb_violation, run_remediation, admin_client):
    record = await run_remediation(manual.ELB_GROUP, lb_violation("LW_AWS_NETWORKING_51", alb))
    assert record.status is Status.MANUAL
    assert f"--load-balancer-arn {alb}" in record.detail
    admin_client("elbv2").delete_load_balancer(LoadBalancerArn=alb)
    record = await run_remediation(manual.ELB_GROUP, lb_violation("LW_AWS_NETWORKING_51", alb))
    assert record.status is Status.RESOLVED


async def test_vpc_cidr_runbook(vpc_id, make_violation, run_remediation):
    record = await run_remediation(
        manual.VPC_CIDRS, make_violation("LW_AWS_NETWORKING_48", f"{REGION_ARN}:vpc/{vpc_id}")
    )
    assert record.status is Status.MANUAL
    assert f"--vpc-ids {vpc_id}" in record.detail
