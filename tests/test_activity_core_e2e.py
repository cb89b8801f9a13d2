"""End to end, the core's cloud-activity path with a map defined here (the daemon, moto,
the fake Lacework): a touched security group is re-evaluated by the installed network
map through the one pipeline, the audit trail names the activity alert, and the
daemon's own change coming back changes nothing.
"""

from __future__ import annotations

import copy

import pytest

from lw_remediate import TouchedResource, hookimpl
from lw_remediate.plugins import load_maps
from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"
WORLD = "0.0.0.0/0"


class GroupMap:
    """Answers every activity alert naming a ``groupId`` with that security group."""

    @hookimpl
    def lw_remediate_touched_resources(self, event):
        return [
            TouchedResource(
                f"arn:aws:ec2:{event.region}:{event.account_id}:security-group/{group}",
                "ec2:security-group",
                event.account_id,
                event.region,
                f"security group {group} changed",
            )
            for group in event.resource_values("groupId")
        ]


def activity_details(alert_id: str, group: str, *, user: str, api: str) -> dict:
    details = copy.deepcopy(
        load_fixture("api_v2_alert_details_activity_security_group_change.json")["data"]
    )
    details["alertId"] = int(alert_id)
    entity_map = details["entityMap"]
    entity_map["CT_User"][0]["KEY"]["username"] = user
    entity_map["CT_User"][0]["PROPS"]["api_list"] = [api]
    entity_map["API"][0]["KEY"]["api"] = api
    entity_map["Resource"][0]["KEY"]["value"] = group
    return details


def classic(event_id: str) -> dict:
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id="lacework-global-2", event_type="Cloud Activity")
    return body


@pytest.fixture
def open_group(admin_client):
    ec2 = admin_client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    group = ec2.create_security_group(GroupName="web", Description="web", VpcId=vpc)["GroupId"]
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": WORLD}]},
            {
                "IpProtocol": "tcp",
                "FromPort": 22,
                "ToPort": 22,
                "IpRanges": [{"CidrIp": "10.8.0.0/16"}],
            },
        ],
    )
    return ec2, group


def world_ingress(ec2, group):
    [sg] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
    return [
        (p.get("FromPort"), r["CidrIp"])
        for p in sg["IpPermissions"]
        for r in p.get("IpRanges", [])
        if r["CidrIp"] == WORLD
    ]


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent = []

    async def notify(self, notification) -> None:
        self.sent.append(notification)


async def start(start_daemon):
    daemon = await start_daemon()
    registry = load_maps(allow=["lw-map-aws-network"], extra_plugins=[("group-map", GroupMap())])
    daemon.engine.reconfigure(daemon.config, registry)
    daemon.extra["recorder"] = recorder = Recorder()
    daemon.engine.notifiers.notifiers.append(recorder)
    return daemon


