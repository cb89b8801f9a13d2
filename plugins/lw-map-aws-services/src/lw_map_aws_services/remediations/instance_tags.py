"""LW_AWS_GENERAL_SECURITY_1: an EC2 instance has no tags.

**Manual by default**: which tags an instance carries is an ownership decision. With
``enforce`` and ``default_tags`` configured, the configured tags are added to an instance
that has none (``aws:`` system tags do not count). Undo deletes exactly the tags the
action added, unless somebody changed their values since.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pydantic

from lw_remediate import (
    ActionRecord,
    AwsCall,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    Violation,
)

from .._common import INSTANCE, on_star, verify_by

_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


class Options(RemediationOptions):
    #: Add ``default_tags`` (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: Tags to add to an untagged instance, e.g. ``{owner = "unassigned"}``.
    default_tags: dict[str, str] = pydantic.Field(default_factory=dict)

    @pydantic.field_validator("default_tags")
    @classmethod
    def _valid_tags(cls, tags: dict[str, str]) -> dict[str, str]:
        if len(tags) > 50:
            raise ValueError("EC2 allows at most 50 tags per resource")
        for key, value in tags.items():
            if not key or len(key) > 128 or key.lower().startswith("aws:"):
                raise ValueError(f"tag key {key!r}: 1-128 characters, not starting with 'aws:'")
            if len(value) > 256:
                raise ValueError(f"tag value of {key!r}: at most 256 characters")
        return tags


def instance_id(violation: Violation) -> str:
    name = violation.resource_name
    if not _INSTANCE_ID.match(name):
        raise RemediationError(
            f"{violation.rule_id}: expected an i-… id in {violation.resource_arn!r}"
        )
    return name


async def tags(ctx: RemediationContext[Any], instance: str) -> dict[str, str] | None:
    """The instance's tags; None when it is gone (or terminated)."""
    async with ctx.aws.client("ec2") as ec2:
        response = await ec2.describe_instances(
            Filters=[{"Name": "instance-id", "Values": [instance]}]
        )
    found = [i for r in response.get("Reservations", []) for i in r.get("Instances", [])]
    if not found or found[0].get("State", {}).get("Name") == "terminated":
        return None
    return {t["Key"]: t.get("Value", "") for t in found[0].get("Tags", [])}


def _user_tags(all_tags: Mapping[str, str]) -> dict[str, str]:
    return {k: v for k, v in all_tags.items() if not k.lower().startswith("aws:")}


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    instance = instance_id(violation)
    found = await tags(ctx, instance)
    if found is None:
        return CheckResult.compliant(f"instance {instance} no longer exists")
    if _user_tags(found):
        return CheckResult.compliant(
            f"instance {instance} has tags: {', '.join(sorted(_user_tags(found)))}"
        )
    return CheckResult.violating(f"instance {instance} has no tags", tags=found)


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    instance = instance_id(violation)
    wanted = dict(ctx.options.default_tags)
    if not wanted:
        raise RemediationRefused(
            f"no default_tags configured for {REMEDIATION.id}; not tagging {instance}"
        )
    # check read the tags in this run: no second DescribeInstances
    found: dict[str, str] | None = await ctx.checked_or_read("tags", lambda: tags(ctx, instance))
    if found is None or _user_tags(found):
        return Plan(f"instance {instance} is tagged or gone")
    return Plan(
        summary=f"tag instance {instance} with " + ", ".join(f"{k}={v}" for k, v in wanted.items()),
        changes=[Change("create_tag", f"{instance} tag {k}", None, v) for k, v in wanted.items()],
        notes=["undo deletes exactly these tags, unless their values changed since"],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    instance = instance_id(ctx.violation)
    before = await tags(ctx, instance) or {}
    await ctx.record_before({"Tags": before})
    if not _user_tags(before):
        async with ctx.aws.client("ec2") as ec2:
            await ec2.create_tags(
                Resources=[instance],
                Tags=[{"Key": k, "Value": v} for k, v in ctx.options.default_tags.items()],
            )
    return {"Tags": await tags(ctx, instance) or {}}


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    instance = instance_id(record.violation)
    before = (record.before_image or {}).get("Tags", {})
    after = (record.after_image or {}).get("Tags", {})
    added = {k: v for k, v in after.items() if k not in before}
    live = await tags(ctx, instance) or {}
    changed = sorted(k for k, v in added.items() if live.get(k) != v)
    if changed:
        raise ResourceChanged(
            f"tag(s) {', '.join(changed)} of {instance} changed since the remediation; "
            "not reverting"
        )
    if added:
        async with ctx.aws.client("ec2") as ec2:
            await ec2.delete_tags(
                Resources=[instance], Tags=[{"Key": k, "Value": v} for k, v in added.items()]
            )
    return f"deleted tag(s) {', '.join(sorted(added)) or 'none'} of {instance}"


RUNBOOK = """\
EC2 instance {resource_name} ({region}, account {account}) has no tags ({rule_id}).
1. Find its owner: aws ec2 describe-instances --region {region} --instance-ids {resource_name} \\
     --query "Reservations[].Instances[].[KeyName,IamInstanceProfile,LaunchTime,SubnetId]"
   (CloudTrail RunInstances events name who launched it).
2. Tag it: aws ec2 create-tags --region {region} --resources {resource_name} \\
     --tags Key=owner,Value=<team> Key=environment,Value=<env>
3. Or configure default_tags and enforce = true under
   [remediation."services.tag_untagged_instance"]."""


REMEDIATION = Remediation(
    id="services.tag_untagged_instance",
    rules=("LW_AWS_GENERAL_SECURITY_1",),
    title="Add the configured default tags to an untagged EC2 instance",
    description="Manual by default; with enforce, adds default_tags (refused when none).",
    resource_type="ec2:instance",
    policy=on_star("ec2:DescribeInstances"),
    option_policy=lambda options: (
        IamPolicy.allow(["ec2:CreateTags"], [INSTANCE]) if options.enforce else IamPolicy()
    ),
    revert_policy=IamPolicy.allow(["ec2:DeleteTags"], [INSTANCE]),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
    aws_calls=(
        # CreateTags/DeleteTags take ids of any resource type; here they are instances.
        AwsCall(
            "ec2",
            "CreateTags",
            resource="arn:{partition}:ec2:{region}:{account}:instance/{Resources[0]}",
        ),
        AwsCall(
            "ec2",
            "DeleteTags",
            resource="arn:{partition}:ec2:{region}:{account}:instance/{Resources[0]}",
        ),
    ),
)
