"""LW_S3_18 ... LW_S3_21: s3.remove_global_policy_actions against moto."""

from __future__ import annotations

import asyncio
import functools

import pydantic
import pytest

from lw_map_s3.remediations.global_actions import REMEDIATION, RULES, is_global
from lw_remediate import ResourceChanged, Status

BUCKET = "static-assets"
ARN = f"arn:aws:s3:::{BUCKET}"
CROSS_ACCOUNT = {
    "Sid": "PartnerAll",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::111122223333:root"},
    "Action": "s3:*",
    "Resource": [ARN, f"{ARN}/*"],
}
CONDITIONED = {
    "Sid": "OfficeAll",
    "Effect": "Allow",
    "Principal": "*",
    "Action": ["s3:Get*", "s3:Put*"],
    "Resource": f"{ARN}/*",
    "Condition": {"IpAddress": {"aws:SourceIp": "203.0.113.0/24"}},
}


def public(sid, *actions):
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": list(actions),
        "Resource": [ARN, f"{ARN}/*"],
    }


@pytest.fixture
def seed(bucket, put_policy):
    """``seed(*statements)``: the bucket with a policy of these statements; returns its text."""
    return functools.partial(put_policy, BUCKET)


@pytest.mark.parametrize(
    ("pattern", "verb", "expected"),
    [
        ("*", "Get", True),
        ("s3:*", "Delete", True),
        ("s3:Get*", "Get", True),
        ("S3:get*", "Get", True),
        ("s3:G*", "Get", True),
        ("s3:Get*", "Put", False),
        ("s3:GetObject", "Get", False),
        ("s3:GetObject*", "Get", False),
        ("s3:*Object", "Get", False),
        ("s3:List*", "List", True),
        ("s3:P*", "Put", True),
    ],
)
def test_what_counts_as_a_global_action(pattern, verb, expected):
    assert is_global(pattern, verb) is expected


@pytest.mark.parametrize(("rule_id", "verb"), sorted(RULES.items()))
async def test_removes_only_the_rules_global_verb(
    rule_id, verb, policy_of, make_violation, run_remediation, seed
):
    mixed = public("Mixed", "s3:Get*", "s3:Delete*", "s3:List*", "s3:Put*", "s3:GetObject")
    seed(mixed, CROSS_ACCOUNT, CONDITIONED)
    record = await run_remediation(REMEDIATION, make_violation(rule_id, BUCKET))
    assert record.status is Status.REMEDIATED, record.detail
    statements = policy_of(BUCKET)["Statement"]
    expected = [a for a in mixed["Action"] if a != f"s3:{verb}*"]
    assert statements == [{**mixed, "Action": expected}, CROSS_ACCOUNT, CONDITIONED]
    [change] = record.plan.changes
    assert change.operation == "narrow_policy_statement"
    assert change.before == mixed and change.after["Action"] == expected


async def test_statement_left_empty_is_dropped_and_empty_policy_deleted(
    policy_of, make_violation, run_remediation, revert_action, seed
):
    seed(public("AllGet", "s3:*"), public("Specific", "s3:GetObject"))
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_18", BUCKET))
    assert record.status is Status.REMEDIATED
    # s3:GetObject is specific, not global: it survives (LW_S3_11 judges it separately).
    assert policy_of(BUCKET)["Statement"] == [public("Specific", "s3:GetObject")]

    seed(public("Only", "*"))
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_21", BUCKET))
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET) is None
    await revert_action(REMEDIATION, record)
    assert policy_of(BUCKET)["Statement"] == [public("Only", "*")]


async def test_not_action_statement_gets_the_verb_excluded(
    policy_of, make_violation, run_remediation, seed
):
    not_action = {
        "Sid": "AllButDelete",
        "Effect": "Allow",
        "Principal": "*",
        "NotAction": "s3:DeleteBucket",
        "Resource": [ARN, f"{ARN}/*"],
    }
    seed(not_action)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_19", BUCKET))
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET)["Statement"] == [
        {**not_action, "NotAction": ["s3:DeleteBucket", "s3:Delete*"]}
    ]


async def test_replacement_actions_option_keeps_a_static_site_readable(
    policy_of, make_violation, run_remediation, seed
):
    seed(public("Site", "s3:Get*"))
    record = await run_remediation(
        REMEDIATION,
        make_violation("LW_S3_18", BUCKET),
        options={"replacement_actions": {"Get": ["s3:GetObject"]}},
    )
    assert record.status is Status.REMEDIATED
    assert policy_of(BUCKET)["Statement"] == [{**public("Site"), "Action": "s3:GetObject"}]


def test_replacement_actions_must_be_specific():
    with pytest.raises(pydantic.ValidationError, match="specific"):
        REMEDIATION.parse_options({"replacement_actions": {"Get": ["s3:Get*"]}})


async def test_compliant_policy_is_resolved_without_a_write(
    make_violation, run_remediation, writes, seed
):
    seed(public("Specific", "s3:GetObject", "s3:ListBucket"), CROSS_ACCOUNT, CONDITIONED)
    for rule_id in RULES:
        record = await run_remediation(REMEDIATION, make_violation(rule_id, BUCKET))
        assert record.status is Status.RESOLVED, rule_id
        assert writes(record) == []


async def test_dry_run_changes_nothing(s3, make_violation, run_remediation, writes, seed):
    original = seed(public("Wide", "s3:List*", "s3:GetObject"))
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-100", BUCKET), mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert "global List actions" in record.detail
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == original
    assert writes(record) == []


async def test_revert_restores_verbatim_and_refuses_after_a_change(
    s3, make_violation, run_remediation, revert_action, seed
):
    original = seed(public("Wide", "s3:Put*", "s3:GetObject"), CROSS_ACCOUNT)
    record = await run_remediation(REMEDIATION, make_violation("LW_S3_21", BUCKET))
    await revert_action(REMEDIATION, record)
    assert s3.get_bucket_policy(Bucket=BUCKET)["Policy"] == original

    record = await run_remediation(REMEDIATION, make_violation("LW_S3_21", BUCKET))
    s3.put_bucket_policy(Bucket=BUCKET, Policy=original)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_two_verbs_on_one_bucket_concurrently_both_take_effect(
    policy_of, make_violation, run_remediation, seed
):
    seed(public("Wide", "s3:Get*", "s3:Put*", "s3:ListBucket"))
    records = await asyncio.gather(
        run_remediation(REMEDIATION, make_violation("LW_S3_18", BUCKET)),
        run_remediation(REMEDIATION, make_violation("LW_S3_21", BUCKET)),
    )
    assert [r.status for r in records] == [Status.REMEDIATED, Status.REMEDIATED]
    assert policy_of(BUCKET)["Statement"] == [{**public("Wide"), "Action": "s3:ListBucket"}]


async def test_least_privilege_including_revert(make_violation, least_privilege, seed):
    seed(public("Only", "s3:Delete*"))  # apply deletes the policy, revert puts it back
    report = await least_privilege.run(REMEDIATION, make_violation("LW_S3_19", BUCKET), revert=True)
    assert report.used == {"s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"}
