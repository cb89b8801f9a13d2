from __future__ import annotations

import copy
import itertools
import json
import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from lw_remediate.ingest.alerts import Alert, PayloadError, Shape, parse_payload
from lw_remediate.model import Arn, Scope, Violation
from lw_remediate.testing.fake_lacework import fixture_names, load_fixture

CLASSIC = [n for n in fixture_names() if n.startswith("webhook_classic_")]
EVENTBRIDGE = [n for n in fixture_names() if n.startswith("eventbridge_")]
ALERTS_V2 = [
    "api_v2_alert_details_compliance.json",
    "api_v2_alert_details_custom_fim_gosdk_mock.json",
    "api_v2_alerts_list_gosdk_mock.json",
    "api_v2_alert_details_activity_security_group_change.json",
    "api_v2_alert_details_activity_stop_logging.json",
]
#: The v1 GetEventDetails answer: the EventBridge detail's objects, parsed the same way.
V1_DETAILS = [n for n in fixture_names() if n.startswith("api_v1_event_details_")]
INBOUND = CLASSIC + EVENTBRIDGE + ALERTS_V2 + V1_DETAILS
#: Fixtures that are not something Lacework POSTs to a receiver.
NOT_INBOUND = [n for n in fixture_names() if n not in INBOUND]
INTERNAL_ERROR = "internal parse error"


def parse_one(body: Any) -> Alert:
    alerts = parse_payload(body)
    assert len(alerts) == 1
    return alerts[0]


def detail_of(name: str) -> dict[str, Any]:
    return load_fixture(name)["detail"]


def entity_map(body: dict[str, Any]) -> dict[str, Any]:
    return body["detail"]["EVENT_DETAILS"]["data"][0]["ENTITY_MAP"]


def assert_valid_alert(alert: Alert) -> None:
    assert isinstance(alert, Alert)
    assert isinstance(alert.shape, Shape)
    assert isinstance(alert.event_id, str) and alert.event_id
    assert alert.delivery_key == f"{alert.shape}:{alert.event_id}"
    assert all(isinstance(r, str) and r for r in alert.rule_ids)
    assert len(set(alert.rule_ids)) == len(alert.rule_ids)
    assert alert.severity is None or 1 <= alert.severity <= 5
    for v in alert.violations:
        assert isinstance(v, Violation)
        assert re.fullmatch(r"[0-9]{12}", v.account_id), v
        Arn.parse(v.resource_arn)
        assert v.rule_id and v.source_rule_id
        assert v.alert_id == alert.event_id


# -- classic webhook -----------------------------------------------------------------------


@pytest.mark.parametrize("name", CLASSIC)
def test_every_classic_fixture(name):
    body = load_fixture(name)
    alert = parse_one(body)
    assert_valid_alert(alert)
    assert alert.raw == body
    assert alert.violations == ()
    assert alert.event_id == body["event_id"]
    assert alert.lacework_account == body["lacework_account"]
    assert alert.title == body["event_title"]
    if name == "webhook_classic_test_event.json":
        assert alert.shape is Shape.TEST
        assert alert.rule_ids == ()
        assert alert.severity is None
    else:
        assert alert.shape is Shape.CLASSIC
        assert alert.rule_ids == (body["rec_id"],)
        assert alert.severity == int(body["event_severity"])


def test_classic_delivery_key():
    alert = parse_one(load_fixture("webhook_classic_compliance_lw_s3_16.json"))
    assert alert.delivery_key == "classic:42011"


@pytest.mark.parametrize(
    ("description", "rule"),
    [
        (
            "AWS Account 112233445566 (lacework-test) : LW_S3_1 Ensure the S3 bucket ACL does "
            "not grant 'Everyone' READ permission [list S3 objects]",
            "LW_S3_1",
        ),
        (
            "AWS Account 123456789012 (lacework-customerdemo) : AWS_CIS_1_4 Ensure access keys "
            "are rotated every 90 days or less changed from compliant to non-compliant",
            "AWS_CIS_1_4",
        ),
        (
            "Azure Account myLacework Pay-As-You-Go: Azure_CIS_2_1 Ensure that standard "
            "pricing tier is selected changed from compliant to non-compliant",
            "Azure_CIS_2_1",
        ),
        (
            "AWS Account 123456789012 : lacework-global-128 EC2 instances should not have a "
            "Public IP address attached",
            "lacework-global-128",
        ),
        ("AWS Account 123456789012 : LW_AWS_IAM_7", "LW_AWS_IAM_7"),
        ("This is a test Message.", None),
        ("Something happened: see the console", None),
        ("", None),
    ],
)
def test_classic_rule_from_description_when_rec_id_is_missing(description, rule):
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    del body["rec_id"]
    body["event_description"] = description
    alert = parse_one(body)
    assert alert.shape is Shape.CLASSIC
    assert alert.rule_ids == ((rule,) if rule else ())


