"""Manual-only rules (AWS_CIS_1_1, 1_12 … 1_15, 1_17, 1_19, LW_AWS_IAM_8 … 11) against moto.

moto hard-codes ``AccountMFAEnabled`` and ``AccountAccessKeysPresent`` to 0 and cannot
assign a virtual MFA device to root (remediation-catalog.md gap 11); the tests set
that state through moto's backend.
"""

from __future__ import annotations

import datetime as dt
import types

import pytest

from lw_map_cis_iam.remediations.manual_only import REMEDIATIONS
from lw_remediate import Status

BY_RULE = {r.rules[0]: r for r in REMEDIATIONS}

ROLE_ARN = "arn:aws:iam::123456789012:role/app/deployer"


def violation_for(rule, make_violation, admin_client, trust_policy):
    """The violation as Lacework reports it; the role or user of LW_AWS_IAM_9 / 10 exists."""
    import json

    if rule == "LW_AWS_IAM_9":
        admin_client("iam").create_role(
            Path="/app/",
            RoleName="deployer",
            AssumeRolePolicyDocument=json.dumps(
                trust_policy({"Service": "codebuild.amazonaws.com"})
            ),
        )
        return make_violation(rule, ROLE_ARN)
    if rule == "LW_AWS_IAM_10":
        admin_client("iam").create_user(UserName="bob")
        return make_violation(rule, "bob")
    return make_violation(rule, "root")


def summary(moto_server):
    return moto_server.iam_backend().account_summary


def virtual_root_mfa(moto_server, admin_client):
    serial = admin_client("iam").create_virtual_mfa_device(
        VirtualMFADeviceName="root-account-mfa-device"
    )["VirtualMFADevice"]["SerialNumber"]
    device = moto_server.iam_backend().virtual_mfa_devices[serial]
    device.enable_date = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    device.user = types.SimpleNamespace(  # what moto serialises as the device's User
        path="/",
        name="root",
        user_name="root",
        id="123456789012",
        arn="arn:aws:iam::123456789012:root",
        create_date=device.enable_date,
    )
    return serial


def all_reads(record):
    return all(c.operation.startswith(("Get", "List")) for c in record.calls)


@pytest.mark.parametrize("rule", sorted(BY_RULE))
async def test_violation_ends_manual_with_its_runbook_and_no_write(
    rule, moto_server, make_violation, run_remediation, admin_client, trust_policy
):
    if rule == "AWS_CIS_1_12":
        summary(moto_server)._account_access_keys_present = 1
    # AWS_CIS_1_13 / 1_14: moto reports no root MFA at all; LW_AWS_IAM_11: no IAM user
    rem = BY_RULE[rule]
    record = await run_remediation(
        rem, violation_for(rule, make_violation, admin_client, trust_policy)
    )
    assert record.status is Status.MANUAL, record.detail
    assert record.detail == rem.render_runbook(record.violation)
    assert "123456789012" in record.detail and rule in record.detail
    assert all_reads(record)  # no AWS write call, whatever the options
    assert not rem.auto_remediable and rem.apply is None


@pytest.mark.parametrize(
    ("rule", "field", "value"),
    [
        ("AWS_CIS_1_12", "_account_access_keys_present", 0),
        ("AWS_CIS_1_13", "_account_mfa_enabled", 1),
    ],
)
async def test_root_state_already_fixed_is_resolved(
    rule, field, value, moto_server, make_violation, run_remediation
):
    setattr(summary(moto_server), field, value)
    record = await run_remediation(BY_RULE[rule], make_violation(rule, "root"))
    assert record.status is Status.RESOLVED
    assert all_reads(record)


async def test_root_hardware_mfa(moto_server, admin_client, make_violation, run_remediation):
    rem, violation = BY_RULE["AWS_CIS_1_14"], make_violation("lacework-global-69", "root")
    summary(moto_server)._account_mfa_enabled = 1
    record = await run_remediation(rem, violation)
    assert record.status is Status.RESOLVED  # MFA on, and not a virtual device
    serial = virtual_root_mfa(moto_server, admin_client)
    record = await run_remediation(rem, violation)
    assert record.status is Status.MANUAL
    assert all_reads(record)
    assert [c.operation for c in record.calls] == ["GetAccountSummary", "ListVirtualMFADevices"]
    assert serial.endswith("root-account-mfa-device")


def test_every_runbook_is_concrete():
    for rem in REMEDIATIONS:
        assert rem.runbook.count("\n") >= 3, rem.id
        assert "{account}" in rem.runbook, rem.id


def test_runbook_arns_follow_the_partition(make_violation):
    gov = make_violation("AWS_CIS_1_12", "arn:aws-us-gov:iam::123456789012:root")
    runbook = BY_RULE["AWS_CIS_1_12"].render_runbook(gov)
    assert "arn=arn:aws-us-gov:iam::aws:policy/root-task/IAMDeleteRootUserCredentials" in runbook
    assert "arn:aws:" not in runbook


