"""services.enable_lambda_tracing (SERVERLESS_4).

moto gap: ``UpdateFunctionConfiguration`` ignores ``TracingConfig`` (the mode stays
``PassThrough``). One test shows the remediation's verify catching that (the action ends
``failed``, never ``remediated``); the others run against moto taught to honour the field
(:func:`tracing_honoured`, test-only).
"""

from __future__ import annotations

import json

import pytest

from lw_map_aws_services.remediations.lambda_tracing import REMEDIATION
from lw_remediate import ResourceChanged, Status

RULE = "LW_AWS_SERVERLESS_4"
XRAY = "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess"
ATTACH = {"attach_xray_policy": True}


def mode(admin_client, name="fn"):
    config = admin_client("lambda").get_function_configuration(FunctionName=name)
    return config["TracingConfig"]["Mode"]


def attached(admin_client):
    response = admin_client("iam").list_attached_role_policies(RoleName="fn-role")
    return [p["PolicyArn"] for p in response["AttachedPolicies"]]


async def test_moto_ignores_the_mode_and_verify_says_so(
    function, violation, run_remediation, writes
):
    record = await run_remediation(REMEDIATION, violation(RULE, function()))
    assert writes(record) == ["UpdateFunctionConfiguration"]
    assert record.status is Status.FAILED
    assert "tracing mode is PassThrough" in record.detail


async def test_tracing_on_role_without_xray_is_noted_and_undo(
    tracing_honoured, admin_client, function, violation, run_remediation, revert_action, writes
):
    record = await run_remediation(REMEDIATION, violation(RULE, function()))
    assert record.status is Status.REMEDIATED, record.detail
    assert mode(admin_client) == "Active"
    assert writes(record) == ["UpdateFunctionConfiguration"]
    assert any("cannot write traces" in n and "attach_xray_policy" in n for n in record.plan.notes)
    assert attached(admin_client) == []
    await revert_action(REMEDIATION, record)
    assert mode(admin_client) == "PassThrough"


async def test_option_attaches_the_xray_policy_and_undo_detaches_it(
    aws_managed_policies,
    tracing_honoured,
    admin_client,
    function,
    violation,
    run_remediation,
    revert_action,
    writes,
):
    record = await run_remediation(REMEDIATION, violation(RULE, function()), options=ATTACH)
    assert record.status is Status.REMEDIATED, record.detail
    assert attached(admin_client) == [XRAY]
    assert writes(record) == ["AttachRolePolicy", "UpdateFunctionConfiguration"]
    assert "attach AWSXRayDaemonWriteAccess to role fn-role" in record.plan.summary
    await revert_action(REMEDIATION, record, options=ATTACH)
    assert attached(admin_client) == []
    assert mode(admin_client) == "PassThrough"


@pytest.mark.parametrize("how", ["managed", "customer", "inline"])
async def test_role_that_can_write_traces_gets_nothing_attached(
    how,
    aws_managed_policies,
    tracing_honoured,
    admin_client,
    function,
    violation,
    run_remediation,
    writes,
):
    iam = admin_client("iam")
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["xray:Put*", "logs:*"], "Resource": "*"}],
        }
    )
    if how == "managed":
        iam.attach_role_policy(RoleName="fn-role", PolicyArn=XRAY)
    elif how == "customer":
        arn = iam.create_policy(PolicyName="traces", PolicyDocument=document)["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="fn-role", PolicyArn=arn)
    else:
        iam.put_role_policy(RoleName="fn-role", PolicyName="traces", PolicyDocument=document)
    record = await run_remediation(REMEDIATION, violation(RULE, function()), options=ATTACH)
    assert record.status is Status.REMEDIATED, record.detail
    assert "role arn:aws:iam::123456789012:role/service/fn-role can write traces" in (
        record.plan.notes
    )
    assert writes(record) == ["UpdateFunctionConfiguration"]


async def test_active_and_gone_are_resolved(function, violation, run_remediation, writes):
    active = function("traced", TracingConfig={"Mode": "Active"})
    gone = active.replace("traced", "gone")
    for arn in (active, gone):
        record = await run_remediation(REMEDIATION, violation(RULE, arn))
        assert record.status is Status.RESOLVED, record.detail
        assert writes(record) == []


async def test_undo_refuses_when_changed_since(
    tracing_honoured, admin_client, function, violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, violation(RULE, function()))
    admin_client("lambda").update_function_configuration(
        FunctionName="fn", TracingConfig={"Mode": "PassThrough"}
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)
