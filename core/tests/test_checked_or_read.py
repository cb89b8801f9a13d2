"""``ctx.checked_or_read``: plan builds on what check read in the same run; the kit's
``plan_alone`` runs plan with no check before it, and it reads for itself; the kit's
``plans_on_check`` tests both in one call and fails a plan that reads again."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    Status,
    VerifyResult,
    Violation,
)

POLICY = IamPolicy.allow(["s3:GetBucketTagging", "s3:PutBucketTagging"], ["arn:{partition}:s3:::*"])


async def _read_tags(ctx: RemediationContext[Any]) -> dict[str, str]:
    async with ctx.aws.client("s3") as s3:
        got = await s3.get_bucket_tagging(Bucket=ctx.violation.resource_name)
    return {t["Key"]: t["Value"] for t in got["TagSet"]}


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    tags = await _read_tags(ctx)
    if "owner" in tags:
        return CheckResult.compliant("has an owner", tags=tags)
    return CheckResult.violating("no owner tag", tags=tags)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    tags = await ctx.checked_or_read("tags", lambda: _read_tags(ctx))
    after = {**tags, "owner": "unknown"}
    return Plan("tag an owner", [Change("put_bucket_tagging", violation.resource_arn, tags, after)])


async def apply(ctx: RemediationContext[Any], plan: Plan) -> dict[str, Any]:
    tags = await _read_tags(ctx)  # re-read before the write, never ctx.checked
    await ctx.record_before({"tags": tags})
    after = {**tags, "owner": "unknown"}
    async with ctx.aws.client("s3") as s3:
        await s3.put_bucket_tagging(
            Bucket=ctx.violation.resource_name,
            Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in after.items()]},
        )
    return {"tags": after}


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    if "owner" in await _read_tags(ctx):
        return VerifyResult.verified("has an owner")
    return VerifyResult.failed("still no owner tag")


REMEDIATION = Remediation(
    id="test.owner_tag",
    rules=("TEST_OWNER",),
    title="Tag an owner",
    description="test remediation: plans on the tags check read",
    resource_type="s3:bucket",
    policy=POLICY,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
)


def _bucket(admin_client: Any, name: str) -> None:
    s3 = admin_client("s3")
    s3.create_bucket(Bucket=name)
    s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": [{"Key": "team", "Value": "a"}]})


async def test_a_dry_run_reads_the_tags_once(admin_client, make_violation, run_remediation):
    _bucket(admin_client, "tagged-once")
    record = await run_remediation(
        REMEDIATION, make_violation("TEST_OWNER", "tagged-once"), mode="dry-run"
    )
    assert record.status is Status.PLANNED
    assert [c.operation for c in record.calls] == ["GetBucketTagging"]  # check's, not plan's
    [change] = record.plan.changes
    assert change.before == {"team": "a"} and change.after == {"team": "a", "owner": "unknown"}


async def test_plan_alone_reads_for_itself_and_plans_the_same(
    admin_client, make_violation, run_remediation, plan_alone
):
    _bucket(admin_client, "tagged-alone")
    violation = make_violation("TEST_OWNER", "tagged-alone")
    dry = await run_remediation(REMEDIATION, violation, mode="dry-run")
    alone, operations = await plan_alone(REMEDIATION, violation)
    assert operations == ["GetBucketTagging"]
    assert alone.to_dict() == dry.plan.to_dict()


async def test_plans_on_check_passes_a_plan_that_builds_on_check(
    admin_client, make_violation, plans_on_check
):
    _bucket(admin_client, "tagged-kit")
    violation = make_violation("TEST_OWNER", "tagged-kit")
    assert await plans_on_check(REMEDIATION, violation) == (
        ["GetBucketTagging"],
        ["GetBucketTagging"],
    )
    assert await plans_on_check(REMEDIATION, violation, "GetBucketTagging") == (
        ["GetBucketTagging"],
        ["GetBucketTagging"],
    )


async def _plan_reading_again(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    tags = await _read_tags(ctx)  # ignores what check read
    after = {**tags, "owner": "unknown"}
    return Plan("tag an owner", [Change("put_bucket_tagging", violation.resource_arn, tags, after)])


async def test_plans_on_check_fails_a_plan_that_reads_again(
    admin_client, make_violation, plans_on_check
):
    _bucket(admin_client, "tagged-twice")
    violation = make_violation("TEST_OWNER", "tagged-twice")
    reading_again = dataclasses.replace(REMEDIATION, plan=_plan_reading_again)
    with pytest.raises(AssertionError):
        await plans_on_check(reading_again, violation)
    with pytest.raises(AssertionError):
        await plans_on_check(reading_again, violation, "GetBucketTagging")


async def _check_locating_twice(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    async with ctx.aws.client("s3") as s3:
        for _ in range(2):  # the same request twice
            await s3.get_bucket_location(Bucket=violation.resource_name)
    return await check(ctx, violation)


async def test_plans_on_check_each_once_fails_a_dry_run_that_repeats_a_request(
    admin_client, make_violation, plans_on_check
):
    _bucket(admin_client, "tagged-located")
    violation = make_violation("TEST_OWNER", "tagged-located")
    locating_twice = dataclasses.replace(REMEDIATION, check=_check_locating_twice)
    operations, _ = await plans_on_check(locating_twice, violation, "GetBucketTagging")
    assert operations == ["GetBucketLocation", "GetBucketLocation", "GetBucketTagging"]
    with pytest.raises(AssertionError, match="repeated"):
        await plans_on_check(locating_twice, violation, "GetBucketTagging", each_once=True)
