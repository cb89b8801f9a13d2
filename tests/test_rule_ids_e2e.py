"""End to end: a report under a new id that stands for two legacy rules (lacework-global-68:
CIS 4.1 port 22 and 4.2 port 3389) reaches the right legacy rule's remediation in a sweep,
through a map's ``RuleId`` declaration; without one, nothing runs and the record says what
to declare.
"""

from __future__ import annotations

import dataclasses

from lw_map_aws_network.remediations import world_ingress
from lw_remediate import RuleId, hookimpl
from lw_remediate.config import Config
from lw_remediate.operate.sweep import Sweep, build_request
from lw_remediate.plugins import load_maps
from lw_remediate.runtime import Runtime
from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import _split, daemon_config

ACCOUNT = "123456789012"
FAST = {"rate_per_region": 0, "lacework_requests_per_minute": 6000, "backoff_seconds": 0.01}
WORLD = "0.0.0.0/0"


class DeclaringMap:
    """The network map's world-ingress remediation, declaring how -68 splits by reason."""

    REMEDIATION = dataclasses.replace(
        world_ingress.REMEDIATION,
        id="net_decl.revoke_world_ingress",
        rule_ids=(
            RuleId("lacework-global-68", reasons=("Port22Open",), means="AWS_CIS_4_1"),
            RuleId("lacework-global-68", reasons=("Port3389Open",), means="AWS_CIS_4_2"),
        ),
    )

    @hookimpl
    def lw_remediate_remediations(self):
        return [self.REMEDIATION]


def open_group(ec2, name: str, port: int) -> str:
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = ec2.create_security_group(GroupName=name, Description=name, VpcId=vpc)["GroupId"]
    for p in (22, 3389):
        ec2.authorize_security_group_ingress(
            GroupId=group,
            IpPermissions=[
                {
                    "IpProtocol": "tcp",
                    "FromPort": p,
                    "ToPort": p,
                    "IpRanges": [{"CidrIp": WORLD if p == port else "10.0.0.0/8"}],
                }
            ],
        )
    return group


def world_ports(ec2, group: str) -> set[int]:
    (sg,) = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return {
        p["FromPort"]
        for p in sg["IpPermissions"]
        if any(r["CidrIp"] == WORLD for r in p.get("IpRanges", []))
    }


def report_68(rows: list[tuple[str, str]]) -> dict:
    report = load_fixture("api_v2_report_aws_cis14_lacework_global.json")["data"][0]
    rec = dict(report["recommendations"][0])
    rec.update(
        REC_ID="lacework-global-68",
        TITLE="Ensure no security groups allow ingress from 0.0.0.0/0 to remote server administration ports",
        VIOLATIONS=[
            {
                "resource": f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group}",
                "region": "us-east-1",
                "reasons": [reason],
            }
            for group, reason in rows
        ],
    )
    report["recommendations"] = [rec]
    return report


async def sweep(config: Config, registry) -> Sweep:
    async with Runtime(config, registry=registry) as rt:
        request = build_request(
            config, registry, accounts=[ACCOUNT], report_types=["AWS_CIS_14"], mode="auto"
        )
        return await Sweep(rt.engine, request).run()


async def test_a_declared_shared_id_reaches_each_legacy_rule_by_reason(
    moto_server, fake_lacework, admin_client, tmp_path
):
    ec2 = admin_client("ec2")
    ssh = open_group(ec2, "ssh-open", 22)
    rdp = open_group(ec2, "rdp-open", 3389)
    odd = open_group(ec2, "odd-open", 22)
    fake_lacework.add_report(
        ACCOUNT,
        "AWS_CIS_14",
        report_68([(ssh, "Port22Open"), (rdp, "Port3389Open"), (odd, "SomethingNew")]),
    )
    config = Config.model_validate(
        _split(daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, sweep=FAST))
    )
    registry = load_maps(
        allow=["lw-map-s3", "lw-map-cis-iam"], extra_plugins=[("decl", DeclaringMap())]
    )
    assert not registry.index.conflicts
    done = await sweep(config, registry)
    by_group = {r.violation.resource_name: r for r in done.records}
    assert (by_group[ssh].violation.rule_id, str(by_group[ssh].status)) == (
        "AWS_CIS_4_1",
        "remediated",
    ), by_group[ssh].detail
    assert (by_group[rdp].violation.rule_id, str(by_group[rdp].status)) == (
        "AWS_CIS_4_2",
        "remediated",
    ), by_group[rdp].detail
    assert {by_group[g].violation.source_rule_id for g in (ssh, rdp)} == {"lacework-global-68"}
    # Each group lost only its rule's world-open port; the 10/8 rule on the other stays.
    assert world_ports(ec2, ssh) == set() and world_ports(ec2, rdp) == set()
    # A reason no declaration names: the remediation answers both rules, so it takes the
    # id as sent and (this map's choice) revokes both ports' world-open rules.
    assert (by_group[odd].violation.rule_id, str(by_group[odd].status)) == (
        "lacework-global-68",
        "remediated",
    ), by_group[odd].detail
    assert world_ports(ec2, odd) == set()
    snap = done.snapshot()
    assert snap["rules"]["AWS_CIS_4_1"]["remediated"] == 1
    assert snap["rules"]["AWS_CIS_4_2"]["remediated"] == 1


async def test_the_installed_network_map_takes_a_shared_id_as_sent(
    moto_server, fake_lacework, admin_client, tmp_path
):
    """No declaration: network.revoke_world_ingress answers both CIS 4.1 and 4.2, so a
    -68 row reaches it under its own id and both ports' world-open rules go."""
    ec2 = admin_client("ec2")
    ssh = open_group(ec2, "ssh-open", 22)
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_14", report_68([(ssh, "Port22Open")]))
    config = Config.model_validate(
        _split(daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, sweep=FAST))
    )
    done = await sweep(config, load_maps())
    (record,) = done.records
    assert (record.remediation_id, str(record.status)) == (
        "network.revoke_world_ingress",
        "remediated",
    ), record.detail
    assert record.violation.rule_id == "lacework-global-68"
    assert world_ports(ec2, ssh) == set()
