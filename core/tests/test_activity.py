"""Cloud-activity alerts: details parsing, the registry's type query and the hooks."""

from __future__ import annotations

import pytest

from lw_remediate import (
    ActivityEvent,
    ActivityPolicy,
    ActivityResource,
    CheckResult,
    Plan,
    Remediation,
    TouchedResource,
    Violation,
    hookimpl,
)
from lw_remediate.ingest.activity import activity_event
from lw_remediate.ingest.alerts import parse_payload
from lw_remediate.plugins import load_maps
from lw_remediate.policy import IamPolicy
from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"


def test_alerts_v2_security_group_change():
    body = load_fixture("api_v2_alert_details_activity_security_group_change.json")
    event = activity_event(body)
    assert event == ActivityEvent(
        alert_id="918301",
        policy_id="lacework-global-2",
        alert_type="SecurityGroupChange",
        title="Security Group Change",
        account_id=ACCOUNT,
        region="us-east-1",
        user="alice",
        principal_id="AIDAEXAMPLEALICE00001",
        mfa=False,
        apis=("AuthorizeSecurityGroupIngress",),
        service="ec2.amazonaws.com",
        source_ips=("203.0.113.7",),
        resources=(ActivityResource("groupId", "sg-0123456789abcdef0"),),
        time="2026-12-03T11:00:00.000Z",
    )
    assert event.resource_values("GROUPID") == ["sg-0123456789abcdef0"]
    assert event.describe() == (
        "activity alert 918301 (lacework-global-2) AuthorizeSecurityGroupIngress by alice "
        "from 203.0.113.7 at 2026-12-03T11:00:00.000Z"
    )


def test_v1_event_details_root_usage_upper_case_keys():
    event = activity_event(load_fixture("api_v1_event_details_activity_root_usage.json"))
    assert event is not None
    assert (event.alert_id, event.alert_type, event.user, event.account_id) == (
        "918303",
        "UsageOfRootAccount",
        "root",
        ACCOUNT,
    )
    assert event.apis == ("ConsoleLogin", "DescribeInstances")
    assert event.source_ips == ("192.0.2.44",)
    assert event.mfa is False
    assert event.policy_id is None


def test_eventbridge_detail_with_activity_event_details():
    v1 = load_fixture("api_v1_event_details_activity_root_usage.json")
    envelope = {"detail-type": "LaceworkEvents", "detail": {"EVENT_DETAILS": {"data": v1["data"]}}}
    event = activity_event(envelope, alert_id="77")
    assert event is not None and event.alert_id == "77" and event.user == "root"


@pytest.mark.parametrize(
    "name",
    [
        "api_v2_alert_details_compliance.json",
        "api_v2_alert_details_custom_fim_gosdk_mock.json",
        "api_v1_event_details_lw_s3_1.json",
        "api_v1_event_details_user_event_gosdk.json",
    ],
)
def test_compliance_and_agent_alerts_are_not_activity(name):
    assert activity_event(load_fixture(name)) is None


@pytest.mark.parametrize(
    "junk",
    [None, [], "x", {"data": "x"}, {"entityMap": []}, {"entityMap": {"CT_User": "x"}}],
)
def test_junk_is_not_activity(junk):
    assert activity_event(junk) is None


def test_hostile_values_are_bounded_and_typed():
    body = {
        "alertId": 5,
        "entityMap": {
            "CT_User": [{"KEY": {"username": "a\nb" * 1000, "account_id": True, "mfa": "yes"}}],
            "API": [{"KEY": {"api": ["not", "text"]}}]
            + [{"KEY": {"api": f"A{i}"}} for i in range(80)],
            "Region": [{"KEY": {"region": "not a region"}}],
            "Resource": [{"KEY": {"name": "n", "value": 7}}],
        },
    }
    event = activity_event(body)
    assert event is not None
    assert event.user is not None and "\n" not in event.user and len(event.user) <= 512
    assert event.account_id is None and event.region is None and event.mfa is None
    assert len(event.apis) == 50
    assert event.resources == (ActivityResource("n", "7"),)


