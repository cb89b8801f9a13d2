"""services.remove_lambda_cross_account_access (SERVERLESS_2)."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_services.remediations.lambda_access import (
    REMEDIATION,
    add_permission_args,
    outside_accounts,
)
from lw_remediate import ResourceChanged, Status

RULE = "LW_AWS_SERVERLESS_2"
OWN = "123456789012"
OTHER = "210987654321"
PARTNER = "333333333333"
INVOKE = "lambda:InvokeFunction"


def sids(admin_client, name="fn"):
    try:
        text = admin_client("lambda").get_policy(FunctionName=name)["Policy"]
    except admin_client("lambda").exceptions.ResourceNotFoundException:
        return set()
    return {s["Sid"] for s in json.loads(text)["Statement"]}


@pytest.fixture
def shared(admin_client, function):
    """A function whose policy admits: another account, a partner, its own account, S3
    from its own account, everyone in an organization, and S3 from another account."""
    arn = function()
    lam = admin_client("lambda")
    for sid, extra in (
        ("other", {"Principal": OTHER}),
        (
            "other-url",
            {
                "Principal": f"arn:aws:iam::{OTHER}:root",
                "Action": "lambda:InvokeFunctionUrl",
                "FunctionUrlAuthType": "AWS_IAM",
            },
        ),
        ("partner", {"Principal": f"arn:aws:iam::{PARTNER}:role/caller"}),
        ("own", {"Principal": OWN}),
        (
            "s3-own",
            {
                "Principal": "s3.amazonaws.com",
                "SourceArn": "arn:aws:s3:::own-bucket",
                "SourceAccount": OWN,
            },
        ),
        ("org", {"Principal": "*", "PrincipalOrgID": "o-abcdefghij"}),
        (
            "s3-other",
            {
                "Principal": "s3.amazonaws.com",
                "SourceArn": "arn:aws:s3:::their-bucket",
                "SourceAccount": OTHER,
            },
        ),
    ):
        lam.add_permission(FunctionName="fn", StatementId=sid, **{"Action": INVOKE, **extra})
    return arn


async def test_other_accounts_removed_the_rest_kept_and_undo(
    admin_client, shared, violation, run_remediation, revert_action, writes
):
    options = {"allowed_accounts": [PARTNER], "allowed_org_ids": ["o-abcdefghij"]}
    record = await run_remediation(REMEDIATION, violation(RULE, shared), options=options)
    assert record.status is Status.REMEDIATED, record.detail
    assert sids(admin_client) == {"partner", "own", "s3-own", "org"}
    assert writes(record) == ["RemovePermission"] * 3
    assert {c.target for c in record.plan.changes} == {"fn other", "fn other-url", "fn s3-other"}
    await revert_action(REMEDIATION, record, options=options)
    assert sids(admin_client) == {
        "other",
        "other-url",
        "partner",
        "own",
        "s3-own",
        "org",
        "s3-other",
    }
    policy = json.loads(admin_client("lambda").get_policy(FunctionName="fn")["Policy"])
    [s3_other] = [s for s in policy["Statement"] if s["Sid"] == "s3-other"]
    assert s3_other["Condition"]["StringEquals"]["AWS:SourceAccount"] == OTHER


async def test_without_allow_list_partner_and_org_go_too(
    admin_client, shared, violation, run_remediation
):
    record = await run_remediation(REMEDIATION, violation(RULE, shared))
    assert record.status is Status.REMEDIATED, record.detail
    assert sids(admin_client) == {"own", "s3-own"}


async def test_own_account_only_and_no_policy_are_resolved(
    admin_client, function, violation, run_remediation, writes
):
    arn = function()
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    assert record.status is Status.RESOLVED  # no resource policy at all
    admin_client("lambda").add_permission(
        FunctionName="fn", StatementId="own", Action=INVOKE, Principal=OWN
    )
    record = await run_remediation(REMEDIATION, violation(RULE, arn))
    assert record.status is Status.RESOLVED
    assert writes(record) == []
    record = await run_remediation(REMEDIATION, violation(RULE, arn.replace(":fn", ":gone")))
    assert record.status is Status.RESOLVED
    assert "no longer exists" in record.detail


async def test_undo_refuses_when_a_statement_is_back(
    admin_client, shared, violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, violation(RULE, shared))
    admin_client("lambda").add_permission(
        FunctionName="fn", StatementId="other", Action=INVOKE, Principal=OTHER
    )
    with pytest.raises(ResourceChanged, match="other"):
        await revert_action(REMEDIATION, record)


def test_bad_allowed_account_is_rejected():
    with pytest.raises(ValueError, match="12-digit"):
        REMEDIATION.parse_options({"allowed_accounts": ["12345"]})


@pytest.mark.parametrize(
    ("statement", "outside"),
    [
        ({"Effect": "Allow", "Principal": {"AWS": "*"}}, ["*"]),
        ({"Effect": "Deny", "Principal": {"AWS": OTHER}}, []),
        (
            {
                "Effect": "Allow",
                "Principal": "*",
                "Condition": {"StringEquals": {"aws:SourceAccount": OWN}},
            },
            [],
        ),
        (
            {
                "Effect": "Allow",
                "Principal": {"AWS": [f"arn:aws:iam::{OTHER}:user/x", OWN]},
            },
            [OTHER],
        ),
        ({"Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"}}, []),
    ],
)
def test_outside_accounts(statement, outside):
    assert outside_accounts(statement, {OWN}, set()) == outside


def test_statements_add_permission_cannot_rebuild_are_refused_not_removed():
    statement = {
        "Sid": "ip",
        "Effect": "Allow",
        "Principal": {"AWS": OTHER},
        "Action": INVOKE,
        "Condition": {"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}},
    }
    assert add_permission_args(statement) is None
    assert add_permission_args({**statement, "Condition": {}}) == {
        "StatementId": "ip",
        "Action": INVOKE,
        "Principal": OTHER,
    }
