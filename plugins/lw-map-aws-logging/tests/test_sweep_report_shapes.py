"""`lw-remediate sweep --mode auto` over an AWS_CIS_S3 report in Lacework's real row shapes:
an account-level row with no resource (2.1 NoTrail), a region-only row (2.5 NoRecorder),
trail ARNs with a region (2.2, 2.4, 2.7), a bucket ARN without one (2.6) and a key ARN
(2.8). The real CLI (a subprocess: the fake Lacework API runs in this test's event loop) reads the report from the kit's fake Lacework API and
each row reaches this map's remediation, which fixes it in moto.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

import pytest

ACCOUNT = "123456789012"
TRAIL = f"arn:aws:cloudtrail:us-east-1:{ACCOUNT}:trail/main"
TRAIL_BUCKET = f"cloudtrail-logs-{ACCOUNT}"
ACCESS_LOGS = f"access-logs-{ACCOUNT}"
CLOUDTRAIL_KEY_POLICY = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "kms:GenerateDataKey*",
            "Resource": "*",
        },
    ],
}


def recommendation(rule, title, violations):
    return {
        "ACCOUNT_ID": ACCOUNT,
        "ACCOUNT_ALIAS": "lacework-customerdemo",
        "START_TIME": 1733212800000,
        "SUPPRESSIONS": [],
        "ASSESSED_RESOURCE_COUNT": len(violations),
        "STATUS": "NonCompliant",
        "REC_ID": rule,
        "CATEGORY": "Logging",
        "SERVICE": "aws:cloudtrail",
        "TITLE": title,
        "RESOURCE_COUNT": len(violations),
        "SEVERITY": 2,
        "VIOLATIONS": violations,
    }


def report(key_arn):
    recs = [
        recommendation("AWS_CIS_2_1", "CloudTrail in all regions", [{"reasons": ["NoTrail"]}]),
        recommendation(
            "AWS_CIS_2_2",
            "log file validation",
            [
                {
                    "resource": TRAIL,
                    "region": "us-east-1",
                    "reasons": ["LogFileValidationNotEnabled"],
                }
            ],
        ),
        recommendation(
            "AWS_CIS_2_4",
            "CloudTrail integrated with CloudWatch Logs",
            [
                {
                    "resource": TRAIL,
                    "region": "us-east-1",
                    "reasons": ["CloudWatchLogsNotIntegrated"],
                }
            ],
        ),
        recommendation(
            "AWS_CIS_2_5",
            "AWS Config in all regions",
            [{"region": "us-east-1", "reasons": ["NoRecorder"]}],
        ),
        recommendation(
            "AWS_CIS_2_6",
            "access logging on the CloudTrail bucket",
            [{"resource": f"arn:aws:s3:::{TRAIL_BUCKET}", "reasons": ["LoggingNotEnabled"]}],
        ),
        recommendation(
            "AWS_CIS_2_7",
            "CloudTrail logs encrypted with KMS CMKs",
            [{"resource": TRAIL, "region": "us-east-1", "reasons": ["NotEncrypted"]}],
        ),
        recommendation(
            "AWS_CIS_2_8",
            "rotation for customer created CMKs",
            [{"resource": key_arn, "region": "us-east-1", "reasons": ["RotationNotEnabled"]}],
        ),
    ]
    return {
        "reportType": "AWS_CIS_S3",
        "reportTitle": "AWS CIS Benchmark and S3 Report",
        "accountId": ACCOUNT,
        "accountAlias": "lacework-customerdemo",
        "reportTime": "2026-12-03T08:00:00.000Z",
        "summary": [{"NUM_RECOMMENDATIONS": len(recs), "NUM_NOT_COMPLIANT": len(recs)}],
        "recommendations": recs,
    }


def toml_config(moto_server, fake_lacework, tmp_path, key_arn):
    lacework = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fake_lacework.config.items())
    return f"""
[lacework]
{lacework}

