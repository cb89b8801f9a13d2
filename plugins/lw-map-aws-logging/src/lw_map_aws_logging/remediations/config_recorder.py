"""AWS_CIS_2_5: AWS Config records in every region (a region-level target).

In the action's region the remediation makes sure that a configuration recorder records
all supported resource types (global ones -- IAM -- only in ``global_resources_region``,
so they are not recorded, and billed, once per region), that a delivery channel sends to
the configured bucket, and that the recorder is running. An existing recorder keeps its
name and role; an existing channel is kept as it is. Without the configuration a step
needs (``role_arn`` for a new recorder, ``bucket_name`` for a new channel,
``global_resources_region`` whenever the recorder is written), the action is refused
naming the option.

Reasons: ``NoRecorder`` and ``NotRecording`` come with a region; the account-level
``GlobalResourceTypesNotIncluded`` is acted on in ``global_resources_region`` only.
Undo stops a recorder that was not running, deletes a channel and a recorder the action
created, and restores a recorder it changed. The configuration history already delivered
stays in the bucket. AWS Config bills per configuration item recorded.
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
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    VerifyResult,
    Violation,
)

from .._aws import ANY, RECORDER, check_template, fill, refuse_without

ID = "logging.enable_config_recorder"
GLOBAL_REASON = "GlobalResourceTypesNotIncluded"
_ROLE_RE = re.compile(r"^arn:[a-z-]+:iam::(\d{12}|\{account\}):role/[\w+=,.@/-]+$")
_REGION_RE = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")


class Options(RemediationOptions):
    """Where Config delivers, with which role, and where global resources are recorded."""

    #: Role of a new recorder, e.g. the service-linked role
    #: ``"arn:aws:iam::{account}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"``.
    role_arn: str | None = None
    #: Bucket of a new delivery channel, e.g. ``"config-{account}"`` (it must let
    #: ``config.amazonaws.com`` write).
    bucket_name: str | None = None
    #: Key prefix in the bucket.
    s3_key_prefix: str | None = None
    #: SNS topic of a new delivery channel (optional).
    sns_topic_arn: str | None = None
    #: The one region recording global resource types (IAM), e.g. ``"us-east-1"``.
    global_resources_region: str | None = None
    #: Names of a new recorder / delivery channel.
    recorder_name: str = "default"
    channel_name: str = "default"

    @pydantic.field_validator("role_arn")
    @classmethod
    def _role(cls, value: str | None) -> str | None:
        if value is not None and not _ROLE_RE.match(value):
            raise ValueError(f"not an IAM role ARN: {value!r}")
        return value

    @pydantic.field_validator("bucket_name", "s3_key_prefix", "sns_topic_arn")
    @classmethod
    def _templates(cls, value: str | None) -> str | None:
        return check_template(
            value, {"account", "region"}, "bucket_name/s3_key_prefix/sns_topic_arn"
        )

    @pydantic.field_validator("global_resources_region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not _REGION_RE.match(value):
            raise ValueError(f"not an AWS region: {value!r}")
        return value


async def read(config: Any) -> dict[str, Any]:
    """The region's recorder (or None), whether it records, and its delivery channels."""
    recorders = (await config.describe_configuration_recorders()).get("ConfigurationRecorders", [])
    statuses = (await config.describe_configuration_recorder_status()).get(
        "ConfigurationRecordersStatus", []
    )
    channels = (await config.describe_delivery_channels()).get("DeliveryChannels", [])
    recorder = dict(recorders[0]) if recorders else None
    recording = bool(
        recorder and any(s.get("name") == recorder["name"] and s.get("recording") for s in statuses)
    )
    return {"Recorder": recorder, "Recording": recording, "Channels": [dict(c) for c in channels]}


