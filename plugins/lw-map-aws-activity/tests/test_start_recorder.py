"""activity.start_config_recorder: StopConfigurationRecorder is undone."""

from __future__ import annotations

import json

import pytest

from lw_map_aws_activity.remediations.start_recorder import REMEDIATION
from lw_remediate import ResourceChanged, Status

ACCOUNT = "123456789012"
REGION = "us-east-1"

TARGET = f"arn:aws:iam:{REGION}:{ACCOUNT}:root"


@pytest.fixture
def config(admin_client):
    iam = admin_client("iam")
    trust = {"Version": "2012-10-17", "Statement": []}
    role = iam.create_role(RoleName="config-role", AssumeRolePolicyDocument=json.dumps(trust))
    admin_client("s3").create_bucket(Bucket="config-bucket")
    client = admin_client("config")
    client.put_configuration_recorder(
        ConfigurationRecorder={"name": "default", "roleARN": role["Role"]["Arn"]}
    )
    client.put_delivery_channel(
        DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"}
    )
    return client


def recording(config):
    [status] = config.describe_configuration_recorder_status()["ConfigurationRecordersStatus"]
    return status["recording"]


async def test_starts_the_stopped_recorder_and_undo_stops_it(
    config, make_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION)
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert recording(config) is True
    assert record.before_image == {"stopped": ["default"]}
    assert "stopped AWS Config recorder default" in await revert_action(REMEDIATION, record)
    assert recording(config) is False


async def test_a_recording_region_is_resolved(config, make_violation, run_remediation, writes):
    config.start_configuration_recorder(ConfigurationRecorderName="default")
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION)
    )
    assert record.status is Status.RESOLVED and writes(record) == []


async def test_a_region_without_recorder_is_resolved(moto_server, make_violation, run_remediation):
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION)
    )
    assert record.status is Status.RESOLVED and "no AWS Config recorder" in record.detail


async def test_undo_refuses_when_the_recorder_stopped_again(
    config, make_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION)
    )
    config.stop_configuration_recorder(ConfigurationRecorderName="default")
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record)


async def test_least_privilege(config, make_violation, least_privilege):
    report = await least_privilege.run(
        REMEDIATION,
        make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION),
        revert=True,
    )
    assert "config:StartConfigurationRecorder" in report.used


async def test_dry_run_reads_the_status_once(config, make_violation, plans_on_check):
    # plan builds on the status check read (ctx.checked); plan alone reads it itself
    violation = make_violation("ACTIVITY:STOP_CONFIG_RECORDER", TARGET, region=REGION)
    operations, _ = await plans_on_check(REMEDIATION, violation)
    assert operations == ["DescribeConfigurationRecorderStatus"]
