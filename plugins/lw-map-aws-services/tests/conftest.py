"""Seeding fixtures shared by the lw-map-aws-services tests (the kit's fixtures come from
lw_remediate.testing)."""

from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import pytest

ACCOUNT = "123456789012"
OTHER = "210987654321"
REGION = "us-east-1"
READ_PREFIXES = ("Get", "List", "Describe")
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _writes(record: Any) -> list[str]:
    return [
        c.operation
        for c in record.calls
        if not c.dependent and not c.operation.startswith(READ_PREFIXES)
    ]


@pytest.fixture
def writes():
    """``writes(record)``: the operations of a record's AWS calls that change something."""
    return _writes


@pytest.fixture
def ec2(moto_server, admin_client):
    return admin_client("ec2")


@pytest.fixture
def violation(make_violation):
    """``violation(rule, arn)``: a violation in the test account and region."""

    def _make(rule: str, arn: str, **kwargs: Any):
        return make_violation(rule, arn, region=REGION, **kwargs)

    return _make


@pytest.fixture
def volume(ec2):
    """An unencrypted volume id."""
    return ec2.create_volume(AvailabilityZone="us-east-1a", Size=1)["VolumeId"]


@pytest.fixture
def instance(ec2):
    """An instance without tags."""
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    return ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro")[
        "Instances"
    ][0]["InstanceId"]


@pytest.fixture
def role(admin_client):
    """A Lambda execution role with no policy; returns its ARN."""
    return admin_client("iam").create_role(
        RoleName="fn-role", Path="/service/", AssumeRolePolicyDocument=TRUST
    )["Role"]["Arn"]


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return event\n")
    return buffer.getvalue()


@pytest.fixture
def function(admin_client, role):
    """``function(name="fn", **extra)``: create a Lambda function; returns its ARN."""

    def _make(name: str = "fn", **extra: Any) -> str:
        return admin_client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=extra.pop("Role", role),
            Handler="handler.handle",
            Code={"ZipFile": _zip()},
            **extra,
        )["FunctionArn"]

    return _make


@pytest.fixture
def domain(admin_client):
    """``domain(name, policy=None, **extra)``: create an OpenSearch domain; returns its ARN."""

    def _make(name: str = "search", policy: dict[str, Any] | None = None, **extra: Any) -> str:
        if policy is not None:
            extra["AccessPolicies"] = json.dumps(policy)
        return admin_client("opensearch").create_domain(DomainName=name, **extra)["DomainStatus"][
            "ARN"
        ]

    return _make


@pytest.fixture
def access_policy(admin_client):
    """``access_policy(name)``: a domain's access policy document as stored."""

    def _read(name: str) -> dict[str, Any] | None:
        config = admin_client("opensearch").describe_domain_config(DomainName=name)
        text = config["DomainConfig"]["AccessPolicies"]["Options"]
        return json.loads(text) if text else None

    return _read


@pytest.fixture
def tracing_honoured(monkeypatch):
    """moto gap: UpdateFunctionConfiguration ignores TracingConfig. Test-only: make moto's UpdateFunctionConfiguration apply TracingConfig as AWS does."""
    from moto.awslambda.models import LambdaFunction

    original = LambdaFunction.update_configuration

    def update_configuration(self, config_updates):
        if "TracingConfig" in config_updates:
            self.tracing_config = config_updates["TracingConfig"]
        return original(self, config_updates)

    monkeypatch.setattr(LambdaFunction, "update_configuration", update_configuration)


DB_ARN = "arn:aws:rds:us-east-1:123456789012:db:orders"
CLUSTER_ARN = "arn:aws:redshift:us-east-1:123456789012:cluster:warehouse"


@pytest.fixture
def db_instance(admin_client):
    """``db_instance(**extra)``: create RDS instance ``orders``; returns its ARN."""

    def _make(**extra: Any) -> str:
        admin_client("rds").create_db_instance(
            DBInstanceIdentifier="orders",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="admin",
            MasterUserPassword="not-a-secret-1",
            AllocatedStorage=20,
            **extra,
        )
        return DB_ARN

    return _make


@pytest.fixture
def redshift_cluster(admin_client):
    """``redshift_cluster(**extra)``: create Redshift cluster ``warehouse``; returns its ARN."""

    def _make(**extra: Any) -> str:
        admin_client("redshift").create_cluster(
            ClusterIdentifier="warehouse",
            NodeType="dc2.large",
            MasterUsername="admin",
            MasterUserPassword="Not-a-secret-1",
            **extra,
        )
        return CLUSTER_ARN

    return _make


@pytest.fixture
def classic_sslv3(admin_client):
    """Classic ELB ``legacy`` whose HTTPS listener has a hand-made negotiation policy with
    SSLv3 on, plus a stickiness policy that must stay; returns its ARN."""
    elb = admin_client("elb")
    elb.create_load_balancer(
        LoadBalancerName="legacy",
        Listeners=[
            {
                "Protocol": "HTTPS",
                "LoadBalancerPort": 443,
                "InstancePort": 80,
                "InstanceProtocol": "HTTP",
                "SSLCertificateId": "arn:aws:iam::123456789012:server-certificate/legacy",
            },
            {"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80},
        ],
        AvailabilityZones=["us-east-1a"],
    )
    elb.create_load_balancer_policy(
        LoadBalancerName="legacy",
        PolicyName="sslv3",
        PolicyTypeName="SSLNegotiationPolicyType",
        PolicyAttributes=[
            {"AttributeName": "Protocol-SSLv3", "AttributeValue": "true"},
            {"AttributeName": "Protocol-TLSv1", "AttributeValue": "true"},
        ],
    )
    elb.create_lb_cookie_stickiness_policy(LoadBalancerName="legacy", PolicyName="sticky")
    elb.set_load_balancer_policies_of_listener(
        LoadBalancerName="legacy", LoadBalancerPort=443, PolicyNames=["sslv3", "sticky"]
    )
    return "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/legacy"


@pytest.fixture
def cross_account_permission(admin_client):
    """``cross_account_permission(sid="other")``: let account 210987654321 invoke ``fn``."""

    def _add(sid: str = "other") -> None:
        admin_client("lambda").add_permission(
            FunctionName="fn", StatementId=sid, Action="lambda:InvokeFunction", Principal=OTHER
        )

    return _add
