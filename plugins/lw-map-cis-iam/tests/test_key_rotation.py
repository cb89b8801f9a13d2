"""AWS_CIS_1_4, LW_AWS_IAM_1/2/12/13: cis_iam.retire_old_access_keys against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.key_rotation import REMEDIATION
from lw_remediate import ResourceChanged, Status

ROTATE = {"action": "deactivate_if_rotated"}


async def test_default_is_manual_with_the_runbook_and_no_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("bob")
    old = seed.key("bob", age_days=120, used_days_ago=1)
    seed.key("bob", age_days=5, used_days_ago=1)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_4", "bob"))
    assert record.status is Status.MANUAL
    assert "aws iam create-access-key --user-name bob" in record.detail
    assert write_calls(record) == []
    assert seed.key_status("bob", old) == "Active"


async def test_rotated_key_is_deactivated(seed, make_violation, run_remediation, write_calls):
    seed.user("bob")
    old = seed.key("bob", age_days=120, used_days_ago=10)
    new = seed.key("bob", age_days=5, used_days_ago=1)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "bob"), options=ROTATE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("bob", old) == "Inactive"
    assert seed.key_status("bob", new) == "Active"
    assert write_calls(record) == ["UpdateAccessKey"]
    assert record.plan.data["successors"] == {old: new}
    assert old in record.plan.summary and new in record.plan.summary


async def test_only_working_key_is_never_cut_off(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("solo")
    only = seed.key("solo", age_days=400, used_days_ago=0)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "solo"), options=ROTATE
    )
    assert record.status is Status.REFUSED
    assert "only working key" in record.detail
    assert write_calls(record) == []
    assert seed.key_status("solo", only) == "Active"


@pytest.mark.parametrize(
    ("newer", "why"),
    [
        ({"age_days": 5}, "newer key never used"),
        ({"age_days": 5, "used_days_ago": 1, "active": False}, "newer key inactive"),
    ],
)
async def test_old_key_stays_without_a_working_successor(
    seed, make_violation, run_remediation, write_calls, newer, why
):
    seed.user("tom")
    old = seed.key("tom", age_days=120, used_days_ago=0)
    seed.key("tom", **newer)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "tom"), options=ROTATE
    )
    assert record.status is Status.REFUSED, why
    assert write_calls(record) == []
    assert seed.key_status("tom", old) == "Active"


async def test_two_old_keys_keep_the_newer_one(seed, make_violation, run_remediation):
    seed.user("uma")
    first = seed.key("uma", age_days=200, used_days_ago=100)
    second = seed.key("uma", age_days=150, used_days_ago=1)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "uma"), options=ROTATE
    )
    assert record.status is Status.REMEDIATED
    assert seed.key_status("uma", first) == "Inactive"
    assert seed.key_status("uma", second) == "Active"  # old too, but the only working key now
    assert any("is kept" in n and second in n for n in record.plan.notes)
    assert "not rotated yet" in record.detail


async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("vic")
    seed.key("vic", age_days=60, used_days_ago=1)
    seed.key("vic", age_days=300, used_days_ago=200, active=False)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "vic"), options=ROTATE
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


@pytest.mark.parametrize(
    ("rule", "age", "expected"),
    [
        ("LW_AWS_IAM_1", 31, Status.REMEDIATED),
        ("lacework-global-115", 31, Status.REMEDIATED),
        ("LW_AWS_IAM_2", 31, Status.RESOLVED),
        ("LW_AWS_IAM_2", 46, Status.REMEDIATED),
        ("AWS_CIS_1_4", 46, Status.RESOLVED),
        ("LW_AWS_IAM_13", 170, Status.RESOLVED),
        ("LW_AWS_IAM_13", 181, Status.REMEDIATED),
        ("lacework-global-141", 181, Status.REMEDIATED),
        ("LW_AWS_IAM_12", 181, Status.RESOLVED),
        ("LW_AWS_IAM_12", 340, Status.RESOLVED),
        ("LW_AWS_IAM_12", 351, Status.REMEDIATED),
        ("lacework-global-142", 351, Status.REMEDIATED),
    ],
)
async def test_rule_thresholds(seed, make_violation, run_remediation, rule, age, expected):
    seed.user("walt")
    seed.key("walt", age_days=age, used_days_ago=10)
    seed.key("walt", age_days=2, used_days_ago=1)
    record = await run_remediation(REMEDIATION, make_violation(rule, "walt"), options=ROTATE)
    assert record.status is expected, record.detail


async def test_threshold_option_overrides_the_rule(seed, make_violation, run_remediation):
    seed.user("xena")
    seed.key("xena", age_days=20, used_days_ago=10)
    seed.key("xena", age_days=2, used_days_ago=1)
    record = await run_remediation(
        REMEDIATION,
        make_violation("AWS_CIS_1_4", "xena"),
        options={**ROTATE, "max_key_age_days": 14},
    )
    assert record.status is Status.REMEDIATED


async def test_revert_reactivates_and_refuses_after_a_change(
    seed, make_violation, run_remediation, revert_action, admin_client
):
    seed.user("yan")
    old = seed.key("yan", age_days=120, used_days_ago=10)
    seed.key("yan", age_days=5, used_days_ago=1)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_4", "yan"), options=ROTATE
    )
    admin_client("iam").update_access_key(UserName="yan", AccessKeyId=old, Status="Active")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ROTATE)
    admin_client("iam").update_access_key(UserName="yan", AccessKeyId=old, Status="Inactive")
    await revert_action(REMEDIATION, record, options=ROTATE)
    assert seed.key_status("yan", old) == "Active"


async def test_least_privilege_default(seed, make_violation, least_privilege):
    seed.user("zed")
    seed.key("zed", age_days=120, used_days_ago=1)
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_4", "zed"), expect=Status.MANUAL
    )


async def test_least_privilege_deactivate_if_rotated(seed, make_violation, least_privilege):
    seed.user("zed")
    seed.key("zed", age_days=120, used_days_ago=10)
    seed.key("zed", age_days=5, used_days_ago=1)
    report = await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_4", "zed"), options=ROTATE, revert=True
    )
    assert "iam:UpdateAccessKey" in report.used


@pytest.mark.parametrize(("rule", "age"), [("LW_AWS_IAM_12", 400), ("LW_AWS_IAM_13", 200)])
async def test_iam_12_13_never_cut_the_only_working_key(
    seed, make_violation, run_remediation, write_calls, rule, age
):
    """A user whose only active key is past 350 / 180 days keeps it; the action is refused
    and the runbook-style reason says how to rotate."""
    seed.user("solo")
    only = seed.key("solo", age_days=age, used_days_ago=0)
    seed.key("solo", age_days=age + 10, used_days_ago=300, active=False)  # not a successor
    record = await run_remediation(REMEDIATION, make_violation(rule, "solo"), options=ROTATE)
    assert record.status is Status.REFUSED, record.detail
    assert "only working key" in record.detail and only in record.detail
    assert write_calls(record) == []
    assert seed.key_status("solo", only) == "Active"


@pytest.mark.parametrize(("rule", "age"), [("LW_AWS_IAM_12", 400), ("LW_AWS_IAM_13", 200)])
async def test_iam_12_13_default_is_manual_naming_the_rule(
    seed, make_violation, run_remediation, write_calls, rule, age
):
    seed.user("old")
    key = seed.key("old", age_days=age, used_days_ago=1)
    seed.key("old", age_days=3, used_days_ago=1)
    record = await run_remediation(REMEDIATION, make_violation(rule, "old"))
    assert record.status is Status.MANUAL
    assert rule in record.detail and "create-access-key --user-name old" in record.detail
    assert write_calls(record) == []
    assert seed.key_status("old", key) == "Active"


async def test_iam_12_rotated_key_is_deactivated_and_undone(
    seed, make_violation, run_remediation, revert_action
):
    seed.user("rot")
    old = seed.key("rot", age_days=360, used_days_ago=20)
    new = seed.key("rot", age_days=10, used_days_ago=1)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_12", "rot"), options=ROTATE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert record.plan.data["max_key_age_days"] == 350
    assert record.before_image["keys"] == {old: "Active"}
    assert seed.key_status("rot", old) == "Inactive"
    assert seed.key_status("rot", new) == "Active"
    detail = await revert_action(REMEDIATION, record, options=ROTATE)
    assert old in detail
    assert seed.key_status("rot", old) == "Active"


async def test_least_privilege_iam_13(seed, make_violation, least_privilege):
    seed.user("zed")
    seed.key("zed", age_days=200, used_days_ago=10)
    seed.key("zed", age_days=5, used_days_ago=1)
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_13", "zed"), options=ROTATE, revert=True
    )
    assert "iam:UpdateAccessKey" in report.used
