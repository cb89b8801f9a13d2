"""logging.enable_config_recorder (AWS_CIS_2_5, region-level)."""

from __future__ import annotations

import pydantic
import pytest

from lw_map_aws_logging.remediations.config_recorder import REMEDIATION
from lw_remediate import ResourceChanged, Status

ROLE = "arn:aws:iam::123456789012:role/aws-config"
OPTIONS = {
    "role_arn": "arn:aws:iam::{account}:role/aws-config",
    "bucket_name": "config-{account}",
    "global_resources_region": "us-east-1",
}


@pytest.fixture
def config(admin_client):
    return admin_client("config")


@pytest.fixture
def region_violation(make_violation):
    """The region-level target the core builds from a report row naming only a region."""

    def _make(region="us-east-1", reason="NoRecorder"):
        return make_violation("AWS_CIS_2_5", "region", region=region, reason=reason)

    return _make


def recorders(config):
    return config.describe_configuration_recorders()["ConfigurationRecorders"]


def recording(config):
    return [
        s["recording"]
        for s in config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    ]


async def test_sets_up_config_in_the_home_region_and_undo_removes_it(
    config, region_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, region_violation(), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    [recorder] = recorders(config)
    assert recorder["roleARN"] == ROLE
    assert recorder["recordingGroup"]["allSupported"] is True
    assert recorder["recordingGroup"]["includeGlobalResourceTypes"] is True
    [channel] = config.describe_delivery_channels()["DeliveryChannels"]
    assert channel["s3BucketName"] == "config-123456789012"
    assert recording(config) == [True]
    assert record.before_image == {"Recorder": None, "Recording": False, "Channels": []}
    assert [c.operation for c in record.plan.changes] == [
        "put_configuration_recorder",
        "put_delivery_channel",
        "start_configuration_recorder",
    ]

    detail = await revert_action(REMEDIATION, record, options=OPTIONS)
    assert "deleted recorder default" in detail
    assert recorders(config) == []
    assert config.describe_delivery_channels()["DeliveryChannels"] == []


async def test_other_regions_do_not_record_global_resources(
    admin_client, region_violation, run_remediation
):
    record = await run_remediation(REMEDIATION, region_violation("eu-west-1"), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    [recorder] = recorders(admin_client("config", region="eu-west-1"))
    assert recorder["recordingGroup"] == {
        **recorder["recordingGroup"],
        "allSupported": True,
        "includeGlobalResourceTypes": False,
    }


async def test_a_stopped_recorder_is_started_and_undo_stops_it(
    config, region_violation, run_remediation, revert_action, writes
):
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "existing",
            "roleARN": "arn:aws:iam::123456789012:role/other",
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "existing", "s3BucketName": "elsewhere"})
    record = await run_remediation(
        REMEDIATION, region_violation(reason="NotRecording"), options=OPTIONS
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert writes(record) == ["StartConfigurationRecorder"]  # recorder and channel kept
    assert recording(config) == [True]

    await revert_action(REMEDIATION, record, options=OPTIONS)
    assert recording(config) == [False]
    assert [r["name"] for r in recorders(config)] == ["existing"]


async def test_a_recorder_of_some_types_is_widened_and_undo_restores_it(
    config, region_violation, run_remediation, revert_action
):
    group = {
        "allSupported": False,
        "includeGlobalResourceTypes": False,
        "resourceTypes": ["AWS::S3::Bucket"],
    }
    config.put_configuration_recorder(
        ConfigurationRecorder={"name": "narrow", "roleARN": ROLE, "recordingGroup": group}
    )
    config.put_delivery_channel(DeliveryChannel={"name": "narrow", "s3BucketName": "config-x"})
    config.start_configuration_recorder(ConfigurationRecorderName="narrow")
    record = await run_remediation(REMEDIATION, region_violation(), options=OPTIONS)
    assert record.status is Status.REMEDIATED, record.detail
    [recorder] = recorders(config)
    assert recorder["recordingGroup"]["allSupported"] is True
    assert recorder["roleARN"] == ROLE and recorder["name"] == "narrow"

    await revert_action(REMEDIATION, record, options=OPTIONS)
    [recorder] = recorders(config)
    assert recorder["recordingGroup"]["allSupported"] is False
    assert recorder["recordingGroup"]["resourceTypes"] == ["AWS::S3::Bucket"]
    assert recording(config) == [True]


async def test_compliant_region_is_resolved_without_a_write(
    config, region_violation, run_remediation, writes
):
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "default",
            "roleARN": ROLE,
            "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
        }
    )
    config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "b"})
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    record = await run_remediation(REMEDIATION, region_violation(), options=OPTIONS)
    assert record.status is Status.RESOLVED
    assert "AWS Config records in us-east-1" in record.detail
    assert writes(record) == []


