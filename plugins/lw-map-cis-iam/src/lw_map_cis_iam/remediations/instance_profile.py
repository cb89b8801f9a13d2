"""AWS_CIS_1_21: IAM instance roles are used for AWS access from instances.

The API can attach an instance profile to an instance that has none, but it cannot see
whether software on the instance uses embedded static keys -- the actual concern. So
the default is to notify (``manual``). The opt-in ``associate`` attaches the configured
baseline instance profile (e.g. a minimal SSM-core role) to an instance without one;
undo disassociates it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._iam import error_code

INSTANCE_ARNS = ("arn:{partition}:ec2:{region}:{account}:instance/*",)
_PROFILE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:instance-profile/[\w+=,.@/-]+$"
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$"
_GONE = {"terminated", "shutting-down"}


class Options(RemediationOptions):
    """Notify by default; or attach a baseline instance profile."""

    action: Literal["notify", "associate"] = "notify"
    #: The baseline instance profile to attach (keep its role minimal).
    instance_profile_arn: str | None = pydantic.Field(None, pattern=_PROFILE_ARN)
    #: The role inside that profile: ``iam:PassRole`` is granted on this role only.
    role_arn: str | None = pydantic.Field(None, pattern=_ROLE_ARN)

    @pydantic.model_validator(mode="after")
    def _complete(self) -> Options:
        if self.action == "associate" and not (self.instance_profile_arn and self.role_arn):
            raise ValueError('action = "associate" needs instance_profile_arn and role_arn')
        return self


async def read_instance(ctx: RemediationContext[Any], instance_id: str) -> dict[str, Any] | None:
    """The instance, or None when it no longer exists (or is terminating)."""
    async with ctx.aws.client("ec2") as ec2:
        try:
            response = await ec2.describe_instances(InstanceIds=[instance_id])
        except ClientError as exc:
            if error_code(exc).startswith("InvalidInstanceID"):
                return None
            raise
    for reservation in response.get("Reservations", []):
        for instance in reservation.get("Instances", []):
            if instance.get("State", {}).get("Name") in _GONE:
                return None
            return dict(instance)
    return None


async def read_associations(ctx: RemediationContext[Any], instance_id: str) -> list[dict[str, Any]]:
    """Current (associating or associated) instance-profile associations of the instance."""
    async with ctx.aws.client("ec2") as ec2:
        response = await ec2.describe_iam_instance_profile_associations(
            Filters=[{"Name": "instance-id", "Values": [instance_id]}]
        )
    return [
        dict(a)
        for a in response.get("IamInstanceProfileAssociations", [])
        if a.get("State") in {"associating", "associated"}
    ]


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    instance_id = violation.resource_name
    instance = await read_instance(ctx, instance_id)
    if instance is None:
        return CheckResult.compliant(f"instance {instance_id} no longer exists")
    profile = instance.get("IamInstanceProfile")
    if profile:
        return CheckResult.compliant(
            f"instance {instance_id} has an instance profile", instance_profile=profile.get("Arn")
        )
    return CheckResult.violating(
        f"instance {instance_id} ({instance.get('State', {}).get('Name')}) has no instance profile",
        needs_profile=True,
    )


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    instance_id = violation.resource_name

    async def live() -> bool:
        instance = await read_instance(ctx, instance_id)
        return instance is not None and not instance.get("IamInstanceProfile")

    # check read the instance in this run: no second DescribeInstances (apply re-reads)
    if not await ctx.checked_or_read("needs_profile", live):
        return Plan(f"instance {instance_id} needs no instance profile")
    profile = str(ctx.options.instance_profile_arn)
    return Plan(
        summary=f"attach instance profile {profile} to instance {instance_id}",
        changes=[Change("associate_iam_instance_profile", violation.resource_arn, None, profile)],
        data={"instance_id": instance_id, "instance_profile_arn": profile},
        notes=[
            f"software on {instance_id} can use the permissions of {ctx.options.role_arn} "
            "through the instance metadata service",
            "this does not remove static keys embedded on the instance; find and rotate them",
            "reversible: undo disassociates the profile",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    instance_id, profile = str(plan.data["instance_id"]), str(plan.data["instance_profile_arn"])
    instance = await read_instance(ctx, instance_id)  # re-read right before writing
    if instance is None:
        raise RemediationRefused(f"instance {instance_id} disappeared before the change")
    if instance.get("IamInstanceProfile") or await read_associations(ctx, instance_id):
        return {"instance_id": instance_id, "association_id": None}  # got one meanwhile
    await ctx.record_before({"instance_id": instance_id, "iam_instance_profile": None})
    async with ctx.aws.client("ec2") as ec2:
        try:
            response = await ec2.associate_iam_instance_profile(
                IamInstanceProfile={"Arn": profile}, InstanceId=instance_id
            )
        except ClientError as exc:
            if error_code(exc) == "IncorrectState":
                raise RemediationRefused(
                    f"instance {instance_id} got an instance profile meanwhile"
                ) from exc
            raise
    association = response["IamInstanceProfileAssociation"]
    ctx.log.info("instance_profile_associated", instance_id=instance_id, profile=profile)
    return {
        "instance_id": instance_id,
        "association_id": association["AssociationId"],
        "instance_profile_arn": profile,
    }


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    instance_id = violation.resource_name
    associations = await read_associations(ctx, instance_id)
    if not associations:
        if await read_instance(ctx, instance_id) is None:
            return VerifyResult.verified(f"instance {instance_id} no longer exists")
        return VerifyResult.failed(f"instance {instance_id} has no instance profile")
    state = associations[0].get("State")
    arn = associations[0].get("IamInstanceProfile", {}).get("Arn")
    if state == "associating":
        return VerifyResult.unverified(f"{arn} is still associating with {instance_id}")
    return VerifyResult.verified(f"instance {instance_id} uses instance profile {arn}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    after = record.after_image or {}
    instance_id, association_id = str(after.get("instance_id")), after.get("association_id")
    if not association_id:
        raise ResourceChanged("the action associated nothing; nothing to revert")
    associations = await read_associations(ctx, instance_id)
    ours = [
        a
        for a in associations
        if a.get("AssociationId") == association_id
        and a.get("IamInstanceProfile", {}).get("Arn") == after.get("instance_profile_arn")
    ]
    if not ours:
        raise ResourceChanged(
            f"instance {instance_id} no longer has association {association_id}; not reverting"
        )
    async with ctx.aws.client("ec2") as ec2:
        await ec2.disassociate_iam_instance_profile(AssociationId=association_id)
    return f"disassociated {after.get('instance_profile_arn')} from {instance_id}"


def _option_policy(options: Options) -> IamPolicy:
    if options.action != "associate":
        return IamPolicy()
    return (
        IamPolicy.allow(["ec2:DescribeIamInstanceProfileAssociations"])
        + IamPolicy.allow(
            ["ec2:AssociateIamInstanceProfile"],
            INSTANCE_ARNS,
            conditions={"ArnEquals": {"ec2:NewInstanceProfile": options.instance_profile_arn}},
        )
        + IamPolicy.allow(
            ["iam:PassRole"],
            [str(options.role_arn)],
            conditions={"StringEquals": {"iam:PassedToService": "ec2.amazonaws.com"}},
        )
    )


RUNBOOK = """\
EC2 instance {resource_name} (account {account}, region {region}) has no IAM instance profile ({rule_id}).
1. Find out how software on the instance reaches AWS: look for static keys in ~/.aws/credentials,
   environment variables, application config; CloudTrail shows which access key the instance uses.
