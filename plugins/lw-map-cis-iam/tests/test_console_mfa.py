"""AWS_CIS_1_2: cis_iam.require_console_mfa against moto.

moto cannot evaluate ``aws:MultiFactorPresent`` (conditions are ignored), so these
tests check the membership, not the group policy's effect.
"""

from __future__ import annotations

import pytest

from lw_map_cis_iam.remediations.console_mfa import REMEDIATION
from lw_remediate import ResourceChanged, Status

GROUP = {"action": "add_to_mfa_group"}


@pytest.fixture
def mfa_group(admin_client):
    admin_client("iam").create_group(GroupName="require-mfa", Path="/lw-remediation/")
    return "require-mfa"


def groups_of(admin_client, user):
    groups = admin_client("iam").list_groups_for_user(UserName=user)["Groups"]
    return [g["GroupName"] for g in groups]


async def test_default_is_manual_with_the_runbook_and_no_write(
    seed, make_violation, run_remediation, write_calls, mfa_group, admin_client
):
    seed.user("bob", console=True)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_2", "bob"))
    assert record.status is Status.MANUAL
    assert "Assign MFA device" in record.detail and "bob" in record.detail
    assert "--group-name require-mfa --user-name bob" in record.detail
    assert write_calls(record) == []
    assert groups_of(admin_client, "bob") == []


async def test_runbook_names_the_configured_group(seed, make_violation, run_remediation):
    seed.user("bob", console=True)
    options = {"mfa_group_name": "mfa-jail", "mfa_group_path": "/jail/"}
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_2", "bob"), options=options
    )
    assert record.status is Status.MANUAL
    assert "--group-name mfa-jail --user-name bob" in record.detail
    assert "/jail/mfa-jail" in record.detail


async def test_option_adds_the_user_to_the_group(
    seed, make_violation, run_remediation, write_calls, mfa_group, admin_client
):
    seed.user("bob", console=True)
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-39", "bob"), options=GROUP
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert groups_of(admin_client, "bob") == ["require-mfa"]
    assert write_calls(record) == ["AddUserToGroup"]
    change = record.plan.changes[0]
    assert change.target == "arn:aws:iam::123456789012:user/bob"
    assert change.after == "arn:aws:iam::123456789012:group/lw-remediation/require-mfa"


@pytest.mark.parametrize(
    ("console", "mfa"), [(False, False), (True, True)], ids=["no-password", "has-mfa"]
)
async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls, mfa_group, console, mfa
):
    seed.user("carl", console=console, mfa=mfa)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_2", "carl"), options=GROUP
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_already_in_the_group_is_resolved(
    seed, make_violation, run_remediation, write_calls, mfa_group, admin_client
):
    seed.user("dina", console=True)
    admin_client("iam").add_user_to_group(GroupName=mfa_group, UserName="dina")
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_2", "dina"), options=GROUP
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_missing_or_foreign_group_is_refused(
    seed, make_violation, run_remediation, write_calls, admin_client
):
    seed.user("eve", console=True)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_2", "eve"), options=GROUP)
    assert record.status is Status.REFUSED
    assert "does not exist" in record.detail
    admin_client("iam").create_group(GroupName="require-mfa")  # path "/" -- not ours
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_2", "eve"), options=GROUP)
    assert record.status is Status.REFUSED
    assert "not using it" in record.detail
    assert write_calls(record) == []
    assert groups_of(admin_client, "eve") == []


async def test_custom_group_name(seed, make_violation, run_remediation, admin_client):
    admin_client("iam").create_group(GroupName="mfa-jail", Path="/")
    seed.user("finn", console=True)
    options = {**GROUP, "mfa_group_name": "mfa-jail", "mfa_group_path": "/"}
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_2", "finn"), options=options
    )
    assert record.status is Status.REMEDIATED
    assert groups_of(admin_client, "finn") == ["mfa-jail"]


async def test_revert(
    seed, make_violation, run_remediation, revert_action, mfa_group, admin_client
):
    seed.user("gus", console=True)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_2", "gus"), options=GROUP)
    assert await revert_action(REMEDIATION, record, options=GROUP) == (
        "removed gus from require-mfa"
    )
    assert groups_of(admin_client, "gus") == []


async def test_revert_refuses_when_membership_changed(
    seed, make_violation, run_remediation, revert_action, mfa_group, admin_client
):
    seed.user("hal", console=True)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_2", "hal"), options=GROUP)
    admin_client("iam").remove_user_from_group(GroupName=mfa_group, UserName="hal")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=GROUP)


async def test_least_privilege_default(seed, make_violation, least_privilege):
    seed.user("ida", console=True)
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_2", "ida"), expect=Status.MANUAL
    )


async def test_least_privilege_add_to_mfa_group(
    seed, make_violation, least_privilege_as_recorded, mfa_group
):
    seed.user("ida", console=True)
    report = await least_privilege_as_recorded(
        REMEDIATION, make_violation("AWS_CIS_1_2", "ida"), options=GROUP
    )
    assert {"iam:AddUserToGroup", "iam:RemoveUserFromGroup"} <= report.used


def test_group_actions_are_scoped_to_the_configured_group():
    policy = REMEDIATION.policy_for(REMEDIATION.parse_options(GROUP), revert=True)
    doc = policy.render(account="123456789012")
    group_statements = [
        s
        for s in doc["Statement"]
        if {"iam:AddUserToGroup", "iam:RemoveUserFromGroup"} & set(s["Action"])
    ]
    for statement in group_statements:
        assert statement["Resource"] == (
            "arn:aws:iam::123456789012:group/lw-remediation/require-mfa"
        )