@pytest.mark.parametrize("role_arn", [None, "arn:aws:iam::{account}:role/another"])
async def test_an_existing_recorder_with_another_role_is_refused_naming_it(
    config, region_violation, run_remediation, writes, role_arn
):
    """Updating the recorder passes its role to AWS Config (iam:PassRole), which the policy
    grants on role_arn only: the operator is told which role to configure."""
    other = "arn:aws:iam::123456789012:role/other"
    config.put_configuration_recorder(
        ConfigurationRecorder={
            "name": "narrow",
            "roleARN": other,
            "recordingGroup": {"allSupported": False, "resourceTypes": ["AWS::S3::Bucket"]},
        }
    )
    options = (
        {**OPTIONS, "role_arn": role_arn}
        if role_arn
        else {k: v for k, v in OPTIONS.items() if k != "role_arn"}
    )
    record = await run_remediation(REMEDIATION, region_violation(), options=options)
    assert record.status is Status.REFUSED
    assert f'set role_arn = "{other}"' in record.detail
    assert writes(record) == []
    [recorder] = recorders(config)
    assert recorder["recordingGroup"]["allSupported"] is False


@pytest.mark.parametrize(
    ("missing", "option"),
    [
        ("role_arn", "role_arn"),
        ("bucket_name", "bucket_name"),
        ("global_resources_region", "global_resources_region"),
    ],
)
async def test_refused_naming_the_missing_option(
    missing, option, moto_server, region_violation, run_remediation, writes
):
    options = {k: v for k, v in OPTIONS.items() if k != missing}
    record = await run_remediation(REMEDIATION, region_violation(), options=options)
    assert record.status is Status.REFUSED
    assert f'set {option} under [remediation."logging.enable_config_recorder"]' in record.detail
    assert writes(record) == []


async def test_global_types_reason_is_acted_on_only_in_the_home_region(
    moto_server, region_violation, run_remediation, writes
):
    record = await run_remediation(
        REMEDIATION,
        region_violation("eu-west-1", reason="GlobalResourceTypesNotIncluded"),
        options=OPTIONS,
    )
    assert record.status is Status.REFUSED
    assert "recorded in us-east-1 (global_resources_region)" in record.detail
    assert writes(record) == []


async def test_revert_refuses_when_the_recorder_changed_since(
    config, region_violation, run_remediation, revert_action
):
    record = await run_remediation(REMEDIATION, region_violation(), options=OPTIONS)
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=OPTIONS)
    assert len(recorders(config)) == 1


def test_options_are_validated():
    with pytest.raises(pydantic.ValidationError, match="not an AWS region"):
        REMEDIATION.parse_options({"global_resources_region": "home"})
    with pytest.raises(pydantic.ValidationError, match="not an IAM role ARN"):
        REMEDIATION.parse_options({"role_arn": "config-role"})
    options = REMEDIATION.parse_options(OPTIONS)
    document = REMEDIATION.policy_for(options).render(account="123456789012")
    [pass_role] = [s for s in document["Statement"] if s["Action"] == ["iam:PassRole"]]
    assert pass_role["Resource"] == ROLE


async def test_dry_run_reads_the_region_once(region_violation, plans_on_check):
    # plan builds on the recorder, status and channels check read (ctx.checked)
    operations, _ = await plans_on_check(REMEDIATION, region_violation(), options=OPTIONS)
    assert operations == [
        "DescribeConfigurationRecorders",
        "DescribeConfigurationRecorderStatus",
        "DescribeDeliveryChannels",
    ]
