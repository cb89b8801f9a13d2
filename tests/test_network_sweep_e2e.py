"""End to end: a sweep of an AWS_CIS_S3 report in the real shape remediates security groups
through the one pipeline (lw-map-aws-network), and two rules on one group both land.

Report rows name security groups by ARN with their region and VPCs (flow logs) by a bare
``vpc-…`` id with their region, as real tenants' reports do (remediation-catalog-aws.md
section 0.1); the core turns the bare id into the VPC ARN.
"""

from __future__ import annotations

import asyncio

import pytest

from lw_remediate.model import Mode, Status, Violation
from lw_remediate.operate.sweep import Sweep, build_request
from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"
WORLD = "0.0.0.0/0"
FAST = {
    "rate_per_region": 0,
    "lacework_requests_per_minute": 6000,
    "progress_seconds": 0.05,
    "backoff_seconds": 0.01,
}


def _group(ec2, vpc, name, *permissions):
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=list(permissions))
    return group


def _tcp(port, cidr):
    return {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": [{"CidrIp": cidr}]}


def _ingress(ec2, group):
    [sg] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return {
        (p["FromPort"], r["CidrIp"]) for p in sg["IpPermissions"] for r in p.get("IpRanges", [])
    }


def _row(region, group, reason="UnrestrictedAccess"):
    return {
        "reasons": [reason],
        "resource": f"arn:aws:ec2:{region}:{ACCOUNT}:security-group/{group}",
        "region": region,
    }


@pytest.fixture
def estate(admin_client, fake_lacework):
    """Groups in two regions: us-east-1 has a world-open 22 + VPN 22 + world-open 443 and a
    world-open 3389; us-west-2 has a world-open 22. The report lists all three."""
    east, west = admin_client("ec2"), admin_client("ec2", region="us-west-2")
    vpc_east = east.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    vpc_west = west.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    web = _group(east, vpc_east, "web", _tcp(22, WORLD), _tcp(22, "10.8.0.0/16"), _tcp(443, WORLD))
    rdp = _group(east, vpc_east, "rdp", _tcp(3389, WORLD))
    bastion = _group(west, vpc_west, "bastion", _tcp(22, WORLD))
    admin_client("logs", region="us-west-2").create_log_group(logGroupName="vpc-flow-logs")
    report = load_fixture("api_v2_report_aws_cis_s3_legacy.json")["data"][0]
    template = report["recommendations"][0]
    report["recommendations"] = [
        {
            **template,
            "REC_ID": "AWS_CIS_4_1",
            "CATEGORY": "Networking",
            "SERVICE": "aws:ec2",
            "SUPPRESSIONS": [],
            "TITLE": "Ensure no security groups allow ingress from 0.0.0.0/0 to port 22",
            "VIOLATIONS": [_row("us-east-1", web), _row("us-west-2", bastion)],
        },
        {
            **template,
            "REC_ID": "AWS_CIS_4_2",
            "CATEGORY": "Networking",
            "SERVICE": "aws:ec2",
            "SUPPRESSIONS": [],
            "TITLE": "Ensure no security groups allow ingress from 0.0.0.0/0 to port 3389",
            "VIOLATIONS": [_row("us-east-1", rdp)],
        },
        {
            **template,
            "REC_ID": "AWS_CIS_2_9",
            "CATEGORY": "Logging",
            "SERVICE": "aws:ec2",
            "SUPPRESSIONS": [],
            "TITLE": "Ensure VPC flow logging is enabled in all VPCs",
            "VIOLATIONS": [
                {"reasons": ["FlowLoggingNotEnabled"], "resource": vpc_west, "region": "us-west-2"}
            ],
        },
    ]
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", report)
    return {
        "east": east,
        "west": west,
        "web": web,
        "rdp": rdp,
        "bastion": bastion,
        "vpc_west": vpc_west,
    }


FLOW_LOGS = {
    "log_group_name": "vpc-flow-logs",
    "delivery_role_arn": f"arn:aws:iam::{ACCOUNT}:role/flow-logs-delivery",
}


async def test_sweep_remediates_every_listed_group_and_vpc(start_daemon, estate):
    daemon = await start_daemon(
        sweep=FAST,
        remediation={
            "default_mode": "auto",
            "enrich_retry_seconds": 0.05,
            "network.enable_vpc_flow_logs": FLOW_LOGS,
        },
    )
    request = build_request(
        daemon.config,
        daemon.engine.registry,
        accounts=[ACCOUNT],
        rules=["AWS_CIS_4_1", "AWS_CIS_4_2", "AWS_CIS_2_9"],
        report_types=["AWS_CIS_S3"],
        mode="auto",
    )
    sweep = await Sweep(daemon.engine, request).run()
    assert sweep.state == "completed"
    snap = sweep.snapshot()
    assert snap["statuses"] == {"remediated": 4}, snap
    east, west = estate["east"], estate["west"]
    assert _ingress(east, estate["web"]) == {(22, "10.8.0.0/16"), (443, WORLD)}
    assert _ingress(east, estate["rdp"]) == set()
    assert _ingress(west, estate["bastion"]) == set()
    [flow_log] = west.describe_flow_logs(
        Filters=[{"Name": "resource-id", "Values": [estate["vpc_west"]]}]
    )["FlowLogs"]
    assert flow_log["LogGroupName"] == "vpc-flow-logs"
    rows = await daemon.engine.store.list_actions()
    assert {r.record.remediation_id for r in rows} == {
        "network.revoke_world_ingress",
        "network.enable_vpc_flow_logs",
    }
    regions = {r.record.violation.resource_name: r.record.violation.region for r in rows}
    assert regions[estate["bastion"]] == "us-west-2"
    [vpc_action] = [r for r in rows if r.record.remediation_id == "network.enable_vpc_flow_logs"]
    assert vpc_action.record.violation.resource_arn == (
        f"arn:aws:ec2:us-west-2:{ACCOUNT}:vpc/{estate['vpc_west']}"
    )


async def test_two_rules_on_one_group_both_land(start_daemon, admin_client):
    """CIS 4.1 and 4.2 on one group at once: the engine's per-resource lock runs them one
    after the other, each re-reads the group, and both revokes take effect."""
    ec2 = admin_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = _group(ec2, vpc, "both", _tcp(22, WORLD), _tcp(3389, WORLD), _tcp(443, WORLD))
    daemon = await start_daemon()
    arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group}"
    violations = [
        Violation(rule, arn, ACCOUNT, region="us-east-1", reason="UnrestrictedAccess")
        for rule in ("AWS_CIS_4_1", "AWS_CIS_4_2")
    ]
    results = await asyncio.gather(
        *(daemon.engine.handle_violation(v, mode=Mode.AUTO) for v in violations)
    )
    records = [r for batch in results for r in batch]
    assert [r.status for r in records] == [Status.REMEDIATED, Status.REMEDIATED], [
        r.detail for r in records
    ]
    assert _ingress(ec2, group) == {(443, WORLD)}
