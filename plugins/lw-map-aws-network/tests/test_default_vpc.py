"""network.delete_default_vpc (LW_AWS_NETWORKING_46): manual; option, irreversible."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.default_vpc import REMEDIATION
from lw_remediate import Status

DELETE = {"delete_when_empty": True}


@pytest.fixture
def default_vpc(ec2):
    [vpc] = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    return vpc["VpcId"]


@pytest.fixture
def vpc_violation(make_violation):
    def _make(vpc_id):
        arn = f"arn:aws:ec2:us-east-1:123456789012:vpc/{vpc_id}"
        return make_violation("LW_AWS_NETWORKING_46", arn, region="us-east-1")

    return _make


def vpc_exists(ec2, vpc_id):
    return bool(ec2.describe_vpcs(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Vpcs"])


async def test_manual_by_default(default_vpc, vpc_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, vpc_violation(default_vpc))
    assert record.status is Status.MANUAL
    assert f"--vpc-id {default_vpc}" in record.detail
    assert writes(record) == []


async def test_deletes_an_empty_default_vpc_irreversibly(
    ec2, default_vpc, vpc_violation, run_remediation
):
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=default_vpc)
    waiting = await run_remediation(REMEDIATION, vpc_violation(default_vpc), options=DELETE)
    assert waiting.status is Status.AWAITING_APPROVAL, waiting.detail
    assert waiting.plan.requires_approval
    assert vpc_exists(ec2, default_vpc)  # nothing deleted before the approval
    record = await run_remediation(
        REMEDIATION, vpc_violation(default_vpc), options=DELETE, approve=True
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert record.plan.irreversible
    assert any("IRREVERSIBLE" in note for note in record.plan.notes)
    assert not vpc_exists(ec2, default_vpc)
    assert record.before_image["InternetGateways"] == [igw]
    assert REMEDIATION.revert is None


async def test_default_vpc_in_use_is_refused(
    ec2, default_vpc, vpc_violation, run_remediation, writes
):
    subnet = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default_vpc]}])["Subnets"][
        0
    ]["SubnetId"]
    eni = ec2.create_network_interface(SubnetId=subnet)["NetworkInterface"]["NetworkInterfaceId"]
    extra = ec2.create_security_group(GroupName="app", Description="app", VpcId=default_vpc)[
        "GroupId"
    ]
    record = await run_remediation(REMEDIATION, vpc_violation(default_vpc), options=DELETE)
    assert record.status is Status.REFUSED
    assert eni in record.detail and extra in record.detail
    assert writes(record) == []
    assert vpc_exists(ec2, default_vpc)


async def test_a_non_default_vpc_is_resolved(vpc_id, vpc_violation, run_remediation):
    record = await run_remediation(REMEDIATION, vpc_violation(vpc_id), options=DELETE)
    assert record.status is Status.RESOLVED
    assert "not a default VPC" in record.detail
