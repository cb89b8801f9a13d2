"""network.replace_nacl_allow_all (LW_AWS_NETWORKING_2, 3): manual by default."""

from __future__ import annotations

import pytest

from lw_map_aws_network.remediations.nacl import REMEDIATION
from lw_remediate import ResourceChanged, Status

INBOUND = {
    "enforce": True,
    "inbound_entries": [
        {
            "rule_number": 100,
            "cidr": "10.0.0.0/8",
            "protocol": "tcp",
            "from_port": 22,
            "to_port": 22,
        },
        {
            "rule_number": 110,
            "cidr": "0.0.0.0/0",
            "protocol": "tcp",
            "from_port": 443,
            "to_port": 443,
        },
        {
            "rule_number": 120,
            "cidr": "0.0.0.0/0",
            "protocol": "tcp",
            "from_port": 1024,
            "to_port": 65535,
        },
    ],
}


@pytest.fixture
def acl(ec2, vpc_id):
    """A custom ACL: allow-all inbound over IPv4 (#100) and IPv6 (#101), an SSH entry from
    10.1.0.0/16 (#200), and an allow-all outbound (#100)."""
    acl_id = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    for number, cidr in ((100, {"CidrBlock": "0.0.0.0/0"}), (101, {"Ipv6CidrBlock": "::/0"})):
        ec2.create_network_acl_entry(
            NetworkAclId=acl_id,
            RuleNumber=number,
            Protocol="-1",
            RuleAction="allow",
            Egress=False,
            **cidr,
        )
    ec2.create_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=200,
        Protocol="6",
        RuleAction="allow",
        Egress=False,
        CidrBlock="10.1.0.0/16",
        PortRange={"From": 22, "To": 22},
    )
    ec2.create_network_acl_entry(
        NetworkAclId=acl_id,
        RuleNumber=100,
        Protocol="-1",
        RuleAction="allow",
        Egress=True,
        CidrBlock="0.0.0.0/0",
    )
    return acl_id


@pytest.fixture
def acl_violation(make_violation):
    def _make(rule, acl_id):
        arn = f"arn:aws:ec2:us-east-1:123456789012:network-acl/{acl_id}"
        return make_violation(rule, arn, region="us-east-1")

    return _make


def entries(ec2, acl_id, egress):
    [acl] = ec2.describe_network_acls(NetworkAclIds=[acl_id])["NetworkAcls"]
    return {
        (
            e["RuleNumber"],
            e["RuleAction"],
            e["Protocol"],
            e.get("CidrBlock") or e.get("Ipv6CidrBlock"),
            tuple(sorted(e.get("PortRange", {}).items())),
        )
        for e in acl["Entries"]
        if e["Egress"] is egress
    }


async def test_manual_by_default(acl, ec2, acl_violation, run_remediation, writes):
    record = await run_remediation(REMEDIATION, acl_violation("LW_AWS_NETWORKING_2", acl))
    assert record.status is Status.MANUAL
    assert f"--network-acl-ids {acl}" in record.detail
    assert writes(record) == []


async def test_enforce_replaces_inbound_allow_all_and_undo_restores(
    acl, ec2, acl_violation, run_remediation, revert_action
):
    before_in, before_out = entries(ec2, acl, False), entries(ec2, acl, True)
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_2", acl), options=INBOUND
    )
    assert record.status is Status.REMEDIATED, record.detail
    kept = {e for e in before_in if e[0] not in (100, 101)}
    assert entries(ec2, acl, False) == kept | {
        (100, "allow", "6", "10.0.0.0/8", (("From", 22), ("To", 22))),
        (110, "allow", "6", "0.0.0.0/0", (("From", 443), ("To", 443))),
        (120, "allow", "6", "0.0.0.0/0", (("From", 1024), ("To", 65535))),
    }
    assert (200, "allow", "6", "10.1.0.0/16", (("From", 22), ("To", 22))) in kept
    assert entries(ec2, acl, True) == before_out  # outbound untouched
    ops = [c.operation for c in record.calls if not c.operation.startswith("Describe")]
    assert ops == [
        "CreateNetworkAclEntry",
        "CreateNetworkAclEntry",
        "ReplaceNetworkAclEntry",
        "DeleteNetworkAclEntry",
    ]
    await revert_action(REMEDIATION, record, options=INBOUND)
    assert entries(ec2, acl, False) == before_in


async def test_outbound_rule_uses_outbound_entries(acl, ec2, acl_violation, run_remediation):
    options = {
        "enforce": True,
        "outbound_entries": [
            {
                "rule_number": 100,
                "cidr": "0.0.0.0/0",
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
            }
        ],
    }
    before_in = entries(ec2, acl, False)
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_3", acl), options=options
    )
    assert record.status is Status.REMEDIATED, record.detail
    assert (100, "allow", "6", "0.0.0.0/0", (("From", 443), ("To", 443))) in entries(ec2, acl, True)
    assert entries(ec2, acl, False) == before_in


async def test_enforce_without_entries_is_refused(acl, acl_violation, run_remediation, writes):
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_3", acl), options={"enforce": True}
    )
    assert record.status is Status.REFUSED
    assert "outbound_entries" in record.detail
    assert writes(record) == []


async def test_clashing_rule_number_is_refused(acl, acl_violation, run_remediation, writes):
    options = {
        "enforce": True,
        "inbound_entries": [
            {
                "rule_number": 200,
                "cidr": "10.0.0.0/8",
                "protocol": "tcp",
                "from_port": 22,
                "to_port": 22,
            }
        ],
    }
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_2", acl), options=options
    )
    assert record.status is Status.REFUSED
    assert "[200]" in record.detail
    assert writes(record) == []


async def test_acl_without_allow_all_is_resolved(ec2, vpc_id, acl_violation, run_remediation):
    acl_id = ec2.create_network_acl(VpcId=vpc_id)["NetworkAcl"]["NetworkAclId"]
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_2", acl_id), options=INBOUND
    )
    assert record.status is Status.RESOLVED


async def test_undo_refuses_when_entries_changed(
    acl, ec2, acl_violation, run_remediation, revert_action
):
    record = await run_remediation(
        REMEDIATION, acl_violation("LW_AWS_NETWORKING_2", acl), options=INBOUND
    )
    ec2.delete_network_acl_entry(NetworkAclId=acl, RuleNumber=200, Egress=False)
    with pytest.raises(ResourceChanged):
        await revert_action(REMEDIATION, record, options=INBOUND)


def test_an_allow_all_replacement_is_rejected():
    with pytest.raises(ValueError, match="allows all traffic"):
        REMEDIATION.parse_options(
            {"inbound_entries": [{"rule_number": 1, "cidr": "0.0.0.0/0", "protocol": "-1"}]}
        )


async def test_dry_run_reads_the_acl_once(acl, acl_violation, plans_on_check):
    # plan builds on the entries check read (ctx.checked); plan alone reads them itself
    operations, alone = await plans_on_check(
        REMEDIATION,
        acl_violation("LW_AWS_NETWORKING_2", acl),
        "DescribeNetworkAcls",
        options=INBOUND,
    )
    assert operations == alone == ["DescribeNetworkAcls"]