@pytest.mark.parametrize(
    "rec_id", ["", "   ", None, 42, ["LW_S3_1"], {"id": "LW_S3_1"}, "LW\nS3", "x" * 500]
)
def test_classic_unusable_rec_id_falls_back_to_description(rec_id):
    body = load_fixture("webhook_classic_kaholo_curl_lw_s3_1.json")
    body["rec_id"] = rec_id
    assert parse_one(body).rule_ids == ("LW_S3_1",)


def test_classic_rec_id_wins_over_description():
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    body["rec_id"] = "lacework-global-130"
    assert parse_one(body).rule_ids == ("lacework-global-130",)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [("1", 1), ("5", 5), (" 3 ", 3), (2, 2), ("0", None), ("6", None), ("high", 2), ("x", None)],
)
def test_classic_severity(severity, expected):
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    body["event_severity"] = severity
    assert parse_one(body).severity == expected


def test_classic_missing_severity_is_none():
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    del body["event_severity"]
    assert parse_one(body).severity is None


@pytest.mark.parametrize(
    "changes",
    [
        {"event_type": "TestEvent"},
        {"event_type": "testevent", "event_id": "123"},
        {"event_id": "0"},
        {"event_id": 0},
    ],
)
def test_console_test_event_is_shape_test(changes):
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    body.update(changes)
    alert = parse_one(body)
    assert alert.shape is Shape.TEST
    assert alert.violations == () and alert.rule_ids == ()
    assert alert.is_test


def test_test_event_without_event_id():
    body = load_fixture("webhook_classic_test_event.json")
    del body["event_id"]
    alert = parse_one(body)
    assert alert.shape is Shape.TEST and alert.event_id == "0"


@pytest.mark.parametrize("event_id", [None, "", " ", "12 34", "../../x", "a" * 200, True, 1.5])
def test_classic_without_usable_event_id_is_rejected(event_id):
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    body["event_id"] = event_id
    with pytest.raises(PayloadError, match="event_id"):
        parse_payload(body)


def test_classic_numeric_event_id_becomes_a_string():
    body = load_fixture("webhook_classic_compliance_lw_s3_1.json")
    body["event_id"] = 45332
    assert parse_one(body).event_id == "45332"


def test_classic_rec_id_only_is_recognised_but_needs_event_id():
    with pytest.raises(PayloadError, match="event_id"):
        parse_payload({"rec_id": "LW_S3_1"})


def test_classic_keys_are_case_insensitive():
    body = {
        k.upper(): v for k, v in load_fixture("webhook_classic_compliance_lw_s3_16.json").items()
    }
    alert = parse_one(body)
    assert (alert.shape, alert.event_id, alert.rule_ids, alert.severity) == (
        Shape.CLASSIC,
        "42011",
        ("LW_S3_16",),
        4,
    )


# -- EventBridge ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", EVENTBRIDGE)
def test_every_eventbridge_fixture(name):
    body = load_fixture(name)
    alert = parse_one(body)
    assert_valid_alert(alert)
    assert alert.shape is Shape.EVENTBRIDGE
    assert alert.raw == body
    assert alert.event_id == str(body["detail"]["EVENT_ID"])
    assert alert.lacework_account == body["detail"]["ACCOUNT"]
    assert alert.severity == body["detail"]["SEVERITY"]
    rows = entity_map(body)["NewViolation"]
    assert alert.rule_ids == tuple(dict.fromkeys(r["REC_ID"] for r in rows))
    assert len(alert.violations) == len(rows)
    assert alert.dropped == ()
    names = {r["VALUE"]: r["NAME"] for r in entity_map(body)["Resource"]}
    for row, violation in zip(rows, alert.violations, strict=True):
        assert violation.source_rule_id == row["REC_ID"]
        assert violation.resource_type == names[row["RESOURCE"]]
        assert row["REASON"].endswith("_" + violation.reason)