[aws]
region = "us-east-1"
endpoint_url = "{moto_server.endpoint_url}"
role_name = "lw-remediate"

[store]
path = "{tmp_path / "lw.sqlite3"}"

[sweep]
rate_per_region = 0
backoff_seconds = 0.01

[remediation."logging.attach_trail_cloudwatch_logs"]
log_group_name = "cloudtrail/{{account}}"
delivery_role_arn = "arn:aws:iam::{{account}}:role/cloudtrail-to-cwl"
create_log_group = true

[remediation."logging.enable_config_recorder"]
role_arn = "arn:aws:iam::{{account}}:role/aws-config"
bucket_name = "config-{{account}}"
global_resources_region = "us-east-1"

[remediation."logging.enable_trail_bucket_logging"]
target_bucket = "{ACCESS_LOGS}"

[remediation."logging.encrypt_trail_with_cmk"]
kms_key_arn = "{key_arn}"
"""


@pytest.fixture
def seeded(admin_client):
    s3 = admin_client("s3")
    for bucket in (TRAIL_BUCKET, ACCESS_LOGS):
        s3.create_bucket(Bucket=bucket)
    logging_write = {
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": f"arn:aws:s3:::{ACCESS_LOGS}/*",
    }
    s3.put_bucket_policy(
        Bucket=ACCESS_LOGS,
        Policy=json.dumps({"Version": "2012-10-17", "Statement": [logging_write]}),
    )
    admin_client("cloudtrail").create_trail(Name="main", S3BucketName=TRAIL_BUCKET)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    admin_client("iam").create_role(
        RoleName="cloudtrail-to-cwl", AssumeRolePolicyDocument=json.dumps(trust)
    )
    return admin_client("kms").create_key(Policy=json.dumps(CLOUDTRAIL_KEY_POLICY))["KeyMetadata"][
        "Arn"
    ]


async def test_a_sweep_reaches_every_logging_row_shape(
    moto_server, fake_lacework, seeded, admin_client, tmp_path
):
    key = seeded
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", report(key))
    config = tmp_path / "config.toml"
    config.write_text(toml_config(moto_server, fake_lacework, tmp_path, key))

    code, out, err = await sweep_cli(
        "--config",
        str(config),
        "--account",
        ACCOUNT,
        "--report-type",
        "AWS_CIS_S3",
        "--mode",
        "auto",
        "--json",
    )
    assert code == 0, (out, err)
    sweep = json.loads(out)["sweep"]
    (note,) = sweep["reports"]
    assert note["dropped"] == 0, note
    assert sweep["total"] == 7

    cloudtrail = admin_client("cloudtrail")
    trail = cloudtrail.get_trail(Name="main")["Trail"]
    assert trail["IsMultiRegionTrail"] is True  # 2.1, from a row with no resource
    assert cloudtrail.get_trail_status(Name="main")["IsLogging"] is True
    assert trail["LogFileValidationEnabled"] is True  # 2.2
    assert trail["CloudWatchLogsLogGroupArn"].endswith(f"log-group:cloudtrail/{ACCOUNT}:*")  # 2.4
    assert trail["KmsKeyId"] == key  # 2.7
    config_client = admin_client("config")
    [recorder] = config_client.describe_configuration_recorders()["ConfigurationRecorders"]
    assert recorder["recordingGroup"]["allSupported"] is True  # 2.5, from a region-only row
    logging = admin_client("s3").get_bucket_logging(Bucket=TRAIL_BUCKET)["LoggingEnabled"]
    assert logging["TargetBucket"] == ACCESS_LOGS  # 2.6
    assert admin_client("kms").get_key_rotation_status(KeyId=key)["KeyRotationEnabled"]  # 2.8


async def sweep_cli(*args: str) -> tuple[int | None, str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from lw_remediate.cli import main; main()",
        "sweep",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=300)
    return proc.returncode, out.decode(), err.decode()
