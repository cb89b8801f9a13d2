"""AWS_CIS_3_15: appropriate subscribers to each SNS topic (manual-only).

Who should receive the alarms is a judgement no API can make: the action ends ``manual``
with the runbook. ``check`` lists the region's topics and their subscriptions (protocol,
endpoint, pending confirmation), so the notification shows what to review; it never writes.
"""

from __future__ import annotations

from typing import Any

from lw_remediate import (
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
)

from .._aws import ANY, TOPIC

RUNBOOK = """\
AWS_CIS_3_15 (account {account}, region {region}): review who receives each SNS topic.
1. aws sns list-topics --region {region}
2. For each topic: aws sns list-subscriptions-by-topic --topic-arn <topic> --region {region}
3. Remove subscriptions to endpoints that should not receive security alarms
   (aws sns unsubscribe --subscription-arn <arn>), confirm pending ones, and subscribe the
   security team's address or paging endpoint to the topic the CIS 3.x alarms notify."""


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    topics: dict[str, list[str]] = {}
    async with ctx.aws.client("sns") as sns:
        async for page in sns.get_paginator("list_topics").paginate():
            for topic in page.get("Topics", []):
                arn = topic["TopicArn"]
                subscribers: list[str] = []
                paginator = sns.get_paginator("list_subscriptions_by_topic")
                async for subs in paginator.paginate(TopicArn=arn):
                    for s in subs.get("Subscriptions", []):
                        pending = s.get("SubscriptionArn") == "PendingConfirmation"
                        subscribers.append(
                            f"{s.get('Protocol')}:{s.get('Endpoint')}"
                            + (" (pending confirmation)" if pending else "")
                        )
                topics[arn] = subscribers
    listing = "; ".join(
        f"{arn}: {', '.join(subs) or 'no subscribers'}" for arn, subs in sorted(topics.items())
    )
    return CheckResult.violating(
        "subscribers need a human review: " + (listing or f"no SNS topic in {ctx.aws.region}"),
        topics=topics,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    return Plan("AWS_CIS_3_15 is manual-only: follow the runbook")


REMEDIATION = Remediation(
    id="logging.review_sns_subscribers",
    rules=("AWS_CIS_3_15",),
    title="Review the subscribers of each SNS topic (runbook)",
    description="Lists topics and subscribers for the notification; never writes.",
    resource_type="aws:account",
    policy=IamPolicy.allow(["sns:ListTopics"], ANY)
    + IamPolicy.allow(["sns:ListSubscriptionsByTopic"], [TOPIC]),
    check=check,
    plan=plan,
    auto_remediable=False,
    runbook=RUNBOOK,
)
