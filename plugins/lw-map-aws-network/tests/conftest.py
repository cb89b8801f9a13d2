"""Fixtures shared by the lw-map-aws-network tests (the kit's fixtures come from
lw_remediate.testing)."""

from __future__ import annotations

from typing import Any

import pytest

ACCOUNT = "123456789012"
REGION = "us-east-1"
READ_PREFIXES = ("Get", "List", "Describe")


@pytest.fixture
def ec2(moto_server, admin_client):
    """An admin boto3 EC2 client on a freshly reset moto."""
    return admin_client("ec2")


@pytest.fixture
def vpc_id(ec2):
    """The id of a new VPC (moto's default VPC stays untouched)."""
    return ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]


class Groups:
    """Create security groups and read their rules back."""

    def __init__(self, ec2: Any, vpc_id: str) -> None:
        self.ec2 = ec2
        self.vpc_id = vpc_id

    def create(self, name: str = "web", *permissions: dict[str, Any]) -> str:
        group = self.ec2.create_security_group(
            GroupName=name, Description=f"{name} group", VpcId=self.vpc_id
        )["GroupId"]
        if permissions:
            self.ec2.authorize_security_group_ingress(
                GroupId=group, IpPermissions=list(permissions)
            )
        return str(group)

    def ingress(self, group: str) -> set[tuple[Any, ...]]:
        """The ingress rules as (protocol, from, to, source, description) tuples, read
        through DescribeSecurityGroups (moto's DescribeSecurityGroupRules drops the
        description of group references)."""
        [sg] = self.ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
        return flatten(sg["IpPermissions"])

    def egress(self, group: str) -> list[dict[str, Any]]:
        rows = self.ec2.describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}]
        )["SecurityGroupRules"]
        return [r for r in rows if r["IsEgress"]]


def flatten(permissions: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    rules = set()
    for p in permissions:
        head = (p["IpProtocol"], p.get("FromPort"), p.get("ToPort"))
        for key, field in (
            ("IpRanges", "CidrIp"),
            ("Ipv6Ranges", "CidrIpv6"),
            ("PrefixListIds", "PrefixListId"),
            ("UserIdGroupPairs", "GroupId"),
        ):
            for entry in p.get(key, []):
                rules.add((*head, entry[field], entry.get("Description")))
    return rules


@pytest.fixture
def groups(ec2, vpc_id):
    return Groups(ec2, vpc_id)


def tcp(port: int, *cidrs: str, to: int | None = None, description: str | None = None):
    """An IpPermissions entry: tcp ``port`` (to ``to``) from each CIDR."""
    return _perm("tcp", port, to if to is not None else port, cidrs, description)


def udp(port: int, *cidrs: str, description: str | None = None):
    return _perm("udp", port, port, cidrs, description)


def _perm(protocol, low, high, cidrs, description):
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        perm.update(FromPort=low, ToPort=high)
    v4 = [c for c in cidrs if ":" not in c]
    v6 = [c for c in cidrs if ":" in c]
    if v4:
        perm["IpRanges"] = [
            {"CidrIp": c, **({"Description": description} if description else {})} for c in v4
        ]
    if v6:
        perm["Ipv6Ranges"] = [
            {"CidrIpv6": c, **({"Description": description} if description else {})} for c in v6
        ]
    return perm


def all_traffic(*cidrs: str):
    return _perm("-1", -1, -1, cidrs, None)


def icmp_all(*cidrs: str):
    return _perm("icmp", -1, -1, cidrs, None)


@pytest.fixture
def sg_violation(make_violation):
    """``sg_violation("AWS_CIS_4_1", "sg-…")``: a violation on a group ARN with a region."""

    def _make(rule: str, group: str, **kwargs: Any):
        arn = f"arn:aws:ec2:{REGION}:{ACCOUNT}:security-group/{group}"
        return make_violation(rule, arn, region=REGION, **kwargs)

    return _make


@pytest.fixture
def writes():
    """``writes(record)``: the operations of a record's calls that change something."""

    def _writes(record):
        return [
            c.operation
            for c in record.calls
            if not c.dependent and not c.operation.startswith(READ_PREFIXES)
        ]

    return _writes


@pytest.fixture
def perm():
    """Builders of IpPermissions entries: ``perm.tcp(22, "0.0.0.0/0")``, ``perm.udp``,
    ``perm.all("0.0.0.0/0")``, ``perm.icmp("0.0.0.0/0")``."""
    from types import SimpleNamespace

    return SimpleNamespace(tcp=tcp, udp=udp, all=all_traffic, icmp=icmp_all)


@pytest.fixture
def subnets(ec2, vpc_id):
    """Two subnets of the test VPC in two availability zones."""
    return [
        ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)[
            "Subnet"
        ]["SubnetId"]
        for n, zone in ((10, "us-east-1a"), (11, "us-east-1b"))
    ]


@pytest.fixture
def alb(admin_client, subnets):
    """An application load balancer; returns its ARN."""
    return admin_client("elbv2").create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][
        0
    ]["LoadBalancerArn"]


@pytest.fixture
def classic_lb(admin_client):
    """A classic load balancer ``legacy``; returns its ARN."""
    admin_client("elb").create_load_balancer(
        LoadBalancerName="legacy",
        Listeners=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
        AvailabilityZones=["us-east-1a"],
    )
    return f"arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT}:loadbalancer/legacy"


@pytest.fixture
def lb_violation(make_violation):
    def _make(rule, arn):
        return make_violation(rule, arn, region=REGION)

    return _make
