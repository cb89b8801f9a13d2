"""End to end with lw-map-aws-activity installed (the daemon on a loopback port, moto, the
fake Lacework API): a security-group-change alert closes a group opened to the world on
port 22 with the network map's remediation, the audit trail naming the activity alert; a
StopLogging alert ends with logging on; the daemon's own change coming back as an
activity alert changes nothing.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

import pytest

from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import to_toml

ACCOUNT = "123456789012"
WORLD = "0.0.0.0/0"
SSH_WORLD = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": WORLD}]}


def details(name: str, alert_id: str, **changes) -> dict:
    body = copy.deepcopy(load_fixture(name)["data"])
    body["alertId"] = int(alert_id)
    entity_map = body["entityMap"]
    if "user" in changes:
        entity_map["CT_User"][0]["KEY"]["username"] = changes["user"]
    if "api" in changes:
        entity_map["CT_User"][0]["PROPS"]["api_list"] = [changes["api"]]
        entity_map["API"][0]["KEY"]["api"] = changes["api"]
    if "resource" in changes:
        entity_map["Resource"][0]["KEY"]["value"] = changes["resource"]
    return body


def sg_change(alert_id: str, group: str, **changes) -> dict:
    return details(
        "api_v2_alert_details_activity_security_group_change.json",
        alert_id,
        resource=group,
        **changes,
    )


def classic(event_id: str, rule: str | None = "lacework-global-2") -> dict:
    """The classic webhook of an activity alert (its rule id, when Lacework's is public)."""
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id=rule, event_type="Cloud Activity")
    if rule is None:
        del body["rec_id"]
        body["event_description"] = "CloudTrail configuration change"
    return body


@pytest.fixture
def open_group(admin_client):
    ec2 = admin_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
    return ec2, group


def world_ports(ec2, group):
    [sg] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return [
        p.get("FromPort")
        for p in sg["IpPermissions"]
        for r in p.get("IpRanges", [])
        if r["CidrIp"] == WORLD
    ]


async def actions_of(daemon, alert_id):
    rows = await daemon.engine.store.list_actions(limit=500)
    return [r.record for r in rows if r.record.violation.alert_id == alert_id]


async def test_security_group_change_is_closed_and_the_own_change_changes_nothing(
    start_daemon, fake_lacework, open_group
):
    ec2, group = open_group
    daemon = await start_daemon()
    fake_lacework.add_alert("71001", sg_change("71001", group))
    status, body = await daemon.post(classic("71001"))
    assert status == 202, body
    await daemon.settle()
    assert world_ports(ec2, group) == []
    records = await actions_of(daemon, "71001")
    [fixed] = [r for r in records if str(r.status) == "remediated"]
    assert fixed.remediation_id == "network.revoke_world_ingress"
    assert fixed.violation.rule_id == "AWS_CIS_4_1"
    assert fixed.violation.source_rule_id == "lacework-global-2"
    assert all(str(r.status) in {"remediated", "resolved", "refused"} for r in records)
    audit = await daemon.engine.store.audit_events(action_id=fixed.id)
    [cause] = [e for e in audit if e.kind == "activity_cause"]
    assert cause.detail.startswith(
        "activity alert 71001 (lacework-global-2) AuthorizeSecurityGroupIngress by alice"
    )
    assert f"AuthorizeSecurityGroupIngress on {group}" in cause.detail

    # CloudTrail reports the daemon's own revoke; Lacework alerts on it.
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
    session = "lw-remediate/lw-remediate-network-revoke_world_ingress"
    fake_lacework.add_alert(
        "71002", sg_change("71002", group, user=session, api="RevokeSecurityGroupIngress")
    )
    status, _ = await daemon.post(classic("71002"))
    assert status == 202
    await daemon.settle()
    [own] = await actions_of(daemon, "71002")
    assert str(own.status) == "resolved"
    assert "the daemon's own change came back" in own.detail and fixed.id in own.detail
    assert own.calls == []
    assert world_ports(ec2, group) == [22]  # nothing else ran