def recorder_image(recorder: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What this remediation compares and restores of a recorder."""
    if recorder is None:
        return None
    group = recorder.get("recordingGroup", {})
    return {
        "name": recorder["name"],
        "roleARN": recorder.get("roleARN"),
        "recordingGroup": {
            "allSupported": bool(group.get("allSupported")),
            "includeGlobalResourceTypes": bool(group.get("includeGlobalResourceTypes")),
            **({"resourceTypes": group["resourceTypes"]} if group.get("resourceTypes") else {}),
        },
    }


def wants_global(region: str, options: Options) -> bool:
    home = options.global_resources_region
    return home is None or home == region


def problems(state: Mapping[str, Any], region: str, options: Options) -> list[str]:
    recorder = recorder_image(state["Recorder"])
    if recorder is None:
        return [f"no configuration recorder in {region}"]
    group = recorder["recordingGroup"]
    found = []
    if not group["allSupported"]:
        found.append("the recorder does not record all supported resource types")
    if wants_global(region, options) and not group["includeGlobalResourceTypes"]:
        found.append("the recorder does not record global resource types")
    if not state["Channels"]:
        found.append("there is no delivery channel")
    if not state["Recording"]:
        found.append(f"recorder {recorder['name']} is not recording")
    return found


def _guard_region(violation: Violation, region: str, options: Options) -> None:
    home = options.global_resources_region
    if violation.reason == GLOBAL_REASON and home and home != region:
        raise RemediationRefused(
            f"global resource types are recorded in {home} (global_resources_region); "
            f"this action runs in {region}"
        )


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    region = ctx.aws.region
    _guard_region(violation, region, ctx.options)
    async with ctx.aws.client("config") as config:
        state = await read(config)
    found = problems(state, region, ctx.options)
    recorder = recorder_image(state["Recorder"])
    if not found:
        return CheckResult.compliant(
            f"AWS Config records in {region} (recorder {recorder and recorder['name']})",
            recorder=recorder,
        )
    return CheckResult.violating("; ".join(found), recorder=recorder, state=state)


def _need(value: str | None, option: str, what: str) -> str:
    if value is None:
        raise refuse_without(option, ID, what)
    return value


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    options: Options = ctx.options
    region = ctx.aws.region
    _guard_region(violation, region, options)

    async def live() -> dict[str, Any]:
        async with ctx.aws.client("config") as config:
            return await read(config)

    # check read the recorder, its status and the channels in this run: not again (apply
    # re-reads before writing)
    state: dict[str, Any] = await ctx.checked_or_read("state", live)
    if not problems(state, region, options):
        return Plan(f"AWS Config records in {region}")
    current = recorder_image(state["Recorder"])
    changes: list[Change] = []
    steps: list[str] = []
    data: dict[str, Any] = {}
    include_global = wants_global(region, options)
    if (
        current is None
        or not current["recordingGroup"]["allSupported"]
        or (include_global and not current["recordingGroup"]["includeGlobalResourceTypes"])
    ):
        _need(
            options.global_resources_region,
            "global_resources_region",
            "no home region for global resource types configured",
        )
        if current is None:
            role = _need(options.role_arn, "role_arn", f"no role for a new recorder in {region}")
            name = options.recorder_name
            role = role.replace("{account}", violation.account_id)
        else:
            name, role = current["name"], current["roleARN"]
            configured = (options.role_arn or "").replace("{account}", violation.account_id)
            if role != configured:
                # PutConfigurationRecorder passes the recorder's role to AWS Config
                # (iam:PassRole), which the policy grants on role_arn only.
                raise RemediationRefused(
                    f"recorder {name} in {region} uses role {role}: updating it passes that "
                    f'role to AWS Config (iam:PassRole): set role_arn = "{role}" under '
                    f'[remediation."{ID}"]'
                )
        wanted = {
            "name": name,
            "roleARN": role,
            "recordingGroup": {
                "allSupported": True,
                "includeGlobalResourceTypes": include_global
                or bool(current and current["recordingGroup"]["includeGlobalResourceTypes"]),
            },
        }
        changes.append(Change("put_configuration_recorder", f"recorder/{name}", current, wanted))
        steps.append(
            f"{'create' if current is None else 'update'} recorder {name} to record all "
            f"supported resource types{' and global ones' if include_global else ''}"
        )
        data["Recorder"] = wanted
    name = data.get("Recorder", current or {}).get("name")
    if not state["Channels"]:
        bucket = fill(
            _need(
                options.bucket_name, "bucket_name", f"no delivery bucket for AWS Config in {region}"
            ),
            violation,
            region,
        )
        channel: dict[str, Any] = {"name": options.channel_name, "s3BucketName": bucket}
        if options.s3_key_prefix:
            channel["s3KeyPrefix"] = fill(options.s3_key_prefix, violation, region)
        if options.sns_topic_arn:
            channel["snsTopicARN"] = fill(options.sns_topic_arn, violation, region)
        changes.append(
            Change("put_delivery_channel", f"delivery-channel/{channel['name']}", None, channel)
        )
        steps.append(f"deliver to s3://{bucket}")
        data["Channel"] = channel
    if not state["Recording"]:
        changes.append(
            Change(
                "start_configuration_recorder",
                f"recorder/{name}",
                {"recording": False},
                {"recording": True},
            )
        )
        steps.append(f"start recorder {name}")
    data["Start"] = not state["Recording"]
    return Plan(
        summary=f"AWS Config in {region}: " + "; ".join(steps),
        changes=changes,
        data=data,
        notes=[
            "undo stops a recorder that was not running, deletes what this action created and "
            "restores a recorder it changed; delivered history stays in the bucket",
            "AWS Config bills per configuration item recorded",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    data = plan.data
    async with ctx.aws.client("config") as config:
        state = await read(config)  # re-read right before writing
        if not problems(state, ctx.aws.region, ctx.options):
            return {"Unchanged": True}
        before = recorder_image(state["Recorder"])
        if before is None and "Recorder" not in data:
            raise RemediationRefused("the recorder was deleted since the plan; run again")
        await ctx.record_before(
            {"Recorder": before, "Recording": state["Recording"], "Channels": state["Channels"]}
        )
        after: dict[str, Any] = {
            "Recorder": before,
            "CreatedRecorder": False,
            "CreatedChannel": None,
        }
        if "Recorder" in data:
            await config.put_configuration_recorder(ConfigurationRecorder=dict(data["Recorder"]))
            after["Recorder"] = dict(data["Recorder"])
            after["CreatedRecorder"] = before is None
        if "Channel" in data and not state["Channels"]:
            await config.put_delivery_channel(DeliveryChannel=dict(data["Channel"]))
            after["CreatedChannel"] = data["Channel"]["name"]
        name = after["Recorder"]["name"]
        if not state["Recording"]:
            await config.start_configuration_recorder(ConfigurationRecorderName=name)
        after["Recording"] = True
    return after


async def verify(ctx: RemediationContext[Any], violation: Violation) -> VerifyResult:
    async with ctx.aws.client("config") as config:
        state = await read(config)
    found = problems(state, ctx.aws.region, ctx.options)
    if found:
        return VerifyResult.failed("; ".join(found))
    return VerifyResult.verified(f"AWS Config records in {ctx.aws.region}")


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = dict(record.before_image or {})
    after = dict(record.after_image or {})
    if after.get("Unchanged"):
        return "the remediation changed nothing; nothing to undo"
    async with ctx.aws.client("config") as config:
        state = await read(config)
        live = recorder_image(state["Recorder"])
        if live != recorder_image(after["Recorder"]) or not state["Recording"]:
            raise ResourceChanged(
                "the AWS Config recorder changed since the remediation; not reverting"
            )
        name = live["name"] if live else ""
        done = []
        if not before["Recording"] or after["CreatedRecorder"]:
            await config.stop_configuration_recorder(ConfigurationRecorderName=name)
            done.append(f"stopped recorder {name}")
        if after.get("CreatedChannel"):
            await config.delete_delivery_channel(DeliveryChannelName=after["CreatedChannel"])
            done.append(f"deleted delivery channel {after['CreatedChannel']}")
        if after["CreatedRecorder"]:
            await config.delete_configuration_recorder(ConfigurationRecorderName=name)
            done.append(f"deleted recorder {name}")
        elif before["Recorder"] != live:
            await config.put_configuration_recorder(ConfigurationRecorder=dict(before["Recorder"]))
            done.append(f"restored recorder {name}")
    return "; ".join(done) or "nothing to undo"


def option_policy(options: Options) -> IamPolicy:
    """Passing the recorder role to AWS Config."""
    if options.role_arn is None:
        return IamPolicy()
    return IamPolicy.allow(
        ["iam:PassRole"],
        [options.role_arn],
        conditions={"StringEquals": {"iam:PassedToService": "config.amazonaws.com"}},
    )


#: AWS authorises iam:PassRole on the recorder's role inside PutConfigurationRecorder.
PASS_ROLE = AwsCall(
    "config",
    "PutConfigurationRecorder",
    dependent=(("iam:PassRole", "{ConfigurationRecorder[roleARN]}"),),
)


REMEDIATION = Remediation(
    id=ID,
    rules=("AWS_CIS_2_5",),
    aws_calls=(PASS_ROLE,),
    title="Record all resources with AWS Config in the region",
    description=(
        "Creates or widens the region's recorder (global types in one home region), adds a "
        "delivery channel to the configured bucket and starts it; refused until configured."
    ),
    resource_type="config:region",
    policy=IamPolicy.allow(
        [
            "config:DescribeConfigurationRecorders",
            "config:DescribeConfigurationRecorderStatus",
            "config:PutConfigurationRecorder",
            "config:StartConfigurationRecorder",
        ],
        [RECORDER],
    )
    + IamPolicy.allow(["config:DescribeDeliveryChannels", "config:PutDeliveryChannel"], ANY),
    option_policy=option_policy,
    revert_policy=IamPolicy.allow(
        ["config:StopConfigurationRecorder", "config:DeleteConfigurationRecorder"], [RECORDER]
    )
    + IamPolicy.allow(["config:DeleteDeliveryChannel"], ANY),
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
)
