"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

A dry-run reads the password policy, or a user's credentials (user, login profile, keys
and their last use), once; ``plan`` on its own (``ctx.checked`` None) still reads them
itself and plans exactly the same change.
"""

from __future__ import annotations

from lw_map_cis_iam.remediations import (
    console_password,
    inactive_user,
    password_policy,
    unused_credentials,
)
from lw_remediate import Status


async def dry_run_and_plan_alone(remediation, violation, run_remediation, plan_alone, **opts):
    record = await run_remediation(remediation, violation, mode="dry-run", **opts)
    assert record.status is Status.PLANNED, record.detail
    plan, alone = await plan_alone(remediation, violation, **opts)
    assert plan.to_dict() == record.plan.to_dict()
    return [c.operation for c in record.calls if not c.dependent], alone


async def test_password_policy(admin_client, make_violation, run_remediation, plan_alone):
    admin_client("iam").update_account_password_policy(MinimumPasswordLength=8)
    operations, alone = await dry_run_and_plan_alone(
        password_policy.REMEDIATION,
        make_violation("AWS_CIS_1_9", "root"),
        run_remediation,
        plan_alone,
    )
    assert operations == alone == ["GetAccountPasswordPolicy"]


async def test_password_policy_when_there_is_none(make_violation, run_remediation, plan_alone):
    operations, alone = await dry_run_and_plan_alone(
        password_policy.REMEDIATION,
        make_violation("AWS_CIS_1_9", "root"),
        run_remediation,
        plan_alone,
    )
    assert operations == alone == ["GetAccountPasswordPolicy"]


async def test_unused_credentials(seed, make_violation, run_remediation, plan_alone):
    seed.user("bob", console=True, age_days=400)
    seed.password_used("bob", 200)
    seed.key("bob", age_days=400, used_days_ago=120)
    seed.key("bob", age_days=400, used_days_ago=3)
    operations, alone = await dry_run_and_plan_alone(
        unused_credentials.REMEDIATION,
        make_violation("AWS_CIS_1_3", "bob"),
        run_remediation,
        plan_alone,
        options={"delete_login_profile": True},
    )
    # one GetAccessKeyLastUsed per key, each once
    read = [
        "GetUser",
        "GetLoginProfile",
        "ListAccessKeys",
        "GetAccessKeyLastUsed",
        "GetAccessKeyLastUsed",
    ]
    assert operations == alone == read


async def test_inactive_user(seed, make_violation, run_remediation, plan_alone):
    seed.user("ina", console=True, age_days=200)
    seed.password_used("ina", 60)
    seed.key("ina", age_days=150, used_days_ago=45)
    operations, alone = await dry_run_and_plan_alone(
        inactive_user.REMEDIATION,
        make_violation("LW_AWS_IAM_7", "ina"),
        run_remediation,
        plan_alone,
        options={"deactivate_keys": True, "delete_login_profile": True},
    )
    assert (
        operations
        == alone
        == ["GetUser", "GetLoginProfile", "ListAccessKeys", "GetAccessKeyLastUsed"]
    )


async def test_console_password(seed, make_violation, run_remediation, plan_alone):
    seed.user("pat", console=True, age_days=400)
    seed.password_used("pat", 120)
    seed.key("pat", age_days=100, used_days_ago=1)
    operations, alone = await dry_run_and_plan_alone(
        console_password.REMEDIATION,
        make_violation("LW_AWS_IAM_14", "pat"),
        run_remediation,
        plan_alone,
        options={"delete_login_profile": True},
    )
    assert operations == alone == ["GetUser", "GetLoginProfile"]
