"""LW_AWS_IAM_14: cis_iam.delete_unused_console_password against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.console_password import REMEDIATION
from lw_remediate import RevertNotSupported, Status

DELETE = {"delete_login_profile": True}


async def test_default_is_manual_with_the_runbook_and_no_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("pat", console=True, age_days=400)
    seed.password_used("pat", 200)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_14", "pat"))
    assert record.status is Status.MANUAL
    assert "aws iam delete-login-profile --user-name pat" in record.detail
    assert "IAM Identity Center" in record.detail
    assert "max_unused_days (90) days" in record.detail  # the option's value, filled in
    assert write_calls(record) == []
    assert seed.has_login_profile("pat")


async def test_unused_password_is_deleted_irreversibly(
    seed, make_violation, run_remediation, write_calls, revert_action
):
    seed.user("pat", console=True, age_days=400)
    seed.password_used("pat", 120)
    key = seed.key("pat", age_days=100, used_days_ago=1)
    violation = make_violation("lacework-global-105", "pat")
    planned = await run_remediation(REMEDIATION, violation, mode="dry-run", options=DELETE)
    assert planned.status is Status.PLANNED
    assert planned.plan.irreversible
    assert any("IRREVERSIBLE" in n and "create-login-profile" in n for n in planned.plan.notes)
    assert [(c.operation, c.target, c.after) for c in planned.plan.changes] == [
        ("delete_login_profile", "arn:aws:iam::123456789012:user/pat", None)
    ]
    assert planned.plan.changes[0].before["PasswordLastUsed"]
    assert seed.has_login_profile("pat")

    record = await run_remediation(REMEDIATION, violation, options=DELETE)
    assert record.status is Status.REMEDIATED, record.detail
    assert write_calls(record) == ["DeleteLoginProfile"]
    assert not seed.has_login_profile("pat")
    assert seed.key_status("pat", key) == "Active"  # only the password is this rule's
    assert record.before_image["login_profile"]["CreateDate"]
    with pytest.raises(RevertNotSupported, match="cannot be restored"):
        await revert_action(REMEDIATION, record, options=DELETE)


async def test_never_used_password_counts_from_the_profile(seed, make_violation, run_remediation):
    seed.user("new", console=True, age_days=30)  # never signed in, profile 30 days old
    violation = make_violation("LW_AWS_IAM_14", "new")
    record = await run_remediation(REMEDIATION, violation, options=DELETE)
    assert record.status is Status.REFUSED  # younger than 90 days
    assert "never used" in record.detail
    assert seed.has_login_profile("new")
    record = await run_remediation(
        REMEDIATION, violation, options={**DELETE, "max_unused_days": 20}
    )
    assert record.status is Status.REMEDIATED
    assert not seed.has_login_profile("new")


async def test_password_in_use_is_never_deleted(seed, make_violation, run_remediation, write_calls):
    seed.user("busy", console=True, age_days=400)
    seed.password_used("busy", 10)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_14", "busy"), options=DELETE
    )
    assert record.status is Status.REFUSED
    assert "within 90 days" in record.detail and "federated" in record.detail
    assert write_calls(record) == []
    assert seed.has_login_profile("busy")


@pytest.mark.parametrize("user", ["keys-only", "ghost"])
async def test_no_console_password_is_resolved(
    seed, make_violation, run_remediation, write_calls, user
):
    if user == "keys-only":
        seed.user(user, age_days=400)
        seed.key(user, age_days=400)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_14", user))
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_least_privilege_default(seed, make_violation, least_privilege):
    seed.user("pat", console=True, age_days=400)
    await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_14", "pat"), expect=Status.MANUAL
    )


async def test_least_privilege_delete_login_profile(seed, make_violation, least_privilege):
    seed.user("pat", console=True, age_days=400)
    seed.password_used("pat", 200)
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_14", "pat"), options=DELETE
    )
    assert "iam:DeleteLoginProfile" in report.used
    assert "iam:ListAccessKeys" not in report.declared  # keys are not this rule's
