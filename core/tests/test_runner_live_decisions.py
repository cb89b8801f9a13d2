"""Decisions a remediation takes from live state: ``manual`` from ``check``/``plan``
(ManualActionRequired) and a plan that needs an operator's approval even in auto mode."""

from __future__ import annotations

import pytest

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    ManualActionRequired,
    Mode,
    Plan,
    Remediation,
    Status,
    VerifyResult,
    Violation,
)
from lw_remediate.aws.session import AwsSession
from lw_remediate.pipeline.runner import MemoryJournal, Runner

ACCOUNT = "123456789012"
VIOLATION = Violation("LW_S3_16", "arn:aws:s3:::bucket", ACCOUNT, "us-east-1")
AWS = AwsSession(account_id=ACCOUNT, region="us-east-1")


def thing(*, manual_in: str = "", requires_approval: bool = False) -> tuple[Remediation, list]:
    applied: list[Plan] = []

    async def check(ctx, violation):
        if manual_in == "check":
            raise ManualActionRequired("in use by eni-1 and eni-2: move them first")
        return CheckResult.violating("off")

    async def plan(ctx, violation):
        if manual_in == "plan":
            raise ManualActionRequired("AWS cannot rotate this key: replace it by hand")
        return Plan(
            "delete it",
            [Change("delete", violation.resource_arn, True, None)],
            irreversible=requires_approval,
            requires_approval=requires_approval,
        )

    async def apply(ctx, plan):
        applied.append(plan)
        return {"deleted": True}

    async def verify(ctx, violation):
        return VerifyResult.verified("gone")

    remediation = Remediation(
        id="test.delete_thing",
        rules=("LW_S3_16",),
        title="delete",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify,
    )
    return remediation, applied


@pytest.mark.parametrize(
    ("where", "detail"),
    [
        ("check", "in use by eni-1 and eni-2: move them first"),
        ("plan", "AWS cannot rotate this key: replace it by hand"),
    ],
)
@pytest.mark.parametrize("mode", [Mode.DRY_RUN, Mode.AUTO])
async def test_manual_action_required_ends_manual_with_the_live_runbook(where, detail, mode):
    remediation, applied = thing(manual_in=where)
    record = await Runner(journal=MemoryJournal()).run(remediation, VIOLATION, aws=AWS, mode=mode)
    assert record.status is Status.MANUAL
    assert record.detail == detail
    assert applied == []


async def test_a_plan_that_requires_approval_waits_even_in_auto_mode():
    remediation, applied = thing(requires_approval=True)
    runner = Runner(journal=MemoryJournal())
    record = await runner.run(remediation, VIOLATION, aws=AWS, mode=Mode.AUTO)
    assert record.status is Status.AWAITING_APPROVAL
    assert record.detail.startswith("this change needs an operator's approval even in auto mode")
    assert applied == []
    # The operator approves: the exact plan runs.
    assert record.plan is not None
    approved = await runner.run(
        remediation, VIOLATION, aws=AWS, mode=Mode.AUTO, approved_plan=record.plan
    )
    assert approved.status is Status.REMEDIATED
    assert [p.summary for p in applied] == ["delete it"]


async def test_an_ordinary_plan_still_applies_in_auto_mode():
    remediation, applied = thing()
    record = await Runner(journal=MemoryJournal()).run(
        remediation, VIOLATION, aws=AWS, mode=Mode.AUTO
    )
    assert record.status is Status.REMEDIATED
    assert len(applied) == 1


def test_requires_approval_survives_the_store_round_trip():
    plan = Plan("x", [Change("delete", "arn", 1, None)], requires_approval=True)
    assert Plan.from_dict(plan.to_dict()).requires_approval is True
    assert Plan.from_dict({"summary": "old row"}).requires_approval is False