def test_eventbridge_s3_bucket_account_comes_from_rec_id():
    alert = parse_one(load_fixture("eventbridge_new_violations_lw_s3_16.json"))
    assert alert.violations == (
        Violation(
            rule_id="LW_S3_16",
            resource_arn="arn:aws:s3:::lacework-remediation-test",
            account_id="123456789012",
            region=None,
            reason="VersioningNotEnabled",
            resource_type="s3:bucket",
            source_rule_id="LW_S3_16",
            alert_id="42011",
        ),
    )


def test_eventbridge_uses_outer_event_id_when_inner_differs():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    assert body["detail"]["EVENT_DETAILS"]["data"][0]["EVENT_ID"] == "41324"
    assert parse_one(body).event_id == "42011"


def test_eventbridge_inner_event_id_is_the_fallback():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    del body["detail"]["EVENT_ID"]
    alert = parse_one(body)
    assert alert.event_id == "41324"
    assert {v.alert_id for v in alert.violations} == {"41324"}


def test_eventbridge_without_any_event_id_is_rejected():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    del body["detail"]["EVENT_ID"]
    del body["detail"]["EVENT_DETAILS"]["data"][0]["EVENT_ID"]
    with pytest.raises(PayloadError, match="EVENT_ID"):
        parse_payload(body)


@pytest.mark.parametrize(
    ("event_id", "expected"), [(45332, "45332"), (45332.0, "45332"), (" 45332 ", "45332")]
)
def test_eventbridge_numeric_event_id(event_id, expected):
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    body["detail"]["EVENT_ID"] = event_id
    alert = parse_one(body)
    assert alert.event_id == expected
    assert alert.delivery_key == f"eventbridge:{expected}"
    assert alert.violations[0].alert_id == expected


@pytest.mark.parametrize(
    ("severity", "expected"), [(2, 2), ("2", 2), ("Critical", 1), (0, None), (None, None)]
)
def test_eventbridge_severity_int_or_string(severity, expected):
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    body["detail"]["SEVERITY"] = severity
    assert parse_one(body).severity == expected


def test_eventbridge_multi_rule_multi_account_pairing():
    """Each bucket gets the account of the RecId[] row for *its* rule, not RecId[0]."""
    alert = parse_one(load_fixture("eventbridge_new_violations_multi_rule_multi_account.json"))
    assert alert.rule_ids == ("LW_S3_1", "AWS_CIS_1_4")
    got = {(v.rule_id, v.resource_arn, v.account_id, v.reason) for v in alert.violations}
    assert got == {
        ("LW_S3_1", "arn:aws:s3:::example-public-logs", "123456789012", "ReadAccessGranted"),
        ("LW_S3_1", "arn:aws:s3:::example-static-site", "123456789012", "ReadAccessGranted"),
        (
            "AWS_CIS_1_4",
            "arn:aws:iam::210987654321:user/ci.deployer",
            "210987654321",
            "AccessKey1NotRotated",
        ),
        (
            "AWS_CIS_1_4",
            "arn:aws:iam::210987654321:user/test.user",
            "210987654321",
            "AccessKey1NotRotated",
        ),
    }
    assert alert.dropped == ()


def test_eventbridge_rec_id_order_does_not_matter():
    body = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    entity_map(body)["RecId"].reverse()
    accounts = {v.resource_arn: v.account_id for v in parse_one(body).violations}
    assert accounts["arn:aws:s3:::example-public-logs"] == "123456789012"


def test_eventbridge_bucket_with_several_accounts_for_its_rule_is_dropped_not_guessed():
    body = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    second = copy.deepcopy(entity_map(body)["RecId"][0])
    second["ACCOUNT_ID"] = "210987654321"
    entity_map(body)["RecId"].append(second)
    with structlog.testing.capture_logs() as logs:
        alert = parse_one(body)
    assert {v.rule_id for v in alert.violations} == {"AWS_CIS_1_4"}
    assert len(alert.violations) == 2
    assert len(alert.dropped) == 2
    assert all("2 accounts" in note and "LW_S3_1" in note for note in alert.dropped)
    assert alert.rule_ids == ("LW_S3_1", "AWS_CIS_1_4")
    [event] = [e for e in logs if e["event"] == "alert_violations_dropped"]
    assert event["dropped"] == 2 and event["kept"] == 2 and event["event_id"] == "60001"


