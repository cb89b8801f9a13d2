"""AWS_CIS_1_16: cis_iam.move_user_policies_to_group against moto."""

from __future__ import annotations

import json

import pytest

from lw_map_cis_iam.remediations.user_policies import REMEDIATION
from lw_remediate import IamPolicy, Mode, PolicyStatement, ResourceChanged, Status
from lw_remediate.execute import Runner
from lw_remediate.testing.moto import iam_enforcement

MIGRATE = {"action": "migrate"}
DOC = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*"}],
}
GRANTS = ("CreateGroup", "AttachGroupPolicy", "PutGroupPolicy", "AddUserToGroup")
REVOKES = ("DetachUserPolicy", "DeleteUserPolicy")


@pytest.fixture
def user_with_policies(seed, admin_client):
    iam = admin_client("iam")
    seed.user("bob")
    arns = [
        iam.create_policy(PolicyName=name, PolicyDocument=json.dumps(DOC))["Policy"]["Arn"]
        for name in ("reader", "lister")
    ]
    for arn in arns:
        iam.attach_user_policy(UserName="bob", PolicyArn=arn)
    iam.put_user_policy(UserName="bob", PolicyName="inline-1", PolicyDocument=json.dumps(DOC))
    return arns


def user_policies(admin_client, user="bob"):
    iam = admin_client("iam")
    attached = [
        p["PolicyArn"] for p in iam.list_attached_user_policies(UserName=user)["AttachedPolicies"]
    ]
    return sorted(attached), iam.list_user_policies(UserName=user)["PolicyNames"]


def group_policies(admin_client, group="lw-user-bob"):
    iam = admin_client("iam")
    attached = [
        p["PolicyArn"]
        for p in iam.list_attached_group_policies(GroupName=group)["AttachedPolicies"]
    ]
    return sorted(attached), iam.list_group_policies(GroupName=group)["PolicyNames"]


async def test_default_is_manual_with_the_runbook_and_no_write(
    user_with_policies, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(REMEDIATION, make_violation("AWS_CIS_1_16", "bob"))
    assert record.status is Status.MANUAL
    assert "attach-group-policy" in record.detail
    assert "per-user group\n/lw-remediation/lw-user-bob" in record.detail
    assert write_calls(record) == []
    assert user_policies(admin_client) == (sorted(user_with_policies), ["inline-1"])


async def test_migrate_moves_everything_without_a_gap(
    user_with_policies, make_violation, run_remediation, write_calls, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-44", "bob"), options=MIGRATE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert user_policies(admin_client) == ([], [])
    assert group_policies(admin_client) == (sorted(user_with_policies), ["inline-1"])
    group = admin_client("iam").get_group(GroupName="lw-user-bob")
    assert group["Group"]["Path"] == "/lw-remediation/"
    assert [u["UserName"] for u in group["Users"]] == ["bob"]
    doc = admin_client("iam").get_group_policy(GroupName="lw-user-bob", PolicyName="inline-1")
    assert doc["PolicyDocument"] == DOC
    # every grant (and its read-back) precedes every removal: no permission gap
    ops = [c.operation for c in record.calls]
    last_grant = max(i for i, op in enumerate(ops) if op in GRANTS)
    first_revoke = min(i for i, op in enumerate(ops) if op in REVOKES)
    assert last_grant < first_revoke
    assert "ListAttachedGroupPolicies" in ops[last_grant:first_revoke]
    assert sorted(write_calls(record)) == sorted(
        [*GRANTS, "AttachGroupPolicy", *REVOKES, "DetachUserPolicy"]
    )
    assert record.before_image["inline"] == {"inline-1": DOC}
    planned = [c.operation for c in record.plan.changes]
    assert planned[0] == "create_group" and planned[-1] == "delete_user_policy"


async def test_group_prefix_and_path_options(
    user_with_policies, make_violation, run_remediation, admin_client
):
    options = {**MIGRATE, "group_prefix": "direct-", "group_path": "/migrated/"}
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    group = admin_client("iam").get_group(GroupName="direct-bob")["Group"]
    assert group["Path"] == "/migrated/"
    assert group_policies(admin_client, "direct-bob")[1] == ["inline-1"]


async def test_compliant_user_is_resolved_without_a_write(
    seed, make_violation, run_remediation, write_calls
):
    seed.user("carl")
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_16", "carl"), options=MIGRATE
    )
    assert record.status is Status.RESOLVED
    assert write_calls(record) == []


async def test_same_named_group_off_our_path_is_refused(
    user_with_policies, make_violation, run_remediation, write_calls, admin_client
):
    admin_client("iam").create_group(GroupName="lw-user-bob", Path="/teams/")
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), options=MIGRATE
    )
    assert record.status is Status.REFUSED
    assert "not lw-remediate's" in record.detail
    assert write_calls(record) == []