@pytest.mark.parametrize("rule", ["AWS_CIS_1_12", "AWS_CIS_1_13"])
async def test_least_privilege(rule, moto_server, make_violation, least_privilege):
    summary(moto_server)._account_access_keys_present = 1
    await least_privilege.run(BY_RULE[rule], make_violation(rule, "root"), expect=Status.MANUAL)


async def test_least_privilege_hardware_mfa(
    moto_server, admin_client, make_violation, least_privilege
):
    summary(moto_server)._account_mfa_enabled = 1
    virtual_root_mfa(moto_server, admin_client)
    await least_privilege.run(
        BY_RULE["AWS_CIS_1_14"], make_violation("AWS_CIS_1_14", "root"), expect=Status.MANUAL
    )


@pytest.mark.parametrize(
    "rule", ["AWS_CIS_1_1", "AWS_CIS_1_15", "AWS_CIS_1_17", "AWS_CIS_1_19", "LW_AWS_IAM_8"]
)
async def test_rules_without_readable_state_need_no_permission(
    rule, moto_server, admin_client, make_violation, trust_policy
):
    """They declare no action; they run as a principal without any policy and call nothing.

    (The kit's least-privilege run cannot take an empty policy: moto rejects a role policy
    with no statements, so the principal is made here without one.)
    """
    import json

    from lw_remediate import Credentials, Mode
    from lw_remediate.execute import Runner
    from lw_remediate.testing.moto import iam_enforcement

    rem = BY_RULE[rule]
    assert not rem.policy_for(revert=True).actions
    trust = trust_policy({"AWS": "arn:aws:iam::123456789012:root"})
    admin_client("iam").create_role(RoleName="nothing", AssumeRolePolicyDocument=json.dumps(trust))
    raw = admin_client("sts").assume_role(
        RoleArn="arn:aws:iam::123456789012:role/nothing", RoleSessionName="no-permission"
    )["Credentials"]
    creds = Credentials(raw["AccessKeyId"], raw["SecretAccessKey"], raw["SessionToken"])
    with iam_enforcement():
        record = await Runner().run(
            rem,
            make_violation(rule, "root"),
            aws=moto_server.session(credentials=creds),
            mode=Mode.AUTO,
        )
    assert record.status is Status.MANUAL
    assert record.calls == []


async def test_non_root_user_exists_is_resolved(admin_client, make_violation, run_remediation):
    rem = BY_RULE["LW_AWS_IAM_11"]
    violation = make_violation("lacework-global-181", "root")
    record = await run_remediation(rem, violation)
    assert record.status is Status.MANUAL
    assert "IAM Identity Center" in record.detail
    admin_client("iam").create_user(UserName="admin")
    record = await run_remediation(rem, violation)
    assert record.status is Status.RESOLVED
    assert [c.operation for c in record.calls] == ["ListUsers"]


async def test_non_root_user_runbook_follows_the_partition(make_violation):
    gov = make_violation("LW_AWS_IAM_11", "arn:aws-us-gov:iam::123456789012:root")
    runbook = BY_RULE["LW_AWS_IAM_11"].render_runbook(gov)
    assert "arn:aws-us-gov:iam::aws:policy/AdministratorAccess" in runbook
    assert "arn:aws:" not in runbook


@pytest.mark.parametrize(
    ("rule", "resource"), [("LW_AWS_IAM_9", ROLE_ARN), ("LW_AWS_IAM_10", "bob")]
)
async def test_network_rules_resolve_when_the_entity_is_gone(
    rule, resource, make_violation, run_remediation
):
    record = await run_remediation(BY_RULE[rule], make_violation(rule, resource))
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail
    assert all_reads(record)


def test_network_runbooks_name_the_entity_and_a_valid_condition(make_violation):
    role = BY_RULE["LW_AWS_IAM_9"].render_runbook(make_violation("LW_AWS_IAM_9", ROLE_ARN))
    assert "--role-name deployer" in role and ROLE_ARN in role
    user = BY_RULE["LW_AWS_IAM_10"].render_runbook(make_violation("LW_AWS_IAM_10", "bob"))
    assert "--user-name bob" in user
    for text in (role, user):
        assert '{"NotIpAddress": {"aws:SourceIp": ["<your CIDRs>"]}' in text


@pytest.mark.parametrize("rule", ["LW_AWS_IAM_9", "LW_AWS_IAM_10", "LW_AWS_IAM_11"])
async def test_least_privilege_iam_manual_rules(
    rule, make_violation, admin_client, trust_policy, least_privilege
):
    await least_privilege.run(
        BY_RULE[rule],
        violation_for(rule, make_violation, admin_client, trust_policy),
        expect=Status.MANUAL,
    )