def test_eventbridge_bucket_without_rec_id_row_is_dropped():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["RecId"] = []
    with structlog.testing.capture_logs():
        alert = parse_one(body)
    assert alert.violations == ()
    assert len(alert.dropped) == 1 and "no account" in alert.dropped[0]
    assert alert.rule_ids == ("LW_S3_16",)


def test_eventbridge_rec_id_for_other_rule_does_not_leak_its_account():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["RecId"][0]["REC_ID"] = "LW_S3_1"
    with structlog.testing.capture_logs():
        assert parse_one(body).violations == ()


def test_eventbridge_rec_id_matched_across_alias_forms():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["RecId"][0]["REC_ID"] = "lacework-global-97"
    [violation] = parse_one(body).violations
    assert violation.account_id == "123456789012"


@pytest.mark.parametrize("account", ["12345", "", None, "abcdefghijkl", 1234567890123])
def test_eventbridge_bad_rec_id_account_drops_the_bucket(account):
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["RecId"][0]["ACCOUNT_ID"] = account
    with structlog.testing.capture_logs():
        alert = parse_one(body)
    assert alert.violations == () and len(alert.dropped) == 1


def test_eventbridge_integer_account_keeps_leading_zeros():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["RecId"][0]["ACCOUNT_ID"] = 12345678901
    [violation] = parse_one(body).violations
    assert violation.account_id == "012345678901"


def test_eventbridge_partitionless_arn_is_normalised():
    alert = parse_one(load_fixture("eventbridge_new_violations_lw_aws_iam_7.json"))
    [violation] = alert.violations
    assert violation.resource_arn == "arn:aws:iam::123456789012:user/test.user"
    assert violation.account_id == "123456789012"
    assert violation.resource_type == "iam:user"  # Resource[] lists the partition-less form
    assert violation.resource_name == "test.user"


def test_eventbridge_arn_account_wins_over_rec_id():
    body = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    entity_map(body)["RecId"][1]["ACCOUNT_ID"] = "123456789012"
    accounts = {v.resource_arn: v.account_id for v in parse_one(body).violations}
    assert accounts["arn:aws:iam::210987654321:user/ci.deployer"] == "210987654321"


def test_eventbridge_region_from_arn():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    entity_map(body)["NewViolation"].append(
        {
            "REC_ID": "LW_AWS_GENERAL_SECURITY_1",
            "REASON": "LW_AWS_GENERAL_SECURITY_1_Ec2InstanceWithoutTags",
            "RESOURCE": "arn:aws:ec2:eu-west-1:123456789012:instance/i-0abc",
        }
    )
    alert = parse_one(body)
    assert [v.region for v in alert.violations] == [None, "eu-west-1"]
    assert alert.violations[1].resource_type is None
    assert alert.violations[1].reason == "Ec2InstanceWithoutTags"


def test_eventbridge_new_style_ids_are_canonicalised():
    [violation] = parse_one(
        load_fixture("eventbridge_new_violations_lacework_global_120.json")
    ).violations
    assert violation.rule_id == "LW_AWS_IAM_6"
    assert violation.source_rule_id == "lacework-global-120"
    assert violation.reason == "AccessKey1NotUsed90Days"
    assert violation.resource_arn.endswith("user/jenkins_sa")  # not the Resource[] superset


def test_eventbridge_rows_that_are_not_arns_are_dropped():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    rows = entity_map(body)["NewViolation"]
    rows += [
        {
            "REC_ID": "Azure_CIS_2_1",
            "REASON": "x",
            "RESOURCE": "/subscriptions/abc/resourceGroups/x",
        },
        {"REC_ID": "LW_S3_16", "RESOURCE": None},
        {"REASON": "no rule", "RESOURCE": "arn:aws:s3:::b"},
        {"REC_ID": "LW_S3_16", "RESOURCE": "arn:aws:iam::12345:user/short-account"},
        "not an object",
    ]
    with structlog.testing.capture_logs() as logs:
        alert = parse_one(body)
    # A row without RESOURCE is the account of the rule's RecId row (account-level rules).
    assert [v.scope for v in alert.violations] == [Scope.RESOURCE, Scope.ACCOUNT]
    assert len(alert.dropped) == 3
    assert sum(alert.drop_reasons.values()) == 3
    (logged,) = [e for e in logs if e["event"] == "alert_violations_dropped"]
    assert logged["reasons"] == alert.drop_reasons


