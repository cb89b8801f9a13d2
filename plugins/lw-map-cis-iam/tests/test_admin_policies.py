"""AWS_CIS_1_24: cis_iam.detach_admin_policy against moto."""

from __future__ import annotations

import json

import pytest

from lw_map_cis_iam.remediations.admin_policies import REMEDIATION, full_admin_statements
from lw_remediate import ResourceChanged, Status

ADMIN = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
SCOPED = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
}
BREAK_GLASS = "arn:aws:iam::123456789012:role/emergency/break-glass"
DETACH = {"action": "detach", "break_glass_principals": [BREAK_GLASS]}


@pytest.fixture
def admin_policy(admin_client, trust_policy):
    """An admin policy attached to a user, a group, a role and the break-glass role."""
    iam = admin_client("iam")
    trust = json.dumps(trust_policy({"AWS": "arn:aws:iam::123456789012:root"}))
    arn = iam.create_policy(PolicyName="god-mode", PolicyDocument=json.dumps(ADMIN))["Policy"][
        "Arn"
    ]
    iam.create_user(UserName="dev")
    iam.create_group(GroupName="devs")
    iam.create_role(RoleName="ci", AssumeRolePolicyDocument=trust)
    iam.create_role(RoleName="break-glass", Path="/emergency/", AssumeRolePolicyDocument=trust)
    iam.attach_user_policy(UserName="dev", PolicyArn=arn)
    iam.attach_group_policy(GroupName="devs", PolicyArn=arn)
    iam.attach_role_policy(RoleName="ci", PolicyArn=arn)
    iam.attach_role_policy(RoleName="break-glass", PolicyArn=arn)
    return arn


def holders(admin_client, arn):
    r = admin_client("iam").list_entities_for_policy(PolicyArn=arn)
    return (
        [u["UserName"] for u in r["PolicyUsers"]],
        [g["GroupName"] for g in r["PolicyGroups"]],
        sorted(x["RoleName"] for x in r["PolicyRoles"]),
    )


async def test_default_is_manual_with_the_runbook_and_no_write(
    admin_policy, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy))
    assert record.status is Status.MANUAL
    assert f"list-entities-for-policy --policy-arn {admin_policy}" in record.detail
    assert write_calls(record) == []
    assert holders(admin_client, admin_policy) == (["dev"], ["devs"], ["break-glass", "ci"])


async def test_detach_keeps_break_glass(
    admin_policy, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-45", admin_policy), options=DETACH
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert holders(admin_client, admin_policy) == ([], [], ["break-glass"])
    assert sorted(write_calls(record)) == [
        "DetachGroupPolicy",
        "DetachRolePolicy",
        "DetachUserPolicy",
    ]
    assert {c.target for c in record.plan.changes} == {
        "arn:aws:iam::123456789012:user/dev",
        "arn:aws:iam::123456789012:group/devs",
        "arn:aws:iam::123456789012:role/ci",
    }
    assert any("kept by: role break-glass" in n for n in record.plan.notes)


@pytest.mark.parametrize("case", ["scoped", "unattached", "deleted"])
async def test_compliant_policy_is_resolved_without_a_write(
    make_violation, run_remediation, write_calls, admin_client, case
):
    iam = admin_client("iam")
    doc = SCOPED if case == "scoped" else ADMIN
    arn = iam.create_policy(PolicyName="p", PolicyDocument=json.dumps(doc))["Policy"]["Arn"]
    if case == "scoped":
        iam.create_user(UserName="dev")
        iam.attach_user_policy(UserName="dev", PolicyArn=arn)
    if case == "deleted":
        iam.delete_policy(PolicyArn=arn)
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_24", arn), options=DETACH)
    assert record.status is Status.RESOLVED, record.detail
    assert write_calls(record) == []


async def test_refuses_without_break_glass_principals(
    admin_policy, make_violation, run_remediation, write_calls
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), options={"action": "detach"}
    )
    assert record.status is Status.REFUSED
    assert "break-glass" in record.detail
    assert write_calls(record) == []


async def test_refuses_when_no_break_glass_principal_would_keep_it(
    admin_policy, make_violation, run_remediation, write_calls, admin_client
):
    admin_client("iam").detach_role_policy(RoleName="break-glass", PolicyArn=admin_policy)
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), options=DETACH
    )
    assert record.status is Status.REFUSED
    assert "without an administrator" in record.detail
    assert write_calls(record) == []
    # the operator can accept that explicitly
    record = await run_remediation(
        REMEDIATION,
        make_violation("AWS_CIS_1_24", admin_policy),
        options={**DETACH, "keep_an_administrator": False},
    )
    assert record.status is Status.REMEDIATED


async def test_the_daemon_never_detaches_its_own_role(
    admin_policy, make_violation, moto_server, admin_client
):
    from lw_remediate import Mode
    from lw_remediate.execute import Runner

    options = REMEDIATION.parse_options(DETACH)
    creds = moto_server.principal_with_policy(REMEDIATION.policy_for(options), name="daemon")
    admin_client("iam").attach_role_policy(RoleName="daemon", PolicyArn=admin_policy)
    record = await Runner().run(
        REMEDIATION,
        make_violation("AWS_CIS_1_24", admin_policy),
        aws=moto_server.session(credentials=creds),
        mode=Mode.AUTO,
        options=options,
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert holders(admin_client, admin_policy) == ([], [], ["break-glass", "daemon"])
    assert any("never detached from itself" in n for n in record.plan.notes)


async def test_revert_reattaches(
    admin_policy, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), options=DETACH
    )
    detail = await revert_action(REMEDIATION, record, options=DETACH)
    assert detail.startswith("re-attached")
    assert holders(admin_client, admin_policy) == (["dev"], ["devs"], ["break-glass", "ci"])


async def test_revert_refuses_after_a_change(
    admin_policy, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), options=DETACH
    )
    admin_client("iam").attach_user_policy(UserName="dev", PolicyArn=admin_policy)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=DETACH)


def test_full_admin_detection():
    assert full_admin_statements(ADMIN)
    assert not full_admin_statements(SCOPED)
    listed = {"Statement": {"Effect": "Allow", "Action": ["s3:*", "*"], "Resource": ["*"]}}
    assert full_admin_statements(listed)
    denied = {"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}]}
    assert not full_admin_statements(denied)


def test_declared_privilege_sensitive():
    assert REMEDIATION.privilege_sensitive
    assert "PRIVILEGE-SENSITIVE" in REMEDIATION.description


async def test_least_privilege_default(admin_policy, make_violation, least_privilege):
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), expect=Status.MANUAL
    )


async def test_least_privilege_detach(admin_policy, make_violation, least_privilege):
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_24", admin_policy), options=DETACH, revert=True
    )
