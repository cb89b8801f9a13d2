"""The map's policies through the CLI (maps, policy --format cloudformation) and the STS
session-policy size limit with every option that adds actions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lw_remediate.maps import load_maps

#: Options that widen each remediation's policy the most.
WIDEST = {
    "network.revoke_world_ingress": {"trusted_cidrs": ["10.0.0.0/8"], "split_wide_ranges": True},
    "network.revoke_unrestricted_ingress": {"enforce": True, "trusted_cidrs": ["10.0.0.0/8"]},
    "network.enable_vpc_flow_logs": {
        "log_group_name": "vpc-flow-logs-{region}",
        "delivery_role_arn": "arn:aws:iam::123456789012:role/service/vpc-flow-logs-delivery",
    },
    "network.replace_nacl_allow_all": {"enforce": True},
    "network.delete_unused_security_group": {"enforce": True},
    "network.restrict_vpc_endpoint_policy": {"enforce": True},
    "network.enable_lb_access_logs": {"bucket": "elb-access-logs-{account}-{region}"},
    "network.set_lb_tls_policy": {"enforce": True},
    "network.require_cloudfront_origin_https": {"enforce": True},
    "network.delete_default_vpc": {"delete_when_empty": True},
}


#: Writes AWS authorises on no resource type (log delivery for flow logs to S3).
ON_STAR = frozenset({"logs:CreateLogDelivery", "logs:DeleteLogDelivery"})


def cli(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def _registry():
    return load_maps(allow=["lw-map-aws-network"], strict=True)


def test_maps_lists_every_network_remediation_with_its_flags():
    data = json.loads(cli("maps", "--json"))
    [network] = [m for m in data["maps"] if m["name"] == "lw-map-aws-network"]
    listed = {r["id"]: r for r in network["remediations"]}
    registry = _registry()
    assert set(listed) == set(registry.remediations)
    for rid, rem in registry.remediations.items():
        assert {r["rule_id"] for r in listed[rid]["rules"]} == set(rem.rules)
        assert listed[rid]["manual_by_default"] is rem.manual_by_default


def test_cloudformation_includes_the_network_policy_resource_scoped():
    template = json.loads(cli("policy", "--format", "cloudformation"))
    statements = template["Resources"]["NetworkPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    revoke = [s for s in statements if "ec2:RevokeSecurityGroupIngress" in s["Action"]]
    assert revoke
    for statement in revoke:
        resources = statement["Resource"]
        resources = resources if isinstance(resources, list) else [resources]
        assert {"Fn::Sub": "arn:${AWS::Partition}:ec2:*:${AWS::AccountId}:security-group/*"} in (
            resources
        )
    role = template["Resources"]["RemediationRole"]["Properties"]["ManagedPolicyArns"]
    assert {"Ref": "NetworkPolicy"} in role


@pytest.mark.parametrize("rid", sorted(WIDEST))
def test_session_policy_fits_with_the_widest_options(rid):
    rem = _registry().remediations[rid]
    doc = rem.session_policy(rem.parse_options(WIDEST[rid]), account="123456789012")
    assert len(json.dumps(doc, separators=(",", ":"))) < 2048
    for statement in doc["Statement"]:
        writes = [
            a
            for a in statement["Action"]
            if not a.split(":")[1].startswith(("Describe", "Get", "List")) and a not in ON_STAR
        ]
        assert not writes or statement["Resource"] != "*", (rid, writes)
