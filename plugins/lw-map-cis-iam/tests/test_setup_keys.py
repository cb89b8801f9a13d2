"""AWS_CIS_1_23: cis_iam.deactivate_setup_access_keys against moto."""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.setup_keys import REMEDIATION
from lw_remediate import ResourceChanged, Status


async def test_never_used_key_of_console_user_is_deactivated(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("bob", console=True)
    setup = seed.key("bob", age_days=30)
    used = seed.key("bob", age_days=30, used_days_ago=2)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_23", "bob"))
    assert record.status is Status.REMEDIATED, record.detail
    assert seed.key_status("bob", setup) == "Inactive"
    assert seed.key_status("bob", used) == "Active"
    assert write_calls(record) == ["UpdateAccessKey"]
    assert record.before_image["keys"] == {setup: "Active"}


@pytest.mark.parametrize(
    ("console", "used"),
    [(False, None), (True, 3)],
    ids=["no-console-password", "key-in-use"],
)
async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls, console, used
):
    seed.user("carl", console=console)
    key = seed.key("carl", age_days=30, used_days_ago=used)
    record = await run_remediation(REMEDIATION, make_violation("lacework-global-40", "carl"))
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []
    assert seed.key_status("carl", key) == "Active"


async def test_key_within_grace_period_is_kept(seed, make_violation, run_remediation, write_calls):
    seed.user("dina", console=True)
    key = seed.key("dina", age_days=2)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_23", "dina"))
    assert record.status is Status.REFUSED
    assert "grace period" in record.detail
    assert write_calls(record) == []
    # the option shortens (or lengthens) the grace period
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_23", "dina"), options={"grace_days": 1}
    )
    assert record.status is Status.REMEDIATED
    assert seed.key_status("dina", key) == "Inactive"


async def test_revert(seed, make_violation, run_remediation, revert_action):
    seed.user("eve", console=True)
    key = seed.key("eve", age_days=30)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_23", "eve"))
    assert await revert_action(REMEDIATION, record) == f"reactivated access key(s) {key} of eve"
    assert seed.key_status("eve", key) == "Active"


async def test_revert_refuses_when_someone_reactivated_it(
    seed, make_violation, run_remediation, revert_action, admin_client
):
    seed.user("eve", console=True)
    key = seed.key("eve", age_days=30)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_23", "eve"))
    admin_client("iam").update_access_key(UserName="eve", AccessKeyId=key, Status="Active")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege(seed, make_violation, least_privilege):
    seed.user("fay", console=True)
    seed.key("fay", age_days=30)
    await least_privilege.run(REMEDIATION, make_violation("AWS_CIS_1_23", "fay"), revert=True)