async def test_a_touched_group_is_re_evaluated_and_the_own_change_coming_back_changes_nothing(
    start_daemon, fake_lacework, open_group
):
    ec2, group = open_group
    daemon = await start(start_daemon)
    fake_lacework.add_alert(
        "70001", activity_details("70001", group, user="alice", api="AuthorizeSecurityGroupIngress")
    )
    status, body = await daemon.post(classic("70001"))
    assert status == 202, body
    await daemon.settle()
    assert world_ingress(ec2, group) == []
    rows = await daemon.engine.store.list_actions(limit=500)
    by_status = {}
    for row in rows:
        by_status.setdefault(str(row.record.status), []).append(row.record)
    [fixed] = by_status["remediated"]
    assert fixed.remediation_id == "network.revoke_world_ingress"
    assert fixed.violation.alert_id == "70001"
    assert fixed.violation.source_rule_id == "lacework-global-2"
    assert fixed.violation.activity is not None and fixed.violation.activity.user == "alice"
    assert {r.record.violation.resource_arn for r in rows} == {
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group}"
    }
    # manual-by-default remediations of the type (NETWORKING_1, 5-11) are not re-run
    assert "manual" not in by_status
    [cause] = [
        e
        for e in await daemon.engine.store.audit_events(action_id=fixed.id)
        if e.kind == "activity_cause"
    ]
    assert "activity alert 70001 (lacework-global-2)" in cause.detail
    assert "by alice from 203.0.113.7" in cause.detail
    assert cause.data["activity"]["apis"] == ["AuthorizeSecurityGroupIngress"]
    revoke_calls = [c.operation for c in fixed.calls]
    assert "RevokeSecurityGroupIngress" in revoke_calls
    # Every rule of the type was re-checked, but only what was not "nothing to fix" is sent.
    assert len(by_status["resolved"]) > 1
    sent = [n.status for n in daemon.extra["recorder"].sent]
    assert "remediated" in sent and "resolved" not in sent

    # The daemon's own revoke comes back as an activity alert: resolved, nothing runs.
    before = len(rows)
    fake_lacework.add_alert(
        "70002",
        activity_details(
            "70002",
            group,
            user="lw-remediate/lw-remediate-network-revoke_world_ingress",
            api="RevokeSecurityGroupIngress",
        ),
    )
    # and the group is opened again meanwhile: a re-evaluation would close it
    ec2.authorize_security_group_ingress(
        GroupId=group,
        IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": WORLD}]}
        ],
    )
    status, _ = await daemon.post(classic("70002"))
    assert status == 202
    await daemon.settle()
    rows = await daemon.engine.store.list_actions(limit=500)
    assert len(rows) == before + 1
    newest = [r.record for r in rows if r.record.violation.alert_id == "70002"]
    [own] = newest
    assert str(own.status) == "resolved"
    assert f"is what action {fixed.id}" in own.detail
    assert "own change" in own.detail
    assert world_ingress(ec2, group) == [(22, WORLD)]  # untouched: no other change


async def test_the_daemon_role_without_a_matching_action_is_answered_normally(
    start_daemon, fake_lacework, open_group
):
    ec2, group = open_group
    daemon = await start(start_daemon)
    fake_lacework.add_alert(
        "70003",
        activity_details(
            "70003", group, user="lw-remediate/someone", api="AuthorizeSecurityGroupIngress"
        ),
    )
    status, _ = await daemon.post(classic("70003"))
    assert status == 202
    await daemon.settle()
    assert world_ingress(ec2, group) == []


async def test_an_activity_alert_no_map_answers_ends_no_remediation(
    start_daemon, fake_lacework, open_group
):
    ec2, group = open_group
    daemon = await start_daemon()
    daemon.engine.reconfigure(daemon.config, load_maps(entry_points=False))
    fake_lacework.add_alert(
        "70004", activity_details("70004", group, user="alice", api="AuthorizeSecurityGroupIngress")
    )
    status, _ = await daemon.post(classic("70004"))
    assert status == 202
    await daemon.settle()
    [row] = await daemon.engine.store.list_actions()
    assert str(row.record.status) == "no_remediation"
    assert "no installed map answers activity alert 70004" in row.record.detail
    assert row.record.violation.resource_arn == f"arn:aws:iam:us-east-1:{ACCOUNT}:root"
    assert world_ingress(ec2, group) == [(22, WORLD)]


async def test_two_maps_naming_one_resource_run_each_remediation_once(
    start_daemon, fake_lacework, open_group
):
    ec2, group = open_group
    daemon = await start_daemon()
    registry = load_maps(
        allow=["lw-map-aws-network", "lw-map-aws-activity"],
        extra_plugins=[("group-map", GroupMap())],
    )
    daemon.engine.reconfigure(daemon.config, registry)
    fake_lacework.add_alert(
        "70005", activity_details("70005", group, user="alice", api="AuthorizeSecurityGroupIngress")
    )
    status, _ = await daemon.post(classic("70005"))
    assert status == 202
    await daemon.settle()
    assert world_ingress(ec2, group) == []
    rows = await daemon.engine.store.list_actions(limit=500)
    keys = [(r.record.remediation_id, r.record.violation.rule_id) for r in rows]
    assert len(keys) == len(set(keys))
    for row in rows:
        causes = [
            e
            for e in await daemon.engine.store.audit_events(action_id=row.record.id)
            if e.kind == "activity_cause"
        ]
        assert len(causes) == 1, row.record.remediation_id
