"""Issue 15 case 6: a verify read that fails after a successful apply is ``unverified``."""

from __future__ import annotations

import asyncio

import pytest
from botocore.exceptions import ClientError

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    Mode,
    Plan,
    Remediation,
    Status,
    Verification,
    VerifyResult,
    Violation,
)
from lw_remediate.aws.session import AwsSession
from lw_remediate.pipeline.runner import MemoryJournal, Runner

ACCOUNT = "123456789012"
VIOLATION = Violation("LW_S3_16", "arn:aws:s3:::bucket", ACCOUNT, "us-east-1")


def flipper(verify_error: BaseException | None, *, verify_hangs: bool = False) -> Remediation:
    async def check(ctx, violation):
        return CheckResult.violating("off")

    async def plan(ctx, violation):
        return Plan("flip it", [Change("flip", violation.resource_arn, False, True)])

    async def apply(ctx, plan):
        return {"flipped": True}

    async def verify(ctx, violation):
        if verify_hangs:
            await asyncio.Event().wait()
        if verify_error is not None:
            raise verify_error
        return VerifyResult.verified("flipped")

    return Remediation(
        id="test.flip_thing",
        rules=("LW_S3_16",),
        title="flip",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify,
    )


THROTTLED = ClientError(
    {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "GetBucketVersioning"
)


@pytest.mark.parametrize("error", [THROTTLED, ConnectionResetError("reset by peer")])
async def test_a_failed_verify_read_after_apply_is_unverified_not_failed(error):
    journal = MemoryJournal()
    runner = Runner(journal=journal)
    record = await runner.run(
        flipper(error),
        VIOLATION,
        aws=AwsSession(account_id=ACCOUNT, region="us-east-1"),
        mode=Mode.AUTO,
    )
    assert record.status is Status.UNVERIFIED
    assert record.verification is Verification.UNVERIFIED
    assert record.after_image == {"flipped": True}
    assert record.detail.startswith("applied, but the verify read failed")
    assert ("applied", None) in journal.transitions


async def test_a_verify_that_runs_out_of_time_after_apply_is_unverified():
    runner = Runner(timeout=0.2)
    record = await runner.run(
        flipper(None, verify_hangs=True),
        VIOLATION,
        aws=AwsSession(account_id=ACCOUNT, region="us-east-1"),
        mode=Mode.AUTO,
    )
    assert record.status is Status.UNVERIFIED
    assert "timed out" in record.detail