2. Create (or pick) a role with only the permissions that software needs, and its instance profile.
3. aws ec2 associate-iam-instance-profile --instance-id {resource_name} \\
       --iam-instance-profile Arn=<instance profile ARN> --region {region}
4. Switch the software to the instance role, then deactivate and delete the static keys it used.
The option action = "associate" (with instance_profile_arn and role_arn) does step 3 with a
baseline profile; steps 1, 2 and 4 stay manual."""


REMEDIATION = Remediation(
    id="cis_iam.attach_instance_profile",
    rules=("AWS_CIS_1_21",),
    title="Attach a baseline instance profile to an instance without one",
    description=(
        "PRIVILEGE-SENSITIVE (gives the instance the role's permissions; needs iam:PassRole). "
        "Manual by default (static keys on the instance cannot be seen from the API). The "
        "opt-in associate attaches the configured instance profile to an instance that has "
        "none; iam:PassRole is scoped to the configured role. Undo disassociates it."
    ),
    resource_type="ec2:instance",
    policy=IamPolicy.allow(["ec2:DescribeInstances"]),
    option_policy=_option_policy,
    revert_policy=IamPolicy.allow(["ec2:DisassociateIamInstanceProfile"], INSTANCE_ARNS),
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    options=Options,
    manual_when=lambda options: options.action == "notify",
    runbook=RUNBOOK,
    privilege_sensitive=True,
)
