"""Manual-only service rules (re-read where possible, never write, runbook filled in) and
services.encrypt_redshift_cluster (GENERAL_SECURITY_5, manual by default)."""

from __future__ import annotations

import pytest

from lw_map_aws_services.remediations import manual
from lw_map_aws_services.remediations.encrypt_in_place import REDSHIFT_ENCRYPTION
from lw_remediate import Status

RDS_ARN = "arn:aws:rds:us-east-1:123456789012:db:orders"
CERT_ARN = "arn:aws:iam::123456789012:server-certificate/legacy"
CLUSTER_ARN = "arn:aws:redshift:us-east-1:123456789012:cluster:warehouse"


async def test_rds_key_runbook_and_gone(db_instance, violation, run_remediation, writes):
    rule = "LW_AWS_GENERAL_SECURITY_4"
    record = await run_remediation(manual.RDS_KEY, violation(rule, RDS_ARN))
    assert record.status is Status.RESOLVED
    db_instance(StorageEncrypted=True)  # moto: KmsKeyId "default_kms_key_id", no such key
    record = await run_remediation(manual.RDS_KEY, violation(rule, RDS_ARN))
    assert record.status is Status.MANUAL
    # the instance's own name, not "db:orders" nor the ARN
    assert "--db-instance-identifier orders \\" in record.detail
    assert "--target-db-snapshot-identifier orders-cmk " in record.detail
    assert "<db>" not in record.detail and "db:orders" not in record.detail
    assert writes(record) == []


async def test_rds_on_a_customer_key_is_resolved(
    admin_client, db_instance, violation, run_remediation
):
    key = admin_client("kms").create_key()["KeyMetadata"]["Arn"]
    db_instance(StorageEncrypted=True, KmsKeyId=key)
    record = await run_remediation(manual.RDS_KEY, violation("LW_AWS_GENERAL_SECURITY_4", RDS_ARN))
    assert record.status is Status.RESOLVED, record.detail
    assert key in record.detail


async def test_heartbleed_certificate_runbook_and_gone(
    admin_client, make_violation, run_remediation, writes
):
    rule = "LW_AWS_GENERAL_SECURITY_6"
    violation = make_violation(rule, CERT_ARN, region=None)
    record = await run_remediation(manual.HEARTBLEED_CERTIFICATE, violation)
    assert record.status is Status.RESOLVED
    admin_client("iam").upload_server_certificate(
        ServerCertificateName="legacy",
        CertificateBody="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----",
        PrivateKey="-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----",
    )
    record = await run_remediation(manual.HEARTBLEED_CERTIFICATE, violation)
    # moto dates every upload 2010-05-08: always before Heartbleed
    assert record.status is Status.MANUAL
    assert "--server-certificate-name legacy" in record.detail
    assert writes(record) == []


async def test_lambda_admin_runbook_and_gone(function, violation, run_remediation, writes):
    arn = function()
    rule = "LW_AWS_SERVERLESS_1"
    record = await run_remediation(manual.LAMBDA_ADMIN, violation(rule, arn))
    assert record.status is Status.MANUAL
    name = arn.rsplit(":", 1)[1]
    assert f"--function-name {name} " in record.detail
    assert f"Lambda function {name} (us-east-1," in record.detail
    assert writes(record) == []
    record = await run_remediation(manual.LAMBDA_ADMIN, violation(rule, arn + "-gone"))
    assert record.status is Status.RESOLVED


async def test_shared_role(admin_client, role, function, violation, run_remediation, writes):
    rule = "LW_AWS_SERVERLESS_3"
    arn = function("one")
    record = await run_remediation(manual.LAMBDA_SHARED_ROLE, violation(rule, arn))
    assert record.status is Status.RESOLVED
    function("two")
    record = await run_remediation(manual.LAMBDA_SHARED_ROLE, violation(rule, arn))
    assert record.status is Status.MANUAL
    assert writes(record) == []


async def test_vpc_access(ec2, function, violation, run_remediation, writes):
    rule = "LW_AWS_SERVERLESS_5"
    record = await run_remediation(manual.LAMBDA_VPC, violation(rule, function("plain")))
    assert record.status is Status.RESOLVED
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="fn", Description="fn", VpcId=vpc)["GroupId"]
    arn = function("private", VpcConfig={"SubnetIds": [subnet], "SecurityGroupIds": [group]})
    record = await run_remediation(manual.LAMBDA_VPC, violation(rule, arn))
    assert record.status is Status.MANUAL
    assert "--vpc-config SubnetIds=[],SecurityGroupIds=[]" in record.detail
    assert writes(record) == []


@pytest.mark.parametrize(
    ("remediation", "rule"),
    [(manual.DOMAIN_VPC, "LW_AWS_ELASTICSEARCH_2"), (manual.DOMAIN_KEY, "LW_AWS_ELASTICSEARCH_4")],
)
async def test_domain_runbooks_and_gone(
    remediation, rule, domain, violation, run_remediation, writes
):
    arn = domain("search", EncryptionAtRestOptions={"Enabled": True})
    record = await run_remediation(remediation, violation(rule, arn))
    assert record.status is Status.MANUAL
    assert "--domain-name search" in record.detail
    assert writes(record) == []
    record = await run_remediation(remediation, violation(rule, arn.replace("search", "gone")))
    assert record.status is Status.RESOLVED


async def test_domain_on_a_customer_key_is_resolved(
    admin_client, domain, violation, run_remediation
):
    key = admin_client("kms").create_key()["KeyMetadata"]["KeyId"]
    arn = domain("search", EncryptionAtRestOptions={"Enabled": True, "KmsKeyId": key})
    record = await run_remediation(manual.DOMAIN_KEY, violation("LW_AWS_ELASTICSEARCH_4", arn))
    assert record.status is Status.RESOLVED, record.detail


async def test_domain_in_a_vpc_is_resolved(ec2, domain, violation, run_remediation):
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    arn = domain("private", VPCOptions={"SubnetIds": [subnet]})
    record = await run_remediation(manual.DOMAIN_VPC, violation("LW_AWS_ELASTICSEARCH_2", arn))
    assert record.status is Status.RESOLVED, record.detail


# -- GENERAL_SECURITY_5 -------------------------------------------------------------------


@pytest.fixture
def cluster(redshift_cluster):
    return redshift_cluster()


def encrypted(admin_client):
    redshift = admin_client("redshift")
    return redshift.describe_clusters(ClusterIdentifier="warehouse")["Clusters"][0]["Encrypted"]


async def test_redshift_encryption_is_manual_by_default(
    admin_client, cluster, violation, run_remediation, writes
):
    record = await run_remediation(
        REDSHIFT_ENCRYPTION, violation("LW_AWS_GENERAL_SECURITY_5", cluster)
    )
    assert record.status is Status.MANUAL
    assert "--cluster-identifier warehouse \\" in record.detail
    assert "<cluster>" not in record.detail and "cluster:warehouse" not in record.detail
    assert writes(record) == []
    assert encrypted(admin_client) is False


async def test_redshift_enforce_encrypts_irreversibly(
    admin_client, cluster, violation, run_remediation, writes
):
    record = await run_remediation(
        REDSHIFT_ENCRYPTION,
        violation("LW_AWS_GENERAL_SECURITY_5", cluster),
        options={"enforce": True},
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert encrypted(admin_client) is True
    assert record.plan.irreversible
    assert REDSHIFT_ENCRYPTION.revert is None
    assert writes(record) == ["ModifyCluster"]