def test_eventbridge_duplicate_rows_are_collapsed():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    rows = entity_map(body)["NewViolation"]
    rows.append(copy.deepcopy(rows[0]))
    assert len(parse_one(body).violations) == 1


def test_eventbridge_keys_case_insensitive_at_every_level():
    body = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    expected = parse_one(body)
    flip = itertools.cycle([True, False])

    def other_case(key: str) -> str:
        mixed = "".join(c.upper() if i % 2 else c.lower() for i, c in enumerate(key))
        return mixed if next(flip) and mixed != key else key.swapcase()

    def recase(value: Any) -> Any:
        if isinstance(value, dict):
            return {other_case(k): recase(v) for k, v in value.items()}
        if isinstance(value, list):
            return [recase(v) for v in value]
        return value

    recased = recase(body)
    assert not _unchanged_keys(body, recased)
    got = parse_one(recased)
    assert (got.event_id, got.rule_ids, got.violations, got.severity) == (
        expected.event_id,
        expected.rule_ids,
        expected.violations,
        expected.severity,
    )


def _unchanged_keys(original: Any, recased: Any) -> list[str]:
    """Keys spelled the same in both documents (walked in parallel)."""
    same: list[str] = []
    if isinstance(original, dict):
        for (key, child), (new_key, new_child) in zip(
            original.items(), recased.items(), strict=True
        ):
            if key == new_key:
                same.append(key)
            same += _unchanged_keys(child, new_child)
    elif isinstance(original, list):
        for child, new_child in zip(original, recased, strict=True):
            same += _unchanged_keys(child, new_child)
    return same


def test_eventbridge_detail_without_detail_type():
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    bare_envelope = {"detail": body["detail"]}
    assert parse_one(bare_envelope).violations == parse_one(body).violations


def test_eventbridge_bare_detail_object():
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    alert = parse_one(body["detail"])
    assert alert.shape is Shape.EVENTBRIDGE
    assert alert.violations == parse_one(body).violations


def test_eventbridge_other_detail_type_is_rejected():
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    body["detail-type"] = "AWS API Call via CloudTrail"
    with pytest.raises(PayloadError, match="LaceworkEvents"):
        parse_payload(body)


def test_eventbridge_detail_type_without_detail_is_rejected():
    with pytest.raises(PayloadError, match="detail"):
        parse_payload({"detail-type": "LaceworkEvents", "detail": "x"})


def test_eventbridge_rule_ids_fall_back_to_rec_id_rows():
    body = load_fixture("eventbridge_new_violations_aws_cis_1_3.json")
    entity_map(body)["NewViolation"] = []
    alert = parse_one(body)
    assert alert.rule_ids == ("AWS_CIS_1_3",)
    assert alert.violations == ()


def test_eventbridge_test_event():
    body = load_fixture("eventbridge_new_violations_lw_s3_1.json")
    body["detail"]["EVENT_TYPE"] = "TestEvent"
    alert = parse_one(body)
    assert alert.shape is Shape.TEST and alert.violations == ()


# -- SQS -----------------------------------------------------------------------------------


def sqs(*bodies: Any) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": f"m-{i}",
                "eventSource": "aws:sqs",
                "body": body if isinstance(body, str) else json.dumps(body),
            }
            for i, body in enumerate(bodies)
        ]
    }


def test_sqs_wrapped_eventbridge_one_alert_per_record():
    first = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    second = load_fixture("eventbridge_new_violations_multi_rule_multi_account.json")
    alerts = parse_payload(sqs(first, second))
    assert [a.delivery_key for a in alerts] == ["eventbridge:42011", "eventbridge:60001"]
    assert alerts[0].raw == first and alerts[1].raw == second
    assert alerts[0] == parse_one(first)
    assert len(alerts[1].violations) == 4


def test_sqs_record_body_may_be_an_object():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    assert parse_payload({"Records": [{"body": body}]})[0].event_id == "42011"


