"""AWS_CIS_1_3, LW_AWS_IAM_6: cis_iam.disable_unused_credentials against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.unused_credentials import REMEDIATION
from lw_remediate import ResourceChanged, RevertNotSupported, Status


async def test_key_unused_for_90_days_is_deactivated(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("bob")
    old = seed.key("bob", age_days=400, used_days_ago=120)
    fresh = seed.key("bob", age_days=400, used_days_ago=3)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "bob"))
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("bob", old) == "Inactive"
    assert seed.key_status("bob", fresh) == "Active"  # surgical: the key in use stays
    assert write_calls(record) == ["UpdateAccessKey"]
    assert record.before_image["keys"] == {old: "Active"}
    assert [c.target for c in record.plan.changes] == [
        f"arn:aws:iam::123456789012:user/bob access key {old}"
    ]


async def test_never_used_key_counts_from_its_creation(seed, make_violation, run_remediation):
    seed.user("carol")
    stale = seed.key("carol", age_days=91)
    young = seed.key("carol", age_days=10)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_6", "carol"))
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("carol", stale) == "Inactive"
    assert seed.key_status("carol", young) == "Active"


async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("dave", console=True, age_days=300)
    seed.password_used("dave", 5)
    seed.key("dave", age_days=300, used_days_ago=1)
    seed.key("dave", age_days=300, used_days_ago=200, active=False)  # inactive: fine
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "dave"))
    assert record.status is Status.RESOLVED, record.detail
    assert write_calls(record) == []


async def test_deleted_user_is_resolved(make_violation, run_remediation, write_calls):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "ghost"))
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail
    assert write_calls(record) == []


async def test_partitionless_arn_from_lacework(seed, make_violation, run_remediation):
    seed.user("test.user")
    key = seed.key("test.user", age_days=200)
    violation = make_violation("AWS_CIS_1_3", "arn:iam::123456789012:user/test.user")
    record = await run_remediation(REMEDIATION, violation)
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("test.user", key) == "Inactive"


async def test_rule_thresholds_and_the_option(seed, make_violation, run_remediation):
    seed.user("erin")
    key = seed.key("erin", age_days=400, used_days_ago=60)
    # 60 days unused: compliant at 90 (AWS_CIS_1_3) ...
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "erin"))
    assert record.status is Status.RESOLVED
    # ... a violation at 45 (lacework-global-41 follows CIS 1.4) ...
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-41", "erin"), mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert record.plan.data["threshold_days"] == 45
    # ... and the option overrides the rule's value
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_3", "erin"), options={"max_unused_days": 30}
    )
    assert record.status is Status.REMEDIATED
    assert seed.key_status("erin", key) == "Inactive"


async def test_unused_password_is_reported_not_deleted_by_default(
    seed, make_violation, run_remediation, write_calls, admin_client
):
    seed.user("frank", console=True, age_days=300)
    seed.password_used("frank", 100)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "frank"))
    assert record.status is Status.REFUSED
    assert "password last used" in record.detail and "delete_login_profile" in record.detail
    assert write_calls(record) == []
    admin_client("iam").get_login_profile(UserName="frank")  # still there


async def test_password_is_reported_next_to_deactivated_keys(seed, make_violation, run_remediation):
    seed.user("gina", console=True, age_days=300)  # password never used, profile 300 days old
    key = seed.key("gina", age_days=300)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "gina"))
    assert record.status is Status.REMEDIATED
    assert seed.key_status("gina", key) == "Inactive"
    assert any("reported, not changed" in n for n in record.plan.notes)
    assert "reported, not changed" in record.detail
    assert not record.plan.irreversible


async def test_delete_login_profile_option_is_irreversible(
    seed, make_violation, run_remediation, revert_action, admin_client
):
    seed.user("hank", console=True, age_days=300)
    seed.password_used("hank", 200)
    options = {"delete_login_profile": True}
    planned = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_3", "hank"), mode="dry-run", options=options
    )
    assert planned.plan.irreversible
    assert any("IRREVERSIBLE" in n for n in planned.plan.notes)
    assert [c.operation for c in planned.plan.changes] == ["delete_login_profile"]

    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_3", "hank"), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    iam = admin_client("iam")
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_login_profile(UserName="hank")
    with pytest.raises(RevertNotSupported, match="cannot be restored"):
        await revert_action(REMEDIATION, record, options=options)


async def test_iam_6_never_touches_passwords(seed, make_violation, run_remediation, admin_client):
    seed.user("ivan", console=True, age_days=300)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_6", "ivan"), options={"delete_login_profile": True}
    )
    assert record.status is Status.RESOLVED
    admin_client("iam").get_login_profile(UserName="ivan")


async def test_revert_reactivates_the_keys(seed, make_violation, run_remediation, revert_action):
    seed.user("judy")
    key = seed.key("judy", age_days=200)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "judy"))
    detail = await revert_action(REMEDIATION, record)
    assert key in detail
    assert seed.key_status("judy", key) == "Active"


async def test_revert_refuses_when_the_key_changed(
    seed, make_violation, run_remediation, revert_action, admin_client
):
    seed.user("kim")
    key = seed.key("kim", age_days=200)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_3", "kim"))
    admin_client("iam").delete_access_key(UserName="kim", AccessKeyId=key)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege(seed, make_violation, least_privilege):
    seed.user("mia", console=True, age_days=300)
    seed.key("mia", age_days=200)
    await least_privilege.run(REMEDIATION, make_violation("AWS_CIS_1_3", "mia"), revert=True)


async def test_least_privilege_delete_login_profile(seed, make_violation, least_privilege):
    seed.user("ned", console=True, age_days=300)
    seed.key("ned", age_days=200)
    report = await least_privilege.run(
        REMEDIATION,
        make_violation("AWS_CIS_1_3", "ned"),
        options={"delete_login_profile": True},
        revert=True,
    )
    assert "iam:DeleteLoginProfile" in report.used