def test_webhook_alerts_v2_payload_of_an_activity_alert_parses_without_violations():
    body = load_fixture("api_v2_alert_details_activity_security_group_change.json")
    [alert] = parse_payload(body)
    assert alert.rule_ids == ("lacework-global-2",)
    assert alert.violations == ()


def test_violation_round_trips_with_its_activity():
    event = activity_event(load_fixture("api_v2_alert_details_activity_stop_logging.json"))
    assert event is not None
    violation = Violation(
        "CLOUDTRAIL:STOPLOGGING",
        f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main-trail",
        ACCOUNT,
        "us-east-1",
        activity=event,
    )
    assert Violation.from_dict(violation.to_dict()) == violation
    assert Violation.from_dict({**violation.to_dict(), "activity": None}).activity is None


def test_activity_policy_rejects_an_unknown_response():
    with pytest.raises(ValueError, match="response must be one of"):
        ActivityPolicy("x", "fix-it")


# -- the registry ----------------------------------------------------------------------


async def _check(ctx, violation):
    return CheckResult.compliant("fine")


async def _plan(ctx, violation):
    return Plan("nothing")


def _rem(rid: str, resource_type: str | None, rule: str) -> Remediation:
    return Remediation(
        id=rid,
        rules=(rule,),
        title=rid,
        policy=IamPolicy(),
        check=_check,
        plan=_plan,
        auto_remediable=False,
        runbook="by hand",
        resource_type=resource_type,
    )


class _Map:
    @hookimpl
    def lw_remediate_remediations(self):
        return [
            _rem("t.fix_group", "ec2:security-group", "T_1"),
            _rem("t.also_group", "EC2:Security-Group", "T_2"),
            _rem("t.fix_bucket", "s3:bucket", "T_3"),
        ]

    @hookimpl
    def lw_remediate_activity_policies(self):
        return [ActivityPolicy("Security group change", "re-evaluate", ("lacework-global-2",))]

    @hookimpl
    def lw_remediate_touched_resources(self, event):
        return [
            TouchedResource(
                f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{v}",
                "ec2:security-group",
                ACCOUNT,
                "us-east-1",
                f"changed {v}",
            )
            for v in event.resource_values("groupId")
        ]


class _Broken:
    @hookimpl
    def lw_remediate_touched_resources(self, event):
        raise RuntimeError("boom")


class _Wrong:
    @hookimpl
    def lw_remediate_touched_resources(self, event):
        return ["not a resource"]


def test_registry_answers_which_remediations_apply_to_a_type():
    registry = load_maps(entry_points=False, extra_plugins=[("t", _Map())])
    assert [r.id for r in registry.for_resource_type("ec2:security-group")] == [
        "t.also_group",
        "t.fix_group",
    ]
    assert registry.for_resource_type("kms:key") == []
    assert registry.activity_policies["t"][0].policy_ids == ("lacework-global-2",)


def test_touched_resources_skips_a_broken_map_and_keeps_the_others():
    registry = load_maps(
        entry_points=False,
        extra_plugins=[("broken", _Broken()), ("t", _Map()), ("wrong", _Wrong())],
    )
    event = activity_event(load_fixture("api_v2_alert_details_activity_security_group_change.json"))
    assert event is not None
    touched = registry.touched_resources(event)
    assert [t.resource_arn for t in touched] == [
        f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/sg-0123456789abcdef0"
    ]


def test_a_map_declaring_something_else_as_an_activity_policy_fails_to_load():
    class Bad:
        @hookimpl
        def lw_remediate_activity_policies(self):
            return ["nope"]

    registry = load_maps(entry_points=False, extra_plugins=[("bad", Bad())])
    [info] = registry.maps
    assert not info.loaded and "not ActivityPolicy" in (info.error or "")