@pytest.mark.parametrize(
    ("payload", "match"),
    [
        ({"Records": []}, "non-empty"),
        ({"Records": "x"}, "non-empty"),
        ({"Records": [{"body": "{not json"}]}, r"Records\[0\]\.body is not JSON"),
        ({"Records": [{"body": "[1, 2]"}]}, r"Records\[0\]\.body is not a JSON object"),
        ({"Records": [{"nobody": 1}]}, r"Records\[0\]"),
        ({"Records": [5]}, r"Records\[0\]"),
        ({"Records": [{"body": json.dumps({"Records": [{"body": "{}"}]})}]}, "nested"),
        ({"Records": [{"body": "{}"}]}, r"Records\[0\]\.body: no known Lacework payload shape"),
    ],
)
def test_sqs_bad_records(payload, match):
    with pytest.raises(PayloadError, match=match):
        parse_payload(payload)


def test_sqs_one_bad_record_rejects_the_batch():
    good = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    with pytest.raises(PayloadError, match=r"Records\[1\]"):
        parse_payload(sqs(good, "garbage"))


# -- Alerts API v2 -------------------------------------------------------------------------


def test_alerts_v2_details_object():
    body = load_fixture("api_v2_alert_details_compliance.json")
    alert = parse_one(body)
    assert_valid_alert(alert)
    assert alert.shape is Shape.ALERTS_V2
    assert alert.event_id == "70001"
    assert alert.delivery_key == "alerts_v2:70001"
    assert alert.rule_ids == ("lacework-global-130",)
    assert alert.severity == 2
    assert alert.title == "New Violations"
    assert alert.raw == body
    assert [
        (v.rule_id, v.source_rule_id, v.resource_arn, v.region, v.account_id)
        for v in alert.violations
    ] == [
        (
            "LW_S3_1",
            "lacework-global-130",
            "arn:aws:s3:::lacework-remediation-test",
            "us-east-1",
            "123456789012",
        ),
        (
            "LW_S3_1",
            "lacework-global-130",
            "arn:aws:s3:::example-static-site",
            "eu-west-1",
            "123456789012",
        ),
    ]


def test_alerts_v2_bare_object_equals_wrapped():
    body = load_fixture("api_v2_alert_details_compliance.json")
    bare = parse_one(body["data"])
    wrapped = parse_one(body)
    assert bare.violations == wrapped.violations and bare.event_id == wrapped.event_id


def test_alerts_v2_list_page():
    body = load_fixture("api_v2_alerts_list_gosdk_mock.json")
    details = load_fixture("api_v2_alert_details_compliance.json")["data"]
    body["data"].append(details)
    alerts = parse_payload(body)
    assert [a.event_id for a in alerts] == ["967278", "70001"]
    assert alerts[0].rule_ids == ("CUSTOM_PLATFORM_130",) and alerts[0].violations == ()
    assert len(alerts[1].violations) == 2


def test_alerts_v2_list_with_an_element_without_alert_id_is_rejected():
    body = load_fixture("api_v2_alerts_list_gosdk_mock.json")
    body["data"].append({"policyId": "x"})
    with pytest.raises(PayloadError, match="alertId"):
        parse_payload(body)


@pytest.mark.parametrize(
    ("severity", "expected"),
    [
        ("Critical", 1),
        ("High", 2),
        ("medium", 3),
        ("LOW", 4),
        ("Info", 5),
        ("Informational", 5),
        ("Severe", None),
        (3, 3),
    ],
)
def test_alerts_v2_severity_names(severity, expected):
    body = load_fixture("api_v2_alert_details_compliance.json")
    body["data"]["severity"] = severity
    assert parse_one(body).severity == expected


def test_alerts_v2_resource_rows():
    body = load_fixture("api_v2_alert_details_compliance.json")
    rows = body["data"]["entityMap"]["Resource"]
    rows[:] = [
        # account only in the ARN: fine
        {"KEY": {"resource": "arn:aws:iam::210987654321:user/a", "resource_region": ""}},
        # S3 without account_id: cannot be paired
        {"KEY": {"resource": "arn:aws:s3:::no-account", "resource_region": "us-east-1"}},
        # account_id disagrees with the ARN
        {"KEY": {"resource": "arn:aws:iam::210987654321:user/b", "account_id": "123456789012"}},
        # keys in another case, account as an int
        {
            "key": {
                "RESOURCE": "arn:aws:s3:::upper",
                "Resource_Region": "eu-west-2",
                "ACCOUNT_ID": 123456789012,
            }
        },
        {"KEY": {"resource": "not-an-arn", "account_id": "123456789012"}},
        "garbage",
    ]
    with structlog.testing.capture_logs():
        alert = parse_one(body)
    assert [(v.resource_arn, v.account_id, v.region) for v in alert.violations] == [
        ("arn:aws:iam::210987654321:user/a", "210987654321", None),
        ("arn:aws:s3:::upper", "123456789012", "eu-west-2"),
    ]
    assert len(alert.dropped) == 3


