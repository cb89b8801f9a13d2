"""services.disable_rds_public_access (RDS_1) and services.disable_redshift_public_access
(NETWORKING_37): auto, flagged as disruptive."""

from __future__ import annotations

import pytest

from lw_map_aws_services.remediations.public_access import RDS_PUBLIC, REDSHIFT_PUBLIC
from lw_remediate import ResourceChanged, Status

DB_ARN = "arn:aws:rds:us-east-1:123456789012:db:orders"
CLUSTER_ARN = "arn:aws:redshift:us-east-1:123456789012:cluster:warehouse"


@pytest.fixture
def rds(admin_client):
    return admin_client("rds")


@pytest.fixture
def redshift(admin_client):
    return admin_client("redshift")


@pytest.fixture
def public_db(db_instance):
    return db_instance(PubliclyAccessible=True, BackupRetentionPeriod=7)


@pytest.fixture
def public_cluster(redshift_cluster):
    return redshift_cluster(PubliclyAccessible=True)


def db(rds):
    return rds.describe_db_instances(DBInstanceIdentifier="orders")["DBInstances"][0]


def cluster(redshift):
    return redshift.describe_clusters(ClusterIdentifier="warehouse")["Clusters"][0]


def test_disruption_is_said_in_title_and_description():
    for rem in (RDS_PUBLIC, REDSHIFT_PUBLIC):
        assert "disruptive" in rem.title
        assert "lose access" in rem.description
        assert rem.manual_by_default is False  # issue 13: auto-remediable


async def test_rds_made_private_keeps_the_rest_and_undo(
    rds, public_db, violation, run_remediation, revert_action, writes
):
    record = await run_remediation(RDS_PUBLIC, violation("LW_AWS_RDS_1", DB_ARN))
    assert record.status is Status.REMEDIATED, record.detail
    assert db(rds)["PubliclyAccessible"] is False
    assert db(rds)["BackupRetentionPeriod"] == 7
    assert writes(record) == ["ModifyDBInstance"]
    assert any("disruptive" in note for note in record.plan.notes)
    [change] = record.plan.changes
    assert (change.before, change.after) == (True, False)
    await revert_action(RDS_PUBLIC, record)
    assert db(rds)["PubliclyAccessible"] is True


async def test_redshift_made_private_and_undo(
    redshift, public_cluster, violation, run_remediation, revert_action, writes
):
    record = await run_remediation(REDSHIFT_PUBLIC, violation("LW_AWS_NETWORKING_37", CLUSTER_ARN))
    assert record.status is Status.REMEDIATED, record.detail
    assert cluster(redshift)["PubliclyAccessible"] is False
    assert writes(record) == ["ModifyCluster"]
    assert "disruptive" in record.plan.summary
    await revert_action(REDSHIFT_PUBLIC, record)
    assert cluster(redshift)["PubliclyAccessible"] is True


async def test_private_and_gone_are_resolved(
    rds, redshift, public_db, public_cluster, violation, run_remediation, writes
):
    rds.modify_db_instance(DBInstanceIdentifier="orders", PubliclyAccessible=False)
    redshift.modify_cluster(ClusterIdentifier="warehouse", PubliclyAccessible=False)
    for rem, rule, arn in (
        (RDS_PUBLIC, "LW_AWS_RDS_1", DB_ARN),
        (REDSHIFT_PUBLIC, "LW_AWS_NETWORKING_37", CLUSTER_ARN),
        (RDS_PUBLIC, "LW_AWS_RDS_1", DB_ARN.replace("orders", "gone")),
        (REDSHIFT_PUBLIC, "LW_AWS_NETWORKING_37", CLUSTER_ARN.replace("warehouse", "gone")),
    ):
        record = await run_remediation(rem, violation(rule, arn))
        assert record.status is Status.RESOLVED, (arn, record.detail)
        assert writes(record) == []


async def test_dry_run_writes_nothing(rds, public_db, violation, run_remediation, writes):
    record = await run_remediation(RDS_PUBLIC, violation("LW_AWS_RDS_1", DB_ARN), mode="dry-run")
    assert record.status is Status.PLANNED
    assert writes(record) == []
    assert db(rds)["PubliclyAccessible"] is True


async def test_undo_refuses_when_changed_since(
    redshift, public_cluster, violation, run_remediation, revert_action
):
    record = await run_remediation(REDSHIFT_PUBLIC, violation("LW_AWS_NETWORKING_37", CLUSTER_ARN))
    redshift.modify_cluster(ClusterIdentifier="warehouse", PubliclyAccessible=True)
    with pytest.raises(ResourceChanged):
        await revert_action(REDSHIFT_PUBLIC, record)
