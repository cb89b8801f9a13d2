"""The map contract is checked when a map declares a remediation and when a hook returns."""

from __future__ import annotations

import pytest

from lw_remediate import (
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationDeclarationError,
    RemediationOptions,
    Status,
    VerifyResult,
)
from lw_remediate.testing import BeforeImageMissing

POLICY = IamPolicy.allow(["s3:GetBucketTagging", "s3:PutBucketTagging"], ["arn:{partition}:s3:::*"])


async def check(ctx, violation):
    return CheckResult.violating("untagged")


async def plan(ctx, violation):
    return Plan("tag it", [Change("put_bucket_tagging", violation.resource_arn, None, "x")])


async def apply_without_before_image(ctx, plan):
    async with ctx.aws.client("s3") as s3:
        await s3.put_bucket_tagging(
            Bucket=ctx.violation.resource_name, Tagging={"TagSet": [{"Key": "k", "Value": "v"}]}
        )
    return {"tagged": True}


async def verify(ctx, violation):
    return VerifyResult.verified()


def declare(**changes):
    fields = {
        "id": "contract.tag_bucket",
        "rules": ("CONTRACT_1",),
        "title": "t",
        "policy": POLICY,
        "check": check,
        "plan": plan,
        "apply": apply_without_before_image,
        "verify": verify,
    }
    return Remediation(**{**fields, **changes})


def sync_check(ctx, violation):
    return CheckResult.violating("x")


class Lifecycle:
    async def check(self, ctx, violation):
        return CheckResult.compliant("ok")


class AsyncCallable:
    async def __call__(self, ctx, violation):
        return CheckResult.compliant("ok")


@pytest.mark.parametrize("hook", ["check", "plan", "apply", "verify"])
def test_every_hook_must_be_a_coroutine_function(hook):
    with pytest.raises(RemediationDeclarationError, match=f"{hook} must be a coroutine function"):
        declare(**{hook: sync_check})


def test_bound_async_methods_and_async_callables_are_coroutines():
    declare(check=Lifecycle().check)
    declare(check=AsyncCallable())


class NoDefault(RemediationOptions):
    days: int
    keep: bool = True


def test_every_option_needs_a_default():
    with pytest.raises(RemediationDeclarationError, match="NoDefault has none for: days"):
        declare(options=NoDefault)


def test_irreversible_and_revert_contradict():
    async def revert(ctx, record):
        return "restored"

    with pytest.raises(RemediationDeclarationError, match="irreversible, yet it declares revert"):
        declare(irreversible=True, revert=revert)


@pytest.mark.parametrize(
    ("hook", "returned", "expected", "status"),
    [
        ("check", {"present": True}, "CheckResult", Status.FAILED),
        ("plan", "tag it", "Plan", Status.FAILED),
        # the change was made: the outcome is unknown, not a failure
        ("verify", True, "VerifyResult", Status.UNVERIFIED),
    ],
)
async def test_a_wrong_return_type_names_map_remediation_and_hook(
    admin_client, make_violation, run_remediation, hook, returned, expected, status
):
    admin_client("s3").create_bucket(Bucket="contract-bucket")

    async def wrong(ctx, violation):
        return returned

    async def apply(ctx, plan):
        await ctx.record_before({})
        return {}

    rem = declare(**{hook: wrong, "apply": apply})
    record = await run_remediation(rem, make_violation("CONTRACT_1", "contract-bucket"))
    assert record.status is status
    assert (
        f"map {__name__}: remediation contract.tag_bucket: {hook} returned "
        f"{type(returned).__name__}, not {expected}"
    ) in record.detail


def test_the_origin_is_the_distribution_of_an_installed_map():
    from lw_map_s3.remediations.versioning import REMEDIATION

    assert REMEDIATION.origin == "lw-map-s3"


async def test_the_kit_fails_a_write_without_a_before_image(
    admin_client, make_violation, run_remediation, least_privilege
):
    admin_client("s3").create_bucket(Bucket="contract-bucket")
    violation = make_violation("CONTRACT_1", "contract-bucket")
    with pytest.raises(BeforeImageMissing, match=r"s3:PutBucketTagging\) without recording"):
        await run_remediation(declare(), violation)
    with pytest.raises(BeforeImageMissing):
        await least_privilege.run(declare(), violation)


async def test_an_irreversible_remediation_may_write_without_one(
    admin_client, make_violation, run_remediation
):
    admin_client("s3").create_bucket(Bucket="contract-bucket")
    record = await run_remediation(
        declare(irreversible=True), make_violation("CONTRACT_1", "contract-bucket")
    )
    assert record.status is Status.REMEDIATED
    assert record.before_image is None