def test_alerts_v2_without_policy_id_has_no_violations():
    body = load_fixture("api_v2_alert_details_compliance.json")
    del body["data"]["policyId"]
    with structlog.testing.capture_logs():
        alert = parse_one(body)
    assert alert.rule_ids == () and alert.violations == () and len(alert.dropped) == 2


# -- whole-corpus properties ---------------------------------------------------------------


@pytest.mark.parametrize("name", INBOUND)
def test_raw_reparses_to_the_same_alert(name):
    for alert in parse_payload(load_fixture(name)):
        assert parse_payload(alert.raw) == [alert]


def test_sqs_raw_reparses_to_the_same_alert():
    [alert] = parse_payload(sqs(load_fixture("eventbridge_new_violations_lw_s3_1.json")))
    assert parse_payload(alert.raw) == [alert]


def test_alert_is_hashable_and_repr_omits_raw():
    alert = parse_one(load_fixture("eventbridge_new_violations_lw_s3_16.json"))
    assert hash(alert) == hash(parse_one(load_fixture("eventbridge_new_violations_lw_s3_16.json")))
    assert "EVENT_DETAILS" not in repr(alert)


@pytest.mark.parametrize("name", NOT_INBOUND)
def test_other_lacework_documents_are_rejected(name):
    with pytest.raises(PayloadError) as info:
        parse_payload(load_fixture(name))
    message = str(info.value)
    assert "\n" not in message and len(message) <= 300


@pytest.mark.parametrize(
    "body",
    [
        None,
        True,
        0,
        1.5,
        "event_id",
        "",
        [],
        [{}],
        [load_fixture("webhook_classic_compliance_lw_s3_1.json")],
        {},
    ],
)
def test_non_payloads_are_rejected_with_one_line(body):
    with pytest.raises(PayloadError) as info:
        parse_payload(body)
    assert "\n" not in str(info.value)


def test_unknown_shape_message():
    with pytest.raises(PayloadError) as info:
        parse_payload({"hello": "world"})
    assert str(info.value) == (
        "no known Lacework payload shape: expected event_id/rec_id (webhook), "
        "detail-type LaceworkEvents (EventBridge) or alertId (Alerts API v2)"
    )


def test_error_message_does_not_echo_the_body():
    secretish = "s3cr3t-" + "z" * 40
    for body in (
        {"detail-type": secretish},
        {"event_id": secretish + " x"},
        {"Records": [{"body": secretish}]},
        {"data": {"alertId": secretish + "!"}},
    ):
        with pytest.raises(PayloadError) as info:
            parse_payload(body)
        assert secretish not in str(info.value)


# -- fuzzing: never anything but PayloadError ----------------------------------------------

WEIRD_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    10**40,
    10**4000,
    1.5,
    -0.0,
    float("inf"),
    float("nan"),
    1e308,
    "",
    " ",
    "0",
    "x" * 5000,
    "\x00\n\t",
    "arn:",
    "arn:aws:s3:::",
    "arn:::::::",
    "ünïcødé ᚠ 🙂",
    "123456789012",
    [],
    [None],
    [[[[[]]]]],
    {},
    {"": None},
    {"REC_ID": None},
    ["LW_S3_1", 1, None, {}],
]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            yield from paths(child, (*prefix, index))


def replaced(body: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    out = copy.deepcopy(body)
    target = out
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return out


def deleted(body: Any, path: tuple[Any, ...]) -> Any:
    out = copy.deepcopy(body)
    target = out
    for part in path[:-1]:
        target = target[part]
    del target[path[-1]]
    return out


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False, 0, 1, -7, 3.25, 10**20])
    if kind == 2:
        return rng.choice(
            ["", "0", "LaceworkEvents", "TestEvent", "arn:aws:s3:::b", "LW_S3_1", "High"]
        )
    if kind == 3:
        return rng.choice(WEIRD_VALUES)
    if kind == 4:
        return "".join(rng.choice("aZ0_:-/ \n") for _ in range(rng.randrange(12)))
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = [
        "event_id",
        "rec_id",
        "detail",
        "detail-type",
        "Records",
        "body",
        "data",
        "alertId",
        "policyId",
        "EVENT_ID",
        "EVENT_DETAILS",
        "ENTITY_MAP",
        "NewViolation",
        "RecId",
        "Resource",
        "entityMap",
        "KEY",
        "REC_ID",
        "RESOURCE",
        "ACCOUNT_ID",
        "x",
    ]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(5))}


