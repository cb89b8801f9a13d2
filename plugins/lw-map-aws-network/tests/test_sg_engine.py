"""The security-group rule engine on rows moto cannot create (protocol numbers)."""

from __future__ import annotations

from lw_map_aws_network._sg import ALL_ICMP, ANY_PORT, NOT_WEB, SgRule, port


def row(protocol, low=None, high=None, cidr="0.0.0.0/0"):
    data = {"SecurityGroupRuleId": "sgr-1", "IsEgress": False, "IpProtocol": protocol}
    if low is not None:
        data.update(FromPort=low, ToPort=high)
    data["CidrIpv6" if ":" in cidr else "CidrIpv4"] = cidr
    return SgRule.from_row(data)


def test_other_ip_protocols_are_world_open_traffic_but_no_port():
    esp = row("50")
    assert ANY_PORT.matches(esp) and NOT_WEB.matches(esp)
    assert not port("tcp", 22).matches(esp)


def test_protocol_numbers_are_normalised():
    assert port("tcp", 22).matches(row("6", 0, 1024))
    assert port("udp", 53).matches(row("17", 53, 53))
    assert ALL_ICMP.matches(row("1", -1, -1))
    assert ALL_ICMP.matches(row("58", -1, -1, cidr="::/0"))


def test_split_remainder_of_all_traffic_follows_the_address_family():
    v6 = row("-1", cidr="::/0")
    remainder = port("tcp", 22).remainder(v6)
    assert ("icmpv6", 0, 255) in remainder and ("icmp", 0, 255) not in remainder
    assert ("tcp", 0, 21) in remainder and ("tcp", 23, 65535) in remainder


def test_not_world_open_never_matches():
    assert not ANY_PORT.matches(row("-1", cidr="10.0.0.0/8"))
