"""services.set_elb_cipher_policy (GENERAL_SECURITY_7 and 8): manual by default."""

from __future__ import annotations

import pytest

from lw_map_aws_services.remediations.elb_ciphers import REMEDIATION
from lw_remediate import ResourceChanged, Status

ENFORCE = {"enforce": True}
CLASSIC = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/legacy"
GS7 = "LW_AWS_GENERAL_SECURITY_7"
GS8 = "LW_AWS_GENERAL_SECURITY_8"


@pytest.fixture
def classic(classic_sslv3):
    return classic_sslv3


@pytest.fixture
def https_alb(admin_client, ec2, monkeypatch):
    """An ALB with an HTTPS listener on ELBSecurityPolicy-2015-05 (TLS 1.0+, not current).

    moto gap: its ModifyListener knows only ELBSecurityPolicy-2016-08 and later, so the
    older policy is added to moto's list here (test-only) for undo to restore it."""
    from moto.elbv2.ssl_policies import SSL_POLICIES

    monkeypatch.setitem(
        SSL_POLICIES,
        "ELBSecurityPolicy-2015-05",
        {**SSL_POLICIES["ELBSecurityPolicy-2016-08"], "name": "ELBSecurityPolicy-2015-05"},
    )
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{n}.0/24", AvailabilityZone=zone)["Subnet"][
            "SubnetId"
        ]
        for n, zone in ((1, "us-east-1a"), (2, "us-east-1b"))
    ]
    elbv2 = admin_client("elbv2")
    alb = elbv2.create_load_balancer(Name="web", Subnets=subnets)["LoadBalancers"][0][
        "LoadBalancerArn"
    ]
    cert = admin_client("acm").request_certificate(DomainName="example.com")["CertificateArn"]
    listener = elbv2.create_listener(
        LoadBalancerArn=alb,
        Protocol="HTTPS",
        Port=443,
        SslPolicy="ELBSecurityPolicy-2015-05",
        Certificates=[{"CertificateArn": cert}],
        DefaultActions=[
            {
                "Type": "fixed-response",
                "FixedResponseConfig": {"StatusCode": "200", "ContentType": "text/plain"},
            }
        ],
    )["Listeners"][0]["ListenerArn"]
    return alb, listener


def classic_names(admin_client, port=443):
    [lb] = admin_client("elb").describe_load_balancers(LoadBalancerNames=["legacy"])[
        "LoadBalancerDescriptions"
    ]
    [item] = [d for d in lb["ListenerDescriptions"] if d["Listener"]["LoadBalancerPort"] == port]
    return item["PolicyNames"]


def ssl_policy(admin_client, listener):
    [li] = admin_client("elbv2").describe_listeners(ListenerArns=[listener])["Listeners"]
    return li["SslPolicy"]


@pytest.mark.parametrize("rule", [GS7, GS8])
async def test_manual_by_default(rule, classic, violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, violation(rule, classic))
    assert record.status is Status.MANUAL
    assert "--load-balancer-name legacy" in record.detail
    assert writes(record) == []


async def test_poodle_classic_gets_a_current_policy_other_policies_kept_and_undo(
    admin_client, classic, violation, run_remediation, revert_action, writes
):
    record = await run_remediation(REMEDIATION, violation(GS8, classic), options=ENFORCE)
    assert record.status is Status.REMEDIATED, record.detail
    assert classic_names(admin_client) == [
        "sticky",
        "lw-remediate-ELBSecurityPolicy-TLS-1-2-2017-01",
    ]
    assert writes(record) == ["CreateLoadBalancerPolicy", "SetLoadBalancerPoliciesOfListener"]
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert classic_names(admin_client) == ["sslv3", "sticky"]
    policies = admin_client("elb").describe_load_balancer_policies(LoadBalancerName="legacy")
    assert "lw-remediate-ELBSecurityPolicy-TLS-1-2-2017-01" not in {
        p["PolicyName"] for p in policies["PolicyDescriptions"]
    }


async def test_alb_old_policy_is_gs7_not_poodle(
    admin_client, https_alb, violation, run_remediation, revert_action
):
    alb, listener = https_alb
    record = await run_remediation(REMEDIATION, violation(GS8, alb), options=ENFORCE)
    assert record.status is Status.RESOLVED  # ALB policies never offer SSLv3
    record = await run_remediation(REMEDIATION, violation(GS7, alb), options=ENFORCE)
    assert record.status is Status.REMEDIATED, record.detail
    assert ssl_policy(admin_client, listener) == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    await revert_action(REMEDIATION, record, options=ENFORCE)
    assert ssl_policy(admin_client, listener) == "ELBSecurityPolicy-2015-05"


async def test_current_policy_and_gone_lb_are_resolved(
    admin_client, https_alb, violation, run_remediation, writes
):
    alb, listener = https_alb
    admin_client("elbv2").modify_listener(
        ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS-1-2-Ext-2018-06"
    )
    record = await run_remediation(REMEDIATION, violation(GS7, alb), options=ENFORCE)
    assert record.status is Status.RESOLVED
    assert writes(record) == []
    record = await run_remediation(
        REMEDIATION, violation(GS7, CLASSIC.replace("legacy", "gone")), options=ENFORCE
    )
    assert record.status is Status.RESOLVED


async def test_undo_refuses_when_the_listener_changed(
    admin_client, https_alb, violation, run_remediation, revert_action
):
    alb, listener = https_alb
    record = await run_remediation(REMEDIATION, violation(GS7, alb), options=ENFORCE)
    admin_client("elbv2").modify_listener(
        ListenerArn=listener, SslPolicy="ELBSecurityPolicy-TLS13-1-3-2021-06"
    )
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=ENFORCE)
