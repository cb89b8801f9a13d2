"""`lw-remediate sweep --mode auto` over an AWS_CIS_S3 report in Lacework's row shapes for
the Services rules: volume, instance, RDS, Redshift, Lambda and domain ARNs with a region,
and a bare ``snap-…`` id with a region (the core turns it into the account-less snapshot
ARN), one rule under its ``lacework-global-N`` id. The real CLI (a subprocess: the fake
Lacework API and moto run in this test's process) reads the report and each row reaches
this map's remediation, which fixes it in moto or (GENERAL_SECURITY_4) ends ``manual``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

ACCOUNT = "123456789012"
OTHER = "210987654321"
REGION = "us-east-1"
PUBLIC_ES = {
    "Version": "2012-10-17",
    "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Resource": "*"}
    ],
}


def recommendation(rule, violations):
    return {
        "ACCOUNT_ID": ACCOUNT,
        "ACCOUNT_ALIAS": "lacework-customerdemo",
        "START_TIME": 1733212800000,
        "SUPPRESSIONS": [],
        "ASSESSED_RESOURCE_COUNT": len(violations),
        "STATUS": "NonCompliant",
        "REC_ID": rule,
        "CATEGORY": "General Security",
        "SERVICE": "aws:ec2",
        "TITLE": rule,
        "RESOURCE_COUNT": len(violations),
        "SEVERITY": 2,
        "VIOLATIONS": violations,
    }


def row(resource, reason):
    return {"resource": resource, "region": REGION, "reasons": [reason]}


def report(estate):
    recs = [
        recommendation(
            "LW_AWS_GENERAL_SECURITY_2",
            [
                row(
                    f"arn:aws:ec2:{REGION}:{ACCOUNT}:volume/{estate['volume']}",
                    "UnencryptedEBSVolume",
                )
            ],
        ),
        recommendation(
            "lacework-global-160",  # GENERAL_SECURITY_3 under its new id, bare snapshot id
            [row(estate["snapshot"], "PublicSnapshot")],
        ),
        recommendation(
            "LW_AWS_GENERAL_SECURITY_1",
            [
                row(
                    f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{estate['instance']}",
                    "Ec2InstanceWithoutTags",
                )
            ],
        ),
        recommendation("LW_AWS_RDS_1", [row(estate["db"], "RDSPubliclyAccessible")]),
        recommendation("LW_AWS_NETWORKING_37", [row(estate["cluster"], "RedshiftPublic")]),
        recommendation(
            "LW_AWS_SERVERLESS_4", [row(estate["function"], "LambdaFunctionWithTracingDisabled")]
        ),
        recommendation(
            "LW_AWS_SERVERLESS_2", [row(estate["function"], "LambdaCrossAccountAccess")]
        ),
        recommendation(
            "LW_AWS_GENERAL_SECURITY_4",
            [row(estate["db"], "RDSDatabaseNotEncryptedWithCustomerManagedKMSKey")],
        ),
        recommendation(
            "LW_AWS_ELASTICSEARCH_1", [row(estate["domain"], "AWSElasticSearchExposedDomains")]
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


def toml_config(moto_server, fake_lacework, tmp_path):
    lacework = "\n".join(f"{k} = {json.dumps(v)}" for k, v in fake_lacework.config.items())
    return f"""
[lacework]
{lacework}

[aws]
region = "{REGION}"
endpoint_url = "{moto_server.endpoint_url}"

[store]
path = "{tmp_path / "lw.sqlite3"}"

[sweep]
rate_per_region = 0
backoff_seconds = 0.01

[remediation."services.tag_untagged_instance"]
enforce = true
default_tags = {{ owner = "unassigned" }}
"""


async def test_a_sweep_reaches_every_services_row_shape(
    moto_server,
    fake_lacework,
    admin_client,
    ec2,
    volume,
    instance,
    function,
    domain,
    db_instance,
    redshift_cluster,
    cross_account_permission,
    tracing_honoured,
    tmp_path,
):
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )
    estate = {
        "volume": volume,
        "snapshot": snapshot,
        "instance": instance,
        "db": db_instance(PubliclyAccessible=True),
        "cluster": redshift_cluster(PubliclyAccessible=True),
        "function": function(),
        "domain": domain("search", PUBLIC_ES),
    }
    cross_account_permission()
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", report(estate))
    config = tmp_path / "config.toml"
    config.write_text(toml_config(moto_server, fake_lacework, tmp_path))

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
    assert sweep["total"] == 9
    assert sweep["statuses"] == {"remediated": 8, "manual": 1}, sweep

    assert ec2.get_ebs_encryption_by_default()["EbsEncryptionByDefault"] is True
    permissions = ec2.describe_snapshot_attribute(
        SnapshotId=snapshot, Attribute="createVolumePermission"
    )["CreateVolumePermissions"]
    assert permissions == []
    [reservation] = ec2.describe_instances(InstanceIds=[instance])["Reservations"]
    assert reservation["Instances"][0]["Tags"] == [{"Key": "owner", "Value": "unassigned"}]
    [db] = admin_client("rds").describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"]
    assert db["PubliclyAccessible"] is False
    [cluster] = admin_client("redshift").describe_clusters(ClusterIdentifier="warehouse")[
        "Clusters"
    ]
    assert cluster["PubliclyAccessible"] is False
    lam = admin_client("lambda")
    assert lam.get_function_configuration(FunctionName="fn")["TracingConfig"] == {"Mode": "Active"}
    try:
        remaining = lam.get_policy(FunctionName="fn")["Policy"]
    except lam.exceptions.ResourceNotFoundException:
        remaining = ""  # the only statement was the cross-account one
    assert OTHER not in remaining
    config_es = admin_client("opensearch").describe_domain_config(DomainName="search")
    policy = json.loads(config_es["DomainConfig"]["AccessPolicies"]["Options"])
    assert policy["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}


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