async def test_stop_logging_alert_ends_with_logging_on(start_daemon, fake_lacework, admin_client):
    admin_client("s3").create_bucket(Bucket="trail-logs")
    cloudtrail = admin_client("cloudtrail")
    cloudtrail.create_trail(Name="main-trail", S3BucketName="trail-logs")
    cloudtrail.start_logging(Name="main-trail")
    cloudtrail.stop_logging(Name="main-trail")
    daemon = await start_daemon()
    fake_lacework.add_alert(
        "71003", details("api_v2_alert_details_activity_stop_logging.json", "71003")
    )
    status, _ = await daemon.post(classic("71003", rule=None))
    assert status == 202
    await daemon.settle()
    assert cloudtrail.get_trail_status(Name="main-trail")["IsLogging"] is True
    [record] = await actions_of(daemon, "71003")
    assert (record.remediation_id, str(record.status)) == ("activity.start_logging", "remediated")
    assert record.violation.rule_id == "ACTIVITY:STOP_LOGGING"
    assert record.violation.activity.user == "mallory"
    audit = await daemon.engine.store.audit_events(action_id=record.id)
    assert any(e.kind == "activity_cause" and "StopLogging by mallory" in e.detail for e in audit)


async def test_root_usage_ends_manual_with_a_runbook_and_no_aws_call(start_daemon, fake_lacework):
    v1 = load_fixture("api_v1_event_details_activity_root_usage.json")["data"][0]
    body = {
        "alertId": 71004,
        "alertType": v1["EVENT_TYPE"],
        "policyId": "lacework-global-8",
        "startTime": "2026-12-03T10:00:00.000Z",
        "entityMap": {
            name: [{"KEY": row, "PROPS": {}} for row in rows]
            for name, rows in v1["ENTITY_MAP"].items()
        },
    }
    fake_lacework.add_alert("71004", body)
    daemon = await start_daemon()
    status, _ = await daemon.post(classic("71004", rule="lacework-global-8"))
    assert status == 202
    await daemon.settle()
    [record] = await actions_of(daemon, "71004")
    assert (record.remediation_id, str(record.status)) == ("activity.review_root_usage", "manual")
    for fact in ("root", "192.0.2.44", "ConsoleLogin", "2026-12-03T10:00:00.000Z"):
        assert fact in record.detail
    assert record.calls == []


async def test_kms_deletion_waits_for_approval_in_auto_mode(
    start_daemon, fake_lacework, admin_client
):
    kms = admin_client("kms")
    key = kms.create_key()["KeyMetadata"]
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    body = details(
        "api_v2_alert_details_activity_security_group_change.json",
        "71005",
        api="ScheduleKeyDeletion",
        resource=key["KeyId"],
    )
    body["policyId"] = "lacework-global-19"
    body["entityMap"]["Resource"][0]["KEY"]["name"] = "keyId"
    fake_lacework.add_alert("71005", body)
    daemon = await start_daemon()
    status, _ = await daemon.post(classic("71005", rule="lacework-global-19"))
    assert status == 202
    await daemon.settle()
    [record] = await actions_of(daemon, "71005")
    assert (record.remediation_id, str(record.status)) == (
        "activity.cancel_key_deletion",
        "awaiting_approval",
    )
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_replay_of_an_activity_alert_runs_the_maps_answer(moto_server, admin_client, tmp_path):
    """``lw-remediate replay`` of a saved activity alert (Alerts v2 object) answers it
    like the daemon: the touched group is re-evaluated and closed."""
    ec2 = admin_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH_WORLD])
    payload = tmp_path / "alert.json"
    payload.write_text(json.dumps({"data": sg_change("71006", group)}))
    config = tmp_path / "lw.toml"
    config.write_text(
        to_toml(
            {
                "aws": {
                    "region": "us-east-1",
                    "endpoint_url": moto_server.endpoint_url,
                    "role_name": "lw-remediate",
                },
                "store": {"path": str(tmp_path / "lw.sqlite3")},
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    replay_args = ["replay", "--mode", "auto", "--json", "--config", str(config), str(payload)]
    result = subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *replay_args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["remediation_id"] for r in rows if r["status"] == "remediated"] == [
        "network.revoke_world_ingress"
    ]
    assert world_ports(ec2, group) == []


async def test_removed_public_access_block_is_put_back(start_daemon, fake_lacework, admin_client):
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="pab-e2e")
    body = details(
        "api_v2_alert_details_activity_security_group_change.json",
        "71007",
        api="DeleteBucketPublicAccessBlock",
        resource="pab-e2e",
    )
    del body["policyId"]
    body["entityMap"]["Resource"][0]["KEY"]["name"] = "bucketName"
    fake_lacework.add_alert("71007", body)
    daemon = await start_daemon()
    status, _ = await daemon.post(classic("71007", rule=None))
    assert status == 202
    await daemon.settle()
    records = await actions_of(daemon, "71007")
    [fixed] = [r for r in records if r.remediation_id == "activity.restore_public_access_block"]
    assert str(fixed.status) == "remediated", fixed.detail
    config = s3.get_public_access_block(Bucket="pab-e2e")["PublicAccessBlockConfiguration"]
    assert all(config.values()) and len(config) == 4
