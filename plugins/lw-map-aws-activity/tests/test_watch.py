"""Watch-only classes end manual with a runbook naming the actor, without any AWS call."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lw_map_aws_activity.remediations import watch
from lw_remediate import Status

ACCOUNT = "123456789012"
REGION = "us-east-1"


@pytest.mark.parametrize("rem", watch.REMEDIATIONS, ids=lambda r: r.id)
async def test_runbook_names_user_ip_api_and_time(
    moto_server, make_violation, run_remediation, event, rem
):
    violation = replace(
        make_violation(rem.rules[0], f"arn:aws:iam::{ACCOUNT}:root"),
        activity=event("ConsoleLogin", policy_id="lacework-global-8"),
    )
    record = await run_remediation(rem, violation)
    assert record.status is Status.MANUAL
    for fact in ("alice", "203.0.113.7", "ConsoleLogin", "2026-12-03T11:00:00.000Z", ACCOUNT):
        assert fact in record.detail, (fact, record.detail)
    assert record.calls == []
    assert rem.policy_for().actions == frozenset()


async def test_without_the_event_the_runbook_says_what_is_missing(
    moto_server, make_violation, run_remediation
):
    record = await run_remediation(
        watch.ROOT, make_violation("lacework-global-8", f"arn:aws:iam::{ACCOUNT}:root")
    )
    assert record.status is Status.MANUAL and "(not in the alert)" in record.detail
