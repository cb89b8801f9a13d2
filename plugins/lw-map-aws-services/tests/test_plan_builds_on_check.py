"""``plan`` builds on what ``check`` read moments ago in the same run (``ctx.checked``).

For each remediation whose ``plan`` needs what its ``check`` read, a dry-run makes that
read once (and repeats no request), and ``plan`` on its own (``ctx.checked`` None) still
reads it itself and plans exactly the same change.
"""

from __future__ import annotations

import json

import pytest

from lw_map_aws_services.remediations import (
    elb_ciphers,
    es_access,
    instance_tags,
    lambda_access,
    lambda_tracing,
    public_snapshot,
)
from lw_map_aws_services.remediations.encrypt_in_place import (
    DOMAIN_ENCRYPTION,
    REDSHIFT_ENCRYPTION,
)
from lw_map_aws_services.remediations.public_access import RDS_PUBLIC, REDSHIFT_PUBLIC

ACCOUNT = "123456789012"
REGION = "us-east-1"
DB_ARN = f"arn:aws:rds:{REGION}:{ACCOUNT}:db:orders"
CLUSTER_ARN = f"arn:aws:redshift:{REGION}:{ACCOUNT}:cluster:warehouse"
ENFORCE = {"enforce": True}


@pytest.fixture
def reads_once(violation, plans_on_check):
    """``await reads_once(REMEDIATION, rule, arn, read, options=...)``: the kit's
    ``plans_on_check`` on ``violation(rule, arn)``, no request of the dry run repeated."""

    async def _check(remediation, rule, arn, read, *, options=None):
        await plans_on_check(
            remediation, violation(rule, arn), read, options=options, each_once=True
        )

    return _check


async def test_rds_public_access(db_instance, reads_once):
    db_instance(PubliclyAccessible=True)
    await reads_once(RDS_PUBLIC, "LW_AWS_RDS_1", DB_ARN, "DescribeDBInstances")


async def test_redshift_public_access(redshift_cluster, reads_once):
    redshift_cluster(PubliclyAccessible=True)
    await reads_once(REDSHIFT_PUBLIC, "LW_AWS_NETWORKING_37", CLUSTER_ARN, "DescribeClusters")


async def test_public_snapshot(ec2, volume, reads_once):
    snapshot = ec2.create_snapshot(VolumeId=volume)["SnapshotId"]
    ec2.modify_snapshot_attribute(
        SnapshotId=snapshot,
        Attribute="createVolumePermission",
        OperationType="add",
        GroupNames=["all"],
    )
    await reads_once(
        public_snapshot.REMEDIATION,
        "LW_AWS_GENERAL_SECURITY_3",
        f"arn:aws:ec2:{REGION}::snapshot/{snapshot}",
        "DescribeSnapshotAttribute",
    )


async def test_es_domain_policy(domain, reads_once):
    resource = f"arn:aws:es:{REGION}:{ACCOUNT}:domain/search/*"
    public = {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "es:*", "Resource": resource}
    arn = domain("search", {"Version": "2012-10-17", "Statement": [public]})
    await reads_once(es_access.REMEDIATION, "LW_AWS_ELASTICSEARCH_1", arn, "DescribeDomainConfig")


async def test_instance_tags(instance, reads_once):
    await reads_once(
        instance_tags.REMEDIATION,
        "LW_AWS_GENERAL_SECURITY_1",
        f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{instance}",
        "DescribeInstances",
        options={"enforce": True, "default_tags": {"owner": "unassigned"}},
    )


async def test_lambda_tracing(function, reads_once):
    await reads_once(
        lambda_tracing.REMEDIATION, "LW_AWS_SERVERLESS_4", function(), "GetFunctionConfiguration"
    )


async def test_lambda_tracing_keeps_only_role_and_mode(
    role, function, violation, remediation_context
):
    """What check keeps for plan is the role and the tracing mode, never the rest of the
    configuration: its environment variables may hold secrets."""
    v = violation("LW_AWS_SERVERLESS_4", function(Environment={"Variables": {"DB_PASS": "x1y2"}}))
    result = await lambda_tracing.REMEDIATION.check(
        remediation_context(lambda_tracing.REMEDIATION, v), v
    )
    assert result.present
    assert result.observed == {"function": {"Role": role, "TracingConfig": {"Mode": "PassThrough"}}}
    assert "x1y2" not in json.dumps(result.observed)


async def test_lambda_cross_account(admin_client, function, reads_once):
    function()
    admin_client("lambda").add_permission(
        FunctionName="fn",
        StatementId="other",
        Action="lambda:InvokeFunction",
        Principal="210987654321",
    )
    await reads_once(
        lambda_access.REMEDIATION,
        "LW_AWS_SERVERLESS_2",
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn",
        "GetPolicy",
    )


async def test_elb_ciphers(classic_sslv3, reads_once):
    await reads_once(
        elb_ciphers.REMEDIATION,
        "LW_AWS_GENERAL_SECURITY_8",
        classic_sslv3,
        "DescribeLoadBalancers",
        options=ENFORCE,
    )


async def test_redshift_encryption(redshift_cluster, reads_once):
    redshift_cluster()
    await reads_once(
        REDSHIFT_ENCRYPTION,
        "LW_AWS_GENERAL_SECURITY_5",
        CLUSTER_ARN,
        "DescribeClusters",
        options=ENFORCE,
    )


async def test_domain_encryption(domain, reads_once):
    arn = domain("search")
    await reads_once(
        DOMAIN_ENCRYPTION, "LW_AWS_ELASTICSEARCH_3", arn, "DescribeDomain", options=ENFORCE
    )
