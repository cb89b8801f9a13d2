"""LW_AWS_IAM_3/4/5: cis_iam.deactivate_old_ssh_keys against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.ssh_keys import REMEDIATION
from lw_remediate import ResourceChanged, Status


async def test_old_key_is_deactivated(seed, make_violation, run_remediation, write_calls):
    seed.user("bob")
    old = seed.ssh_key("bob", age_days=40)
    new = seed.ssh_key("bob", age_days=3)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_3", "bob"))
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.ssh_status("bob", old) == "Inactive"
    assert seed.ssh_status("bob", new) == "Active"
    assert write_calls(record) == ["UpdateSSHPublicKey"]
    assert record.before_image["keys"] == {old: "Active"}
    assert record.plan.changes[0].target.endswith(f"user/bob SSH public key {old}")


@pytest.mark.parametrize(
    ("rule", "age", "expected"),
    [
        ("LW_AWS_IAM_3", 31, Status.REMEDIATED),
        ("LW_AWS_IAM_4", 31, Status.RESOLVED),
        ("lacework-global-118", 46, Status.REMEDIATED),
        ("LW_AWS_IAM_5", 46, Status.RESOLVED),
        ("LW_AWS_IAM_5", 91, Status.REMEDIATED),
    ],
)
async def test_rule_thresholds(seed, make_violation, run_remediation, rule, age, expected):
    seed.user("carl")
    seed.ssh_key("carl", age_days=age)
    record = await run_remediation(REMEDIATION, make_violation(rule, "carl"))
    assert record.status is expected, record.detail


async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("dora")
    seed.ssh_key("dora", age_days=10)
    seed.ssh_key("dora", age_days=400, active=False)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_3", "dora"))
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_grace_period_option(seed, make_violation, run_remediation, write_calls):
    seed.user("emil")
    key = seed.ssh_key("emil", age_days=35)
    options = {"grace_days": 7}
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_3", "emil"), options=options
    )
    assert record.status is Status.REFUSED
    assert "grace period" in record.detail
    assert write_calls(record) == []
    seed.ssh_age("emil", key, 38)  # past 30 + 7
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_3", "emil"), options=options
    )
    assert record.status is Status.REMEDIATED
    assert seed.ssh_status("emil", key) == "Inactive"


async def test_threshold_option(seed, make_violation, run_remediation):
    seed.user("finn")
    seed.ssh_key("finn", age_days=20)
    record = await run_remediation(
        REMEDIATION, make_violation("LW_AWS_IAM_3", "finn"), options={"max_key_age_days": 14}
    )
    assert record.status is Status.REMEDIATED


async def test_revert(seed, make_violation, run_remediation, revert_action, admin_client):
    seed.user("gus")
    key = seed.ssh_key("gus", age_days=100)
    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_5", "gus"))
    await revert_action(REMEDIATION, record)
    assert seed.ssh_status("gus", key) == "Active"

    record = await run_remediation(REMEDIATION, make_violation("LW_AWS_IAM_5", "gus"))
    admin_client("iam").delete_ssh_public_key(UserName="gus", SSHPublicKeyId=key)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege(seed, make_violation, least_privilege):
    seed.user("hal")
    seed.ssh_key("hal", age_days=100)
    await least_privilege.run(REMEDIATION, make_violation("LW_AWS_IAM_5", "hal"), revert=True)
