"""network.set_lb_tls_policy (LW_AWS_NETWORKING_39): manual by default."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.tls_policy import REMEDIATION
from lw_remediate import ResourceChanged, Status

ENFORCE = {"enforce": True}


@pytest.fixture
def https_alb(alb, admin_client):
    """The ALB with an HTTPS listener on ELBSecurityPolicy-2016-08 (TLS 1.0+)."""
    cert = admin_client("acm").request_certificate(DomainName="example.com")["CertificateArn"]
    elbv2 = admin_client("elbv2")
    listener = elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-2016-08",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    return alb, listener


@pytest.fixture
def https_classic(admin_client):
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
            }
        ],
        AvailabilityZones=["us-east-1a"],
    )
    elb.create_load_balancer_policy(
        LoadBalancerName="legacy",
        PolicyName="old-tls",
        PolicyTypeName="SSLNegotiationPolicyType",
        PolicyAttributes=[
            {
                "AttributeName": "Reference-Security-Policy",
                "AttributeValue": "ELBSecurityPolicy-2016-08",
            }
        ],
    )
    elb.set_load_balancer_policies_of_listener(
        LoadBalancerName="legacy", LoadBalancerPort=443, PolicyNames=["old-tls"]
    )
    return "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/legacy"


def ssl_policy(admin_client, listener):
    [li] = admin_client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"]
    return li["SslPolicy"]


def classic_names(admin_client):
    [lb] = admin_client("elb").describe_load_balancers(LoadBalancerNames=["legacy"])[
        "LoadBalancerDescriptions"
    ]
    return lb["ListenerDescriptions"][0]["PolicyNames"]


async def test_manual_by_default(https_alb, lb_violation, run_remediation, writes):
    alb, _ = https_alb
    record = await run_remediation(REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", alb))
    assert record.status is Status.MANUAL
    assert "--ssl-policy ELBSecurityPolicy-TLS13-1-2-2021-06" in record.detail
    assert writes(record) == []


async def test_alb_listener_gets_the_policy_and_undo(
    https_alb, admin_client, lb_violation, run_remediation, revert_action
):
    alb, listener = https_alb
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", alb), options=ENFORCE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert ssl_policy(admin_client, listener) == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert ssl_policy(admin_client, listener) == "ELBSecurityPolicy-2016-08"


async def test_secure_policy_is_resolved(
    https_alb, admin_client, lb_violation, run_remediation, writes
):
    alb, listener = https_alb
    admin_client("elbv2").modify_listener(
        ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS-1-2-Ext-2018-06"
    )
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", alb), options=ENFORCE
    )
    assert record.status is Status.RESOLVED
    assert writes(record) == []


async def test_classic_listener_gets_a_negotiation_policy_and_undo(
    https_classic, admin_client, lb_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", https_classic), options=ENFORCE
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert classic_names(admin_client) == ["lw-remediate-ELBSecurityPolicy-TLS-1-2-2017-01"]
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert classic_names(admin_client) == ["old-tls"]
    policies = admin_client("elb").describe_load_balancer_policies(LoadBalancerName="legacy")
    assert [p["PolicyName"] for p in policies["PolicyDescriptions"]] == ["old-tls"]


async def test_undo_refuses_when_the_listener_changed(
    https_alb, admin_client, lb_violation, run_remediation, revert_action
):
    alb, listener = https_alb
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", alb), options=ENFORCE
    )
    admin_client("elbv2").modify_listener(
        ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06"
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ENFORCE)


async def test_configured_policies(
    https_alb, https_classic, admin_client, lb_violation, run_remediation
):
    alb, listener = https_alb
    options = {
        **ENFORCE,
        "ssl_policy": "ELBSecurityPolicy-TLS13-1-3-2021-06",
        "classic_reference_policy": "ELBSecurityPolicy-TLS-1-2-Ext-2018-06",
    }
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", alb), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert ssl_policy(admin_client, listener) == "ELBSecurityPolicy-TLS13-1-3-2021-06"
    record = await run_remediation(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", https_classic), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert classic_names(admin_client) == ["lw-remediate-ELBSecurityPolicy-TLS-1-2-Ext-2018-06"]


@pytest.mark.parametrize("classic", [False, True])
async def test_dry_run_reads_the_listeners_once(
    classic, https_alb, https_classic, lb_violation, plans_on_check
):
    # plan builds on the listeners check read (ctx.checked); plan alone reads them itself
    arn = https_classic if classic else https_alb[0]
    read = "DescribeLoadBalancers" if classic else "DescribeListeners"
    operations, alone = await plans_on_check(
        REMEDIATION, lb_violation("LW_AWS_NETWORKING_39", arn), read, options=ENFORCE
    )
    assert operations == alone