async def test_a_failed_grant_rolls_back_and_the_user_keeps_everything(
    user_with_policies, make_violation, moto_server, admin_client
):
    options = REMEDIATION.parse_options(MIGRATE)
    declared = REMEDIATION.policy_for(options, revert=True)  # what the daemon's session holds
    without_put = IamPolicy(
        tuple(
            PolicyStatement(
                tuple(a for a in s.actions if a != "iam:PutGroupPolicy") or ("iam:GetUser",),
                s.resources,
            )
            for s in declared.statements
        )
    )
    creds = moto_server.principal_with_policy(without_put)
    session = moto_server.session(credentials=creds)
    with iam_enforcement():
        record = await Runner().run(
            REMEDIATION,
            make_violation("AWS_CIS_1_16", "bob"),
            aws=session,
            mode=Mode.AUTO,
            options=options,
        )
    assert record.status is Status.FAILED
    assert "PutGroupPolicy" in record.detail
    assert user_policies(admin_client) == (sorted(user_with_policies), ["inline-1"])
    groups = [g["GroupName"] for g in admin_client("iam").list_groups()["Groups"]]
    assert "lw-user-bob" not in groups  # created, then rolled back


async def test_revert_restores_the_user_and_removes_the_group(
    user_with_policies, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), options=MIGRATE
    )
    detail = await revert_action(REMEDIATION, record, options=MIGRATE)
    assert "group lw-user-bob deleted" in detail
    assert user_policies(admin_client) == (sorted(user_with_policies), ["inline-1"])
    groups = [g["GroupName"] for g in admin_client("iam").list_groups()["Groups"]]
    assert groups == []


async def test_revert_refuses_after_a_change(
    user_with_policies, make_violation, run_remediation, revert_action, admin_client
):
    record = await run_remediation(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), options=MIGRATE
    )
    admin_client("iam").detach_group_policy(
        GroupName="lw-user-bob", PolicyArn=user_with_policies[0]
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=MIGRATE)


def test_declared_privilege_sensitive():
    assert REMEDIATION.privilege_sensitive
    assert "PRIVILEGE-SENSITIVE" in REMEDIATION.description


async def test_least_privilege_default(user_with_policies, make_violation, least_privilege):
    await least_privilege.run(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), expect=Status.MANUAL
    )


async def test_least_privilege_migrate(
    user_with_policies, make_violation, least_privilege_as_recorded
):
    await least_privilege_as_recorded(
        REMEDIATION, make_violation("AWS_CIS_1_16", "bob"), options=MIGRATE
    )


def test_declared_policy_scopes_group_actions_to_our_groups():
    doc = REMEDIATION.policy_for(REMEDIATION.parse_options(MIGRATE), revert=True).render(
        account="123456789012"
    )
    resources = {a: s["Resource"] for s in doc["Statement"] for a in s["Action"]}
    for action in ("iam:CreateGroup", "iam:AttachGroupPolicy", "iam:AddUserToGroup"):
        assert resources[action] == "arn:aws:iam::123456789012:group/lw-remediation/lw-user-*"
    for action in ("iam:DetachUserPolicy", "iam:AttachUserPolicy"):
        assert resources[action] == "arn:aws:iam::123456789012:user/*"


async def test_dry_run_lists_the_users_policies_once(
    user_with_policies, make_violation, run_remediation, plan_alone
):
    # plan builds on the policies check listed (ctx.checked); plan alone lists them itself
    violation = make_violation("AWS_CIS_1_16", "bob")
    record = await run_remediation(REMEDIATION, violation, mode="dry-run", options=MIGRATE)
    assert record.status is Status.PLANNED, record.detail
    operations = [c.operation for c in record.calls]
    plan, alone = await plan_alone(REMEDIATION, violation, options=MIGRATE)
    assert operations == alone
    assert operations.count("ListAttachedUserPolicies") == 1
    assert operations.count("ListUserPolicies") == 1
    assert plan.to_dict() == record.plan.to_dict()
