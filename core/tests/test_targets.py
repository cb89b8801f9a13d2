"""Account-, region- and resource-level targets from reports, alert details and events."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from lw_remediate import Scope, Violation
from lw_remediate.ingest.alerts import parse_payload
from lw_remediate.ingest.details import alert_details_violations
from lw_remediate.ingest.reports import violations_from_report
from lw_remediate.ingest.targets import Unusable, partition_of, resolve
from lw_remediate.model import target_arn
from lw_remediate.testing.fake_lacework import load_fixture

A = "123456789012"
B = "210987654321"
CIS_S3 = "api_v2_report_aws_cis_s3_account_targets.json"
NIST = "api_v2_report_aws_nist_800_53_rev5_account_targets.json"


def by_rule(violations: Any) -> dict[str, list[Violation]]:
    out: dict[str, list[Violation]] = {}
    for v in violations:
        out.setdefault(v.rule_id, []).append(v)
    return out


# -- the model ---------------------------------------------------------------------------


def test_scope_follows_the_target_arn():
    account = Violation.for_account("AWS_CIS_1_9", A)
    region = Violation.for_region("AWS_CIS_2_5", A, "eu-north-1")
    bucket = Violation("LW_S3_1", "arn:aws:s3:::b", A)
    assert (account.resource_arn, account.region, account.scope) == (
        f"arn:aws:iam::{A}:root",
        None,
        Scope.ACCOUNT,
    )
    assert (region.resource_arn, region.region, region.scope) == (
        f"arn:aws:iam:eu-north-1:{A}:root",
        "eu-north-1",
        Scope.REGION,
    )
    assert bucket.scope is Scope.RESOURCE
    assert Violation("X_1", "not an arn", A).scope is Scope.RESOURCE
    gov = Violation.for_account("AWS_CIS_1_9", A, partition="aws-us-gov")
    assert gov.arn.partition == "aws-us-gov" and gov.scope is Scope.ACCOUNT


def test_two_regions_of_one_account_are_two_violations():
    north = Violation.for_region("AWS_CIS_2_5", A, "eu-north-1")
    east = Violation.for_region("AWS_CIS_2_5", A, "us-east-1")
    assert north.key != east.key
    assert north.key != Violation.for_account("AWS_CIS_2_5", A).key


def test_to_dict_carries_the_scope_and_rows_stored_without_it_load():
    region = Violation.for_region("AWS_CIS_2_5", A, "eu-north-1", reason="NoRecorder")
    data = region.to_dict()
    assert data["scope"] == "region"
    assert Violation.from_dict(data) == region
    old = {k: v for k, v in data.items() if k != "scope"}
    assert Violation.from_dict(old) == region


# -- resolving one row -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "region", "expected"),
    [
        (None, None, (f"arn:aws:iam::{A}:root", A, None)),
        (None, "eu-north-1", (f"arn:aws:iam:eu-north-1:{A}:root", A, "eu-north-1")),
        (A, None, (f"arn:aws:iam::{A}:root", A, None)),
        (
            "vpc-0a1b2c3d4e5f60718",
            "eu-north-1",
            (f"arn:aws:ec2:eu-north-1:{A}:vpc/vpc-0a1b2c3d4e5f60718", A, "eu-north-1"),
        ),
        (
            "sg-1a2b3c4d",
            "us-east-1",
            (f"arn:aws:ec2:us-east-1:{A}:security-group/sg-1a2b3c4d", A, "us-east-1"),
        ),
        (
            "acl-1a2b3c4d",
            "us-east-1",
            (f"arn:aws:ec2:us-east-1:{A}:network-acl/acl-1a2b3c4d", A, "us-east-1"),
        ),
        (
            "vol-1a2b3c4d",
            "us-east-1",
            (f"arn:aws:ec2:us-east-1:{A}:volume/vol-1a2b3c4d", A, "us-east-1"),
        ),
        (
            "snap-1a2b3c4d",
            "us-east-1",
            ("arn:aws:ec2:us-east-1::snapshot/snap-1a2b3c4d", A, "us-east-1"),
        ),
        (
            "i-0123456789abcdef0",
            "us-east-1",
            (f"arn:aws:ec2:us-east-1:{A}:instance/i-0123456789abcdef0", A, "us-east-1"),
        ),
        (
            "vpc-1a2b3c4d",
            "cn-north-1",
            (f"arn:aws-cn:ec2:cn-north-1:{A}:vpc/vpc-1a2b3c4d", A, "cn-north-1"),
        ),
        (
            "arn:aws:iam::aws:policy/AWSSupportAccess",
            None,
            ("arn:aws:iam::aws:policy/AWSSupportAccess", A, None),
        ),
        ("arn:aws:s3:::bucket", "us-west-2", ("arn:aws:s3:::bucket", A, "us-west-2")),
        (f"arn:iam::{A}:user/u", None, (f"arn:aws:iam::{A}:user/u", A, None)),
    ],
)
def test_resolve(resource, region, expected):
    target = resolve(resource, account=A, region=region)
    assert (target.resource_arn, target.account_id, target.region) == expected


@pytest.mark.parametrize(
    ("resource", "account", "region", "why"),
    [
        (None, None, None, "no resource and no 12-digit account"),
        ("vpc-1a2b3c4d", A, None, "bare EC2 id without a region"),
        ("vpc-1a2b3c4d", None, "us-east-1", "bare EC2 id without a 12-digit account"),
        (B, A, None, "names another account"),
        (f"arn:aws:iam::{B}:user/u", A, None, "names another account"),
        ("arn:aws:iam::someone:user/u", A, None, "not a 12-digit"),
        ("arn:aws:iam::aws:policy/AWSSupportAccess", None, None, "AWS-owned"),
        ("arn:aws:s3:::bucket", None, None, "ARN has no account"),
        ("just-a-name", A, None, "not an ARN, a 12-digit account id or a known bare id"),
        ("vpc-xyz", A, "us-east-1", "not an ARN"),
        (42.5, A, None, "not a string"),
    ],
)
def test_unusable_rows_say_why(resource, account, region, why):
    with pytest.raises(Unusable, match=why):
        resolve(resource, account=account, region=region)


def test_default_account_only_fills_in():
    assert resolve(None, account=None, default_account=A, region=None).account_id == A
    # The resource's own account wins over a default (a report's accountId)...
    assert (
        resolve(f"arn:aws:iam::{B}:user/u", account=None, default_account=A, region=None).account_id
        == B
    )
    # ...but not over the row's own account.
    with pytest.raises(Unusable):
        resolve(f"arn:aws:iam::{B}:user/u", account=A, default_account=A, region=None)


def test_partition_of_region():
    assert [partition_of(r) for r in ("eu-north-1", "cn-north-1", "us-gov-west-1", None)] == [
        "aws",
        "aws-cn",
        "aws-us-gov",
        "aws",
    ]
    assert target_arn(A, "us-gov-west-1", partition="aws-us-gov").startswith("arn:aws-us-gov:iam:")


# -- reports -----------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", [CIS_S3, NIST])
def test_real_shaped_report_rows_all_become_violations(fixture):
    summary = violations_from_report(load_fixture(fixture))
    assert summary.dropped == () and summary.drop_reasons == {}
    rules = by_rule(summary.violations)
    root = f"arn:aws:iam::{A}:root"
    # Password policy: account-level, no region.
    assert [(v.resource_arn, v.region, v.scope, v.reason) for v in rules["AWS_CIS_1_9"]] == [
        (root, None, Scope.ACCOUNT, "NoPolicy")
    ]
    assert [(v.resource_arn, v.scope) for v in rules["AWS_CIS_2_1"]] == [(root, Scope.ACCOUNT)]
    # The support role: the AWS-managed policy, acted on in the report's account.
    (support,) = rules["AWS_CIS_1_22"]
    assert (support.resource_arn, support.account_id, support.scope) == (
        "arn:aws:iam::aws:policy/AWSSupportAccess",
        A,
        Scope.RESOURCE,
    )
    (non_root,) = rules["LW_AWS_IAM_11"]
    assert (non_root.resource_arn, non_root.scope) == (root, Scope.ACCOUNT)
    config = rules["AWS_CIS_2_5"]
    assert {(v.resource_arn, v.region, v.scope) for v in config} >= {
        (f"arn:aws:iam:eu-north-1:{A}:root", "eu-north-1", Scope.REGION)
    }
    # -79 stands for AWS_CIS_2_9 and 4_3: it stays as sent until a map's declaration routes it.
    (flow,) = rules.get("AWS_CIS_2_9") or rules["lacework-global-79"]
    assert (flow.resource_arn, flow.region, flow.resource_name) == (
        f"arn:aws:ec2:eu-north-1:{A}:vpc/vpc-0a1b2c3d4e5f60718",
        "eu-north-1",
        "vpc-0a1b2c3d4e5f60718",
    )
    assert all(v.account_id == A for v in summary.violations)


def test_cis_s3_report_has_every_password_rule_and_both_config_regions():
    summary = violations_from_report(load_fixture(CIS_S3))
    rules = by_rule(summary.violations)
    assert all(f"AWS_CIS_1_{n}" in rules for n in range(5, 12))
    assert {v.region for v in rules["AWS_CIS_2_5"]} == {"eu-north-1", "us-east-1"}
    assert len({v.key for v in rules["AWS_CIS_2_5"]}) == 2
    (default_vpc,) = rules["LW_AWS_NETWORKING_46"]
    assert default_vpc.resource_arn == f"arn:aws:ec2:us-east-1:{A}:vpc/vpc-1a2b3c4d"


def test_nist_report_keeps_the_new_ids_as_sent():
    summary = violations_from_report(load_fixture(NIST))
    sources = {v.rule_id: v.source_rule_id for v in summary.violations}
    assert sources["AWS_CIS_1_9"] == "lacework-global-37"
    assert sources["AWS_CIS_1_22"] == "lacework-global-46"
    assert sources["AWS_CIS_2_5"] == "lacework-global-76"


def test_dropped_rows_are_counted_per_reason_in_full(capsys):
    report = copy.deepcopy(load_fixture(CIS_S3))
    rec = report["data"][0]["recommendations"][0]
    rec["VIOLATIONS"] = [{"resource": f"vpc-{n:08x}", "reasons": ["X"]} for n in range(64)]
    rec["VIOLATIONS"] += [{"resource": "who-knows", "reasons": ["X"]}] * 3
    summary = violations_from_report(report)
    assert len(summary.dropped) == 67
    assert summary.drop_reasons == {
        "bare EC2 id without a region": 64,
        "resource is not an ARN, a 12-digit account id or a known bare id": 3,
    }
    assert summary.to_dict()["drop_reasons"] == summary.drop_reasons
    logged = capsys.readouterr().out
    assert "report_violations_dropped" in logged and "64" in logged


def test_suppressions_name_bare_ids_and_accounts():
    report = copy.deepcopy(load_fixture(CIS_S3))
    for rec in report["data"][0]["recommendations"]:
        if rec["REC_ID"] in ("AWS_CIS_2_9", "LW_AWS_IAM_11"):
            rec["SUPPRESSIONS"] = ["vpc-0a1b2c3d4e5f60718", A]
    summary = violations_from_report(report)
    rules = by_rule(summary.violations)
    assert "AWS_CIS_2_9" not in rules and "LW_AWS_IAM_11" not in rules
    assert summary.suppressed_resources == 2


# -- alert details (webhooks) and EventBridge --------------------------------------------


def details(*keys: dict[str, Any], policy: str = "lacework-global-76") -> dict[str, Any]:
    return {
        "alertId": 71001,
        "policyId": policy,
        "entityMap": {"Resource": [{"KEY": key, "PROPS": {}} for key in keys]},
    }


def test_alert_details_rows_without_resource_and_with_bare_ids():
    violations, drops = alert_details_violations(
        details(
            {"account_id": A, "resource_region": "eu-north-1"},
            {"account_id": A, "resource_region": "us-east-1"},
            {"account_id": A},
            {"resource": "vpc-1a2b3c4d", "resource_region": "us-east-1", "account_id": A},
            {"resource": "vpc-1a2b3c4d", "account_id": A},
        )
    )
    assert [(v.resource_arn, v.scope) for v in violations] == [
        (f"arn:aws:iam:eu-north-1:{A}:root", Scope.REGION),
        (f"arn:aws:iam:us-east-1:{A}:root", Scope.REGION),
        (f"arn:aws:iam::{A}:root", Scope.ACCOUNT),
        (f"arn:aws:ec2:us-east-1:{A}:vpc/vpc-1a2b3c4d", Scope.RESOURCE),
    ]
    assert all(v.rule_id == "AWS_CIS_2_5" and v.alert_id == "71001" for v in violations)
    assert drops.counts() == {"bare EC2 id without a region": 1}


def test_alerts_v2_webhook_payload_carries_account_targets():
    (alert,) = parse_payload({"data": details({"account_id": A}, policy="lacework-global-37")})
    (violation,) = alert.violations
    assert (violation.rule_id, violation.resource_arn, violation.scope) == (
        "AWS_CIS_1_9",
        f"arn:aws:iam::{A}:root",
        Scope.ACCOUNT,
    )


def eventbridge(rows: list[dict[str, Any]], rec_ids: list[dict[str, Any]]) -> dict[str, Any]:
    event = copy.deepcopy(load_fixture("eventbridge_new_violations_multi_rule_multi_account.json"))
    item = event["detail"]["EVENT_DETAILS"]["data"][0]
    item["ENTITY_MAP"] = {"NewViolation": rows, "RecId": rec_ids}
    event["detail"]["EVENT_DETAILS"]["data"] = [item]
    return event


def test_eventbridge_rows_for_account_level_rules_and_aws_owned_resources():
    (alert,) = parse_payload(
        eventbridge(
            [
                {"REC_ID": "AWS_CIS_1_9", "REASON": "AWS_CIS_1_9_NoPolicy"},
                {
                    "REC_ID": "AWS_CIS_1_22",
                    "REASON": "AWS_CIS_1_22_NoSupportRole",
                    "RESOURCE": "arn:aws:iam::aws:policy/AWSSupportAccess",
                },
                {"REC_ID": "LW_AWS_IAM_11", "RESOURCE": A},
                {"REC_ID": "AWS_CIS_2_9", "RESOURCE": "vpc-1a2b3c4d"},
            ],
            [
                {"REC_ID": "AWS_CIS_1_9", "ACCOUNT_ID": A},
                {"REC_ID": "AWS_CIS_1_22", "ACCOUNT_ID": A},
                {"REC_ID": "AWS_CIS_2_9", "ACCOUNT_ID": A},
            ],
        )
    )
    got = {v.rule_id: (v.resource_arn, v.account_id, v.scope, v.reason) for v in alert.violations}
    assert got == {
        "AWS_CIS_1_9": (f"arn:aws:iam::{A}:root", A, Scope.ACCOUNT, "NoPolicy"),
        "AWS_CIS_1_22": (
            "arn:aws:iam::aws:policy/AWSSupportAccess",
            A,
            Scope.RESOURCE,
            "NoSupportRole",
        ),
        "LW_AWS_IAM_11": (f"arn:aws:iam::{A}:root", A, Scope.ACCOUNT, None),
    }
    assert alert.drop_reasons == {"bare EC2 id without a region": 1}


def test_eventbridge_account_row_with_several_accounts_for_the_rule_is_dropped():
    (alert,) = parse_payload(
        eventbridge(
            [{"REC_ID": "AWS_CIS_1_9", "REASON": "AWS_CIS_1_9_NoPolicy"}],
            [{"REC_ID": "AWS_CIS_1_9", "ACCOUNT_ID": a} for a in (A, B)],
        )
    )
    assert alert.violations == ()
    (why,) = alert.drop_reasons
    assert "RecId[] lists 2 accounts for this rule" in why


def test_the_payload_examples_in_writing_a_map_parse():
    """docs/writing-a-map.md shows the payloads replay accepts; each one parses."""
    import json
    import re
    from pathlib import Path

    doc = Path(__file__).resolve().parents[2] / "docs" / "writing-a-map.md"
    section = doc.read_text("utf-8").split("## Payloads replay accepts", 1)[1].split("\n## ")[0]
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", section, re.DOTALL)]
    assert len(blocks) == 3
    shapes = []
    for body in blocks:
        (alert,) = parse_payload(body)
        shapes.append(str(alert.shape))
    assert shapes == ["classic", "eventbridge", "alerts_v2"]
    eventbridge_alert = parse_payload(blocks[1])[0]
    assert {v.scope for v in eventbridge_alert.violations} == {Scope.ACCOUNT, Scope.RESOURCE}
    alerts_v2 = parse_payload(blocks[2])[0]
    assert [v.scope for v in alerts_v2.violations] == [Scope.REGION, Scope.RESOURCE]


def test_make_violation_builds_account_and_region_targets(make_violation):
    account = make_violation("AWS_CIS_1_9", "root")
    region = make_violation("AWS_CIS_2_5", "region", region="eu-north-1")
    assert (account.scope, account.resource_arn) == (Scope.ACCOUNT, f"arn:aws:iam::{A}:root")
    assert (region.scope, region.resource_arn, region.region) == (
        Scope.REGION,
        f"arn:aws:iam:eu-north-1:{A}:root",
        "eu-north-1",
    )
    with pytest.raises(ValueError, match="needs a region"):
        make_violation("AWS_CIS_2_5", "region", region=None)
