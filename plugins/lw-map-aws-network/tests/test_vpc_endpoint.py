"""network.restrict_vpc_endpoint_policy (LW_AWS_NETWORKING_4): manual by default."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_network.remediations.vpc_endpoint import REMEDIATION
from lw_remediate import ResourceChanged, Status

ENFORCE = {"enforce": True}
SCOPED = {
    "Sid": "OnlyOurBucket",
    "Effect": "Allow",
    "Principal": "*",
    "Action": "s3:GetObject",
    "Resource": "arn:aws:s3:::ours/*",
    "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}},
}


@pytest.fixture
def endpoint(ec2, vpc_id):
    """A gateway endpoint with AWS's default full-access policy."""
    return ec2.create_vpc_endpoint(
        VpcId=vpc_id, ServiceName="com.amazonaws.us-east-1.s3", VpcEndpointType="Gateway"
    )["VpcEndpoint"]["VpcEndpointId"]


@pytest.fixture
def vpce_violation(make_violation):
    def _make(endpoint_id):
        arn = f"arn:aws:ec2:us-east-1:123456789012:vpc-endpoint/{endpoint_id}"
        return make_violation("LW_AWS_NETWORKING_4", arn, region="us-east-1")

    return _make


def policy_of(ec2, endpoint_id):
    [endpoint] = ec2.describe_vpc_endpoints(VpcEndpointIds=[endpoint_id])["VpcEndpoints"]
    return json.loads(endpoint["PolicyDocument"])


async def test_manual_by_default(endpoint, vpce_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint))
    assert record.status is Status.MANUAL
    assert f"--vpc-endpoint-ids {endpoint}" in record.detail
    assert '"aws:PrincipalAccount": "123456789012"' in record.detail
    assert writes(record) == []


async def test_enforce_narrows_public_statements_and_keeps_others(
    ec2, endpoint, vpce_violation, run_remediation, revert_action
):
    before = policy_of(ec2, endpoint)
    document = {**before, "Statement": [*before["Statement"], SCOPED]}
    ec2.modify_vpc_endpoint(VpcEndpointId=endpoint, PolicyDocument=json.dumps(document))
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint), options=ENFORCE)
    assert record.status is Status.REMEDIATED, record.detail
    full, scoped = policy_of(ec2, endpoint)["Statement"]
    assert full["Condition"] == {"StringEquals": {"aws:PrincipalAccount": "123456789012"}}
    assert full["Action"] == before["Statement"][0]["Action"]
    assert scoped == SCOPED
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert policy_of(ec2, endpoint) == document


async def test_allowed_accounts_and_org(ec2, endpoint, vpce_violation, run_remediation):
    options = {**ENFORCE, "allowed_accounts": ["111122223333"]}
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint), options=options)
    assert record.status is Status.REMEDIATED
    [statement] = policy_of(ec2, endpoint)["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] == [
        "123456789012",
        "111122223333",
    ]


async def test_org_condition(ec2, endpoint, vpce_violation, run_remediation):
    options = {**ENFORCE, "principal_org_id": "o-abcdefghij"}
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint), options=options)
    assert record.status is Status.REMEDIATED
    [statement] = policy_of(ec2, endpoint)["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}


async def test_narrowed_policy_is_resolved(ec2, endpoint, vpce_violation, run_remediation, writes):
    ec2.modify_vpc_endpoint(
        VpcEndpointId=endpoint,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [SCOPED]}),
    )
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint), options=ENFORCE)
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_undo_refuses_when_the_policy_changed(
    ec2, endpoint, vpce_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, vpce_violation(endpoint), options=ENFORCE)
    ec2.modify_vpc_endpoint(
        VpcEndpointId=endpoint,
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [SCOPED]}),
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ENFORCE)


def test_bad_options_are_rejected():
    with pytest.raises(ValueError, match="account id"):
        REMEDIATION.parse_options({"allowed_accounts": ["12345"]})
    with pytest.raises(ValueError, match="organization id"):
        REMEDIATION.parse_options({"principal_org_id": "org"})


async def test_dry_run_reads_the_endpoint_once(endpoint, vpce_violation, plans_on_check):
    # plan builds on the policy check read (ctx.checked); plan alone reads it itself
    operations, alone = await plans_on_check(
        REMEDIATION, vpce_violation(endpoint), "DescribeVpcEndpoints", options=ENFORCE
    )
    assert operations == alone == ["DescribeVpcEndpoints"]
