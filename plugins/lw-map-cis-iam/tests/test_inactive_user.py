"""LW_AWS_IAM_7: cis_iam.disable_inactive_user against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.inactive_user import REMEDIATION
from lw_remediate import ResourceChanged, RevertNotSupported, Status

KEYS = {"deactivate_keys": True}
CONSOLE = {"delete_login_profile": True}
BOTH = {**KEYS, **CONSOLE}


def inactive_user(seed, name="ina"):
    """A 200-day-old console user: password last used 60 days ago, a key last used 45 days
    ago, and an inactive key that was last used 40 days ago."""
    seed.user(name, console=True, age_days=200)
    seed.password_used(name, 60)
    key = seed.key(name, age_days=150, used_days_ago=45)
    seed.key(name, age_days=190, used_days_ago=40, active=False)
    return key


async def test_default_is_manual_with_the_runbook_and_no_write(
    seed, make_violation, run_remediation, write_calls
):
    key = inactive_user(seed)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"))
    assert record.status is Status.MANUAL
    assert "aws iam delete-login-profile --user-name ina" in record.detail
    assert "LW_AWS_IAM_7" in record.detail and "123456789012" in record.detail
    assert write_calls(record) == []
    assert seed.key_status("ina", key) == "Active"
    assert seed.has_login_profile("ina")


async def test_deactivate_keys_leaves_the_password_reported(
    seed, make_violation, run_remediation, write_calls, revert_action
):
    key = inactive_user(seed)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"), options=KEYS)
    assert record.status is Status.REMEDIATED, record.detail
    assert write_calls(record) == ["UpdateAccessKey"]
    assert seed.key_status("ina", key) == "Inactive"
    assert seed.has_login_profile("ina")
    assert not record.plan.irreversible
    assert any("console password: reported, not changed" in n for n in record.plan.notes)
    assert "reported, not changed" in record.detail
    assert record.before_image["keys"] == {key: "Active"}
    assert [c.target for c in record.plan.changes] == [
        f"arn:aws:iam::123456789012:user/ina access key {key}"
    ]

    detail = await revert_action(REMEDIATION, record, options=KEYS)
    assert key in detail
    assert seed.key_status("ina", key) == "Active"


async def test_delete_login_profile_is_irreversible(
    seed, make_violation, run_remediation, write_calls, revert_action
):
    seed.user("pwd", console=True, age_days=100)  # never signed in, profile 100 days old
    violation = make_violation("LW_AWS_IAM_7", "pwd")
    planned = await run_remediation(REMEDIATION, violation, mode="dry-run", options=CONSOLE)
    assert planned.status is Status.PLANNED
    assert planned.plan.irreversible
    assert any("IRREVERSIBLE" in n for n in planned.plan.notes)
    assert [c.operation for c in planned.plan.changes] == ["delete_login_profile"]
    assert seed.has_login_profile("pwd")

    record = await run_remediation(REMEDIATION, violation, options=CONSOLE)
    assert record.status is Status.REMEDIATED, record.detail
    assert write_calls(record) == ["DeleteLoginProfile"]
    assert not seed.has_login_profile("pwd")
    assert record.before_image["login_profile"]["CreateDate"]
    with pytest.raises(RevertNotSupported, match="cannot be restored"):
        await revert_action(REMEDIATION, record, options=CONSOLE)


async def test_both_options_disable_the_user_and_undo_restores_the_keys(
    seed, make_violation, run_remediation, revert_action
):
    key = inactive_user(seed)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"), options=BOTH)
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("ina", key) == "Inactive"
    assert not seed.has_login_profile("ina")
    assert record.plan.irreversible
    detail = await revert_action(REMEDIATION, record, options=BOTH)
    assert key in detail and "cannot be restored" in detail
    assert seed.key_status("ina", key) == "Active"
    assert not seed.has_login_profile("ina")


async def test_option_that_covers_nothing_is_refused(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("only-pwd", console=True, age_days=100)
    seed.password_used("only-pwd", 50)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_7", "only-pwd"), options=KEYS
    )
    assert record.status is Status.REFUSED
    assert "delete_login_profile" in record.detail and "console password" in record.detail
    assert write_calls(record) == []
    assert seed.has_login_profile("only-pwd")


@pytest.mark.parametrize(
    ("setup", "why"),
    [
        (lambda s: (s.user("u", console=True, age_days=200), s.password_used("u", 3)), "signed in"),
        (lambda s: (s.user("u", age_days=200), s.key("u", age_days=150, used_days_ago=2)), "key"),
        (
            lambda s: (
                s.user("u", age_days=200),
                s.key("u", age_days=150, used_days_ago=100),
                s.key("u", age_days=150, used_days_ago=5, active=False),
            ),
            "an inactive key was used recently",
        ),
        (lambda s: (s.user("u", console=True, age_days=10),), "new user"),
        (
            lambda s: (s.user("u", age_days=200), s.key("u", age_days=5)),
            "a key created within the threshold",
        ),
        (
            lambda s: (s.user("u", age_days=200), s.key("u", age_days=150, active=False)),
            "no working credential",
        ),
    ],
)
async def test_not_inactive_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls, setup, why
):
    setup(seed)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "u"), options=BOTH)
    assert record.status is Status.RESOLVED, why
    assert write_calls(record) == []


async def test_deleted_user_is_resolved(make_violation, run_remediation, write_calls):
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "ghost"))
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail


async def test_lacework_fixture_arn_and_new_id(seed, make_violation, run_remediation):
    """The attested payload names the user as arn:iam::<account>:user/<name> (no partition);
    lacework-global-121 is the same rule."""
    seed.user("test.user", age_days=100)
    key = seed.key("test.user", age_days=100, used_days_ago=40)
    for rule in ("LW_AWS_IAM_7", "lacework-global-121"):
        violation = make_violation(rule, "arn:iam::123456789012:user/test.user")
        record = await run_remediation(REMEDIATION, violation, mode="dry-run", options=KEYS)
        assert record.status is Status.PLANNED, (rule, record.detail)
        assert record.plan.data["keys"] == [key]
        assert record.plan.data["threshold_days"] == 30


async def test_threshold_option(seed, make_violation, run_remediation):
    seed.user("thr", age_days=100)
    key = seed.key("thr", age_days=100, used_days_ago=20)
    violation = make_violation("LW_AWS_IAM_7", "thr")
    record = await run_remediation(REMEDIATION, violation, options=KEYS)
    assert record.status is Status.RESOLVED  # 20 days: active at 30
    record = await run_remediation(
        REMEDIATION, violation, options={**KEYS, "max_inactive_days": 14}
    )
    assert record.status is Status.REMEDIATED
    assert seed.key_status("thr", key) == "Inactive"


async def test_grace_for_new_credentials_is_an_option(
    seed, make_violation, run_remediation, write_calls
):
    """A 200-day-old user whose password was last used 60 days ago and whose only key was
    created 5 days ago and never used: new (not inactive) under the default grace (the
    threshold, as the CIS audit counts a never-used key from its creation), inactive once
    the grace is shorter than the key's age; then the new key is deactivated too."""
    seed.user("grace", console=True, age_days=200)
    seed.password_used("grace", 60)
    key = seed.key("grace", age_days=5)
    violation = make_violation("LW_AWS_IAM_7", "grace")
    record = await run_remediation(REMEDIATION, violation, options=KEYS)
    assert record.status is Status.RESOLVED, record.detail
    record = await run_remediation(
        REMEDIATION, violation, options={**KEYS, "new_credential_grace_days": 7}
    )
    assert record.status is Status.RESOLVED, record.detail
    assert write_calls(record) == []
    record = await run_remediation(
        REMEDIATION, violation, options={**KEYS, "new_credential_grace_days": 3}
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert record.plan.data["grace_days"] == 3
    assert seed.key_status("grace", key) == "Inactive"
    assert seed.has_login_profile("grace")  # reported, not changed


async def test_no_grace_makes_a_new_unused_user_inactive(seed, make_violation, run_remediation):
    seed.user("fresh", console=True, age_days=10)
    violation = make_violation("LW_AWS_IAM_7", "fresh")
    record = await run_remediation(REMEDIATION, violation, mode="dry-run", options=CONSOLE)
    assert record.status is Status.RESOLVED  # default: a 10-day-old user is being set up
    record = await run_remediation(
        REMEDIATION,
        violation,
        mode="dry-run",
        options={**CONSOLE, "new_credential_grace_days": 0},
    )
    assert record.status is Status.PLANNED, record.detail
    assert "never" in record.plan.summary or "created" in record.plan.summary


def test_grace_option_bounds():
    assert REMEDIATION.parse_options({}).new_credential_grace_days is None
    with pytest.raises(ValueError, match="new_credential_grace_days"):
        REMEDIATION.parse_options({"new_credential_grace_days": -1})


async def test_revert_refuses_when_the_key_changed(
    seed, make_violation, run_remediation, revert_action, admin_client
):
    key = inactive_user(seed)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"), options=KEYS)
    admin_client("iam").delete_access_key(UserName="ina", AccessKeyId=key)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=KEYS)


async def test_least_privilege_default(seed, make_violation, least_privilege):
    inactive_user(seed)
    await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"), expect=Status.MANUAL
    )


async def test_least_privilege_both_options_with_undo(seed, make_violation, least_privilege):
    inactive_user(seed)
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_7", "ina"), options=BOTH, revert=True
    )
    assert {"iam:UpdateAccessKey", "iam:DeleteLoginProfile"} <= set(report.used)


async def test_least_privilege_delete_login_profile(seed, make_violation, least_privilege):
    """Without deactivate_keys the policy has no write on keys (undo has nothing to do
    but refuse, so it is not run here)."""
    seed.user("pwd", console=True, age_days=100)
    seed.key("pwd", age_days=100, used_days_ago=90, active=False)
    report = await least_privilege.run(
        REMEDIATION, make_violation("LW_AWS_IAM_7", "pwd"), options=CONSOLE
    )
    assert "iam:UpdateAccessKey" not in report.declared
    assert "iam:DeleteLoginProfile" in report.used
