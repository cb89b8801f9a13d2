"""logging.review_sns_subscribers (AWS_CIS_3_15, manual-only)."""

from __future__ import annotations

import structlog

from lw_map_aws_logging.remediations.sns_subscribers import REMEDIATION
from lw_remediate import RemediationContext, Status


async def test_ends_manual_with_the_runbook_and_never_writes(
    admin_client, account_violation, run_remediation, writes
):
    sns = admin_client("sns")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="sec@example.com")
    record = await run_remediation(REMEDIATION, account_violation("AWS_CIS_3_15"))
    assert record.status is Status.MANUAL
    assert "aws sns list-subscriptions-by-topic" in record.detail
    assert "account 123456789012, region us-east-1" in record.detail
    assert writes(record) == []
    assert REMEDIATION.manual_by_default and not REMEDIATION.auto_remediable


async def test_check_lists_topics_and_their_subscribers(
    admin_client, aws_session, account_violation
):
    sns = admin_client("sns")
    topic = sns.create_topic(Name="alarms")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="email", Endpoint="sec@example.com")
    sns.create_topic(Name="quiet")

    async def sink(image):
        raise AssertionError("manual-only: nothing is recorded")

    violation = account_violation("AWS_CIS_3_15")
    ctx = RemediationContext(
        violation=violation,
        options=REMEDIATION.default_options(),
        aws=aws_session,
        log=structlog.get_logger(),
        dry_run=True,
        deadline=0.0,
        _before_sink=sink,
    )
    result = await REMEDIATION.check(ctx, violation)
    assert result.present
    assert f"{topic}: email:sec@example.com" in result.detail
    assert "quiet: no subscribers" in result.detail