def check_outcome(body: Any) -> None:
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        message = str(exc)
        assert INTERNAL_ERROR not in message, f"parser bug on {body!r:.300}"
        assert message and "\n" not in message and len(message) <= 300
        return
    for alert in alerts:
        assert_valid_alert(alert)


def mutations(body: Any) -> Iterator[Any]:
    for path in paths(body):
        for new in WEIRD_VALUES:
            yield replaced(body, path, new)
        if path:
            yield deleted(body, path)
            yield replaced(body, path, [copy.deepcopy(_at(body, path))])  # wrapped in a list


def _at(body: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        body = body[part]
    return body


FUZZ_SOURCES = [
    "webhook_classic_compliance_lw_s3_1.json",
    "webhook_classic_test_event.json",
    "eventbridge_new_violations_multi_rule_multi_account.json",
    "eventbridge_new_violations_lacework_global_120.json",
    "api_v2_alert_details_compliance.json",
    "api_v2_alerts_list_gosdk_mock.json",
]


@pytest.mark.parametrize("name", FUZZ_SOURCES)
def test_fuzz_fixture_mutations_only_raise_payload_error(name):
    body = load_fixture(name)
    count = 0
    with structlog.testing.capture_logs():
        for mutated in mutations(body):
            check_outcome(mutated)
            count += 1
    assert count > 100


def test_fuzz_sqs_wrapped_mutations_only_raise_payload_error():
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    with structlog.testing.capture_logs():
        for mutated in mutations(body):
            try:
                text = json.dumps(mutated, allow_nan=True)
            except ValueError:  # e.g. 10**4000 cannot be encoded back
                continue
            check_outcome({"Records": [{"body": text}]})


def test_fuzz_random_json_only_raises_payload_error():
    rng = random.Random(20240712)
    with structlog.testing.capture_logs():
        for _ in range(5000):
            check_outcome(random_json(rng))
            check_outcome({"detail-type": "LaceworkEvents", "detail": random_json(rng)})
            check_outcome({"Records": [{"body": random_json(rng)}]})


def test_fuzz_non_string_keys_and_deep_nesting():
    deep: Any = {}
    for _ in range(5000):
        deep = {"detail": deep}
    with structlog.testing.capture_logs():
        check_outcome(deep)
        check_outcome({1: "x", (2, 3): "y", "event_id": "5"})
        check_outcome({"Records": [{"body": "[" * 100000 + "]" * 100000}]})


@pytest.mark.parametrize(
    "name",
    [
        "api_v1_event_details_lw_s3_1.json",
        "api_v1_event_details_aws_cis_1_4.json",
        "api_v1_event_details_lacework_global_120.json",
        "api_v1_event_details_multi_rule_multi_account.json",
    ],
)
def test_v1_event_details_give_the_same_violations_as_the_eventbridge_event(name):
    eventbridge = name.replace("api_v1_event_details_", "eventbridge_new_violations_")
    v1 = parse_one(load_fixture(name))
    eb = parse_one(load_fixture(eventbridge))
    assert v1.shape is Shape.EVENTBRIDGE
    assert v1.violations and [v.to_dict() for v in v1.violations] == [
        {**v.to_dict(), "alert_id": v1.event_id} for v in eb.violations
    ]


def test_v1_event_details_carry_account_level_rows():
    body = load_fixture("api_v1_event_details_aws_cis_1_4.json")
    item = body["data"][0]
    item["ENTITY_MAP"]["NewViolation"] = [{"REC_ID": "AWS_CIS_1_4", "REASON": "AWS_CIS_1_4_X"}]
    (violation,) = parse_one(body).violations
    assert violation.scope is Scope.ACCOUNT
    assert violation.resource_arn == f"arn:aws:iam::{violation.account_id}:root"
