"""activity.cancel_key_deletion: ScheduleKeyDeletion is cancelled, after approval by default."""

from __future__ import annotations

import pytest

from lw_map_aws_activity.remediations.cancel_key_deletion import REMEDIATION
from lw_remediate import ResourceChanged, Status

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.fixture
def kms(admin_client):
    return admin_client("kms")


@pytest.fixture
def doomed(kms):
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    kms.schedule_key_deletion(KeyId=arn.rsplit("/", 1)[-1], PendingWindowInDays=7)
    return arn


def state(kms, arn):
    return kms.describe_key(KeyId=arn)["KeyMetadata"]["KeyState"]


async def test_auto_mode_still_waits_for_approval_by_default(
    kms, doomed, make_violation, run_remediation, writes
):
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-19", doomed, region=REGION)
    )
    assert record.status is Status.AWAITING_APPROVAL
    assert record.plan.requires_approval is True
    assert writes(record) == [] and state(kms, doomed) == "PendingDeletion"


async def test_approved_cancellation_leaves_the_key_disabled_and_undo_reschedules(
    kms, doomed, make_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-19", doomed, region=REGION), approve=True
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert state(kms, doomed) == "Disabled"
    assert record.before_image["KeyState"] == "PendingDeletion"
    assert any("enable the key by hand" in n for n in record.plan.notes)
    assert "scheduled the deletion" in await revert_action(REMEDIATION, record)
    assert state(kms, doomed) == "PendingDeletion"


async def test_enable_key_option_enables_it(kms, doomed, make_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION,
        make_violation("lacework-global-19", doomed, region=REGION),
        options={"require_approval": False, "enable_key": True},
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert state(kms, doomed) == "Enabled"


async def test_a_key_not_pending_deletion_is_resolved(kms, make_violation, run_remediation, writes):
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    record = await run_remediation(
        REMEDIATION, make_violation("lacework-global-19", arn, region=REGION)
    )
    assert record.status is Status.RESOLVED and "not pending deletion" in record.detail
    assert writes(record) == []


async def test_undo_refuses_when_the_key_changed(
    kms, doomed, make_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION,
        make_violation("lacework-global-19", doomed, region=REGION),
        options={"require_approval": False},
    )
    kms.enable_key(KeyId=doomed.rsplit("/", 1)[-1])
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options={"require_approval": False})


async def test_least_privilege(kms, doomed, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION,
        make_violation("lacework-global-19", doomed, region=REGION),
        options={"require_approval": False, "enable_key": True},
        revert=True,
    )
    assert {"kms:CancelKeyDeletion", "kms:EnableKey", "kms:ScheduleKeyDeletion"} <= report.used
