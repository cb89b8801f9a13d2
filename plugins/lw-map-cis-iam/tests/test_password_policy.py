"""AWS_CIS_1_5 ... 1_11: cis_iam.tighten_password_policy against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.password_policy import REMEDIATION
from lw_remediate import ResourceChanged, Status


def policy(admin_client):
    return admin_client("iam").get_account_password_policy()["PasswordPolicy"]


def writes(record):
    return [c.operation for c in record.calls if c.operation.startswith(("Update", "Delete"))]


async def test_no_policy_gets_only_the_rules_parameter(
    admin_client, make_violation, run_remediation
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    assert record.status is Status.REMEDIATED
    live = policy(admin_client)
    assert live["MinimumPasswordLength"] == 14
    assert live["RequireSymbols"] is False  # 1_7 did not fire: surgical
    assert record.before_image == {"policy": None}


async def test_stricter_existing_values_are_kept(admin_client, make_violation, run_remediation):
    iam = admin_client("iam")
    iam.update_account_password_policy(
        MinimumPasswordLength=20, MaxPasswordAge=30, PasswordReusePrevention=5, RequireSymbols=True
    )
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_10", "root"), options={"tighten_all": True}
    )
    assert record.status is Status.REMEDIATED
    live = policy(admin_client)
    assert live["MinimumPasswordLength"] == 20  # stricter than 14: kept
    assert live["MaxPasswordAge"] == 30  # stricter than 90: kept
    assert live["PasswordReusePrevention"] == 24  # weaker than 24: tightened
    assert live["RequireUppercaseCharacters"] and live["RequireLowercaseCharacters"]
    assert live["RequireNumbers"] and live["RequireSymbols"]


@pytest.mark.parametrize(
    ("rule", "field", "value"),
    [
        ("AWS_CIS_1_5", "RequireUppercaseCharacters", True),
        ("AWS_CIS_1_6", "RequireLowercaseCharacters", True),
        ("AWS_CIS_1_7", "RequireSymbols", True),
        ("AWS_CIS_1_8", "RequireNumbers", True),
        ("AWS_CIS_1_9", "MinimumPasswordLength", 14),
        ("AWS_CIS_1_10", "PasswordReusePrevention", 24),
        ("AWS_CIS_1_11", "MaxPasswordAge", 90),
        ("lacework-global-37", "MinimumPasswordLength", 14),
    ],
)
async def test_each_rule_tightens_its_parameter(
    admin_client, make_violation, run_remediation, rule, field, value
):
    admin_client("iam").update_account_password_policy(
        MinimumPasswordLength=8, AllowUsersToChangePassword=True
    )
    record = await run_remediation(REMEDIATION, make_violation(rule, "root"))
    assert record.status is Status.REMEDIATED, record.detail
    live = policy(admin_client)
    assert live[field] == value
    assert live["AllowUsersToChangePassword"] is True  # untouched field survives the full write


async def test_compliant_policy_is_resolved_without_a_write(
    admin_client, make_violation, run_remediation
):
    admin_client("iam").update_account_password_policy(MinimumPasswordLength=16)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_options_change_the_baseline(admin_client, make_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_9", "root"), options={"min_length": 18}
    )
    assert record.status is Status.REMEDIATED
    assert policy(admin_client)["MinimumPasswordLength"] == 18


async def test_dry_run_describes_each_change(admin_client, make_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION,
        make_violation("AWS_CIS_1_9", "root"),
        mode="dry-run",
        options={"tighten_all": True},
    )
    assert record.status is Status.PLANNED
    targets = {c.target for c in record.plan.changes}
    assert {"MinimumPasswordLength", "RequireSymbols", "MaxPasswordAge"} <= targets
    with pytest.raises(admin_client("iam").exceptions.NoSuchEntityException):
        policy(admin_client)


async def test_revert_restores_previous_policy(
    admin_client, make_violation, run_remediation, revert_action
):
    admin_client("iam").update_account_password_policy(
        MinimumPasswordLength=10, RequireNumbers=True
    )
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    assert policy(admin_client)["MinimumPasswordLength"] == 14
    await revert_action(REMEDIATION, record)
    live = policy(admin_client)
    assert live["MinimumPasswordLength"] == 10 and live["RequireNumbers"] is True


async def test_revert_deletes_a_policy_that_did_not_exist(
    admin_client, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    detail = await revert_action(REMEDIATION, record)
    assert "deleted" in detail
    with pytest.raises(admin_client("iam").exceptions.NoSuchEntityException):
        policy(admin_client)


async def test_revert_refuses_after_someone_changed_the_policy(
    admin_client, make_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    admin_client("iam").update_account_password_policy(MinimumPasswordLength=30)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
    assert policy(admin_client)["MinimumPasswordLength"] == 30


async def test_least_privilege(admin_client, make_violation, least_privilege):
    admin_client("iam").update_account_password_policy(MinimumPasswordLength=8)
    report = await least_privilege.run(REMEDIATION, make_violation("AWS_CIS_1_9", "root"))
    assert report.used == {"iam:GetAccountPasswordPolicy", "iam:UpdateAccountPasswordPolicy"}


async def test_least_privilege_with_revert(make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_9", "root"), revert=True
    )
    assert "iam:DeleteAccountPasswordPolicy" in report.used
