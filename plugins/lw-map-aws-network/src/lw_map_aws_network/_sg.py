"""The security-group rule engine shared by the ingress remediations.

A rule row comes from ``DescribeSecurityGroupRules``. Its traffic is modelled as
segments ``(protocol, low, high)``: TCP/UDP port ranges, ICMP/ICMPv6 type ranges
(0-255 = all types); ``-1`` (all traffic) is TCP, UDP, ICMP and ICMPv6 in full plus the
other IP protocols, which no segment can express (splitting such a rule drops them, and
the plan says so).

A :class:`Target` is what a Lacework rule forbids from the whole internet: a port, every
port, all ICMP, or any traffic at all (optionally except some ports).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import aws_error_code

from ._ec2 import WORLD_CIDRS

_PROTOCOL_NUMBERS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6"}
_PORTED = ("tcp", "udp")
_ICMP = ("icmp", "icmpv6")
_MAX = {"tcp": 65535, "udp": 65535, "icmp": 255, "icmpv6": 255}

Segment = tuple[str, int, int]

#: What ``-1`` (all traffic) covers, as segments; other IP protocols are not representable.
ALL_TRAFFIC: tuple[Segment, ...] = (
    ("tcp", 0, 65535),
    ("udp", 0, 65535),
    ("icmp", 0, 255),
    ("icmpv6", 0, 255),
)


def normalise_protocol(protocol: str) -> str:
    return _PROTOCOL_NUMBERS.get(str(protocol).lower(), str(protocol).lower())


@dataclass(frozen=True)
class SgRule:
    """One security-group rule, as ``DescribeSecurityGroupRules`` returns it."""

    rule_id: str
    egress: bool
    protocol: str
    from_port: int
    to_port: int
    source_kind: str  # CidrIpv4 | CidrIpv6 | PrefixListId | ReferencedGroup
    source: str
    description: str | None
    row: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> SgRule:
        if row.get("CidrIpv4"):
            kind, source = "CidrIpv4", str(row["CidrIpv4"])
        elif row.get("CidrIpv6"):
            kind, source = "CidrIpv6", str(row["CidrIpv6"])
        elif row.get("PrefixListId"):
            kind, source = "PrefixListId", str(row["PrefixListId"])
        else:
            ref = row.get("ReferencedGroupInfo") or {}
            kind, source = "ReferencedGroup", str(ref.get("GroupId", "?"))
        return cls(
            rule_id=str(row.get("SecurityGroupRuleId", "")),
            egress=bool(row.get("IsEgress")),
            protocol=normalise_protocol(str(row.get("IpProtocol", "-1"))),
            from_port=int(row.get("FromPort", -1)),
            to_port=int(row.get("ToPort", -1)),
            source_kind=kind,
            source=source,
            description=row.get("Description"),
            row=dict(row),
        )

    @property
    def world_open(self) -> bool:
        return self.source_kind in {"CidrIpv4", "CidrIpv6"} and self.source in WORLD_CIDRS

    @property
    def key(self) -> tuple[Any, ...]:
        """Identity of the permission (AWS forbids two rules with the same key in a group)."""
        return (self.egress, self.protocol, self.from_port, self.to_port, self.source)

    @property
    def ipv6(self) -> bool:
        return self.source_kind == "CidrIpv6"

    def segments(self) -> tuple[Segment, ...]:
        """The traffic this rule allows (see the module docstring)."""
        if self.protocol == "-1":
            return tuple(s for s in ALL_TRAFFIC if _family_ok(s[0], self.ipv6))
        if self.protocol in _PORTED:
            low, high = (0, 65535) if self.from_port == -1 else (self.from_port, self.to_port)
            return ((self.protocol, low, high),)
        if self.protocol in _ICMP:
            if self.from_port == -1:
                return ((self.protocol, 0, 255),)
            return ((self.protocol, self.from_port, self.from_port),)
        return ((self.protocol, 0, 0),)

    def describe(self) -> str:
        text = f"{traffic_text(self.protocol, self.from_port, self.to_port)} from {self.source}"
        text += f" ({self.rule_id}"
        if self.description:
            text += f", {self.description!r}"
        return text + ")"

    def permission(self) -> dict[str, Any]:
        """The rule as an ``IpPermissions`` entry (for authorize/revoke), description kept."""
        return permission(
            self.protocol,
            self.from_port,
            self.to_port,
            self.source_kind,
            self.source,
            self.description,
            user_id=(self.row.get("ReferencedGroupInfo") or {}).get("UserId"),
        )


def _family_ok(protocol: str, ipv6: bool) -> bool:
    """ICMP goes with IPv4 sources, ICMPv6 with IPv6 ones."""
    if protocol == "icmp":
        return not ipv6
    if protocol == "icmpv6":
        return ipv6
    return True


def traffic_text(protocol: str, from_port: int, to_port: int) -> str:
    if protocol == "-1":
        return "all traffic"
    if protocol in _PORTED:
        if from_port in (-1, 0) and to_port in (-1, 65535):
            return f"{protocol} all ports"
        return f"{protocol} {from_port}" + ("" if from_port == to_port else f"-{to_port}")
    if protocol in _ICMP:
        return f"{protocol} all types" if from_port == -1 else f"{protocol} type {from_port}"
    return f"IP protocol {protocol}"


def permission(
    protocol: str,
    from_port: int,
    to_port: int,
    source_kind: str,
    source: str,
    description: str | None = None,
    *,
    user_id: str | None = None,
) -> dict[str, Any]:
    perm: dict[str, Any] = {"IpProtocol": protocol}
    if protocol != "-1":
        perm["FromPort"], perm["ToPort"] = from_port, to_port
    entry: dict[str, Any]
    if source_kind == "CidrIpv4":
        entry, key = {"CidrIp": source}, "IpRanges"
    elif source_kind == "CidrIpv6":
        entry, key = {"CidrIpv6": source}, "Ipv6Ranges"
    elif source_kind == "PrefixListId":
        entry, key = {"PrefixListId": source}, "PrefixListIds"
    else:
        entry, key = {"GroupId": source}, "UserIdGroupPairs"
        if user_id:
            entry["UserId"] = user_id
    if description:
        entry["Description"] = description
    perm[key] = [entry]
    return perm


def segment_permission(
    segment: Segment, source_kind: str, source: str, description: str | None
) -> list[dict[str, Any]]:
    """``IpPermissions`` entries granting ``segment`` to one source."""
    protocol, low, high = segment
    if protocol in _PORTED:
        return [permission(protocol, low, high, source_kind, source, description)]
    if protocol in _ICMP:
        if (low, high) == (0, _MAX[protocol]):
            return [permission(protocol, -1, -1, source_kind, source, description)]
        return [
            permission(protocol, t, -1, source_kind, source, description)
            for t in range(low, high + 1)
        ]
    return [permission(protocol, -1, -1, source_kind, source, description)]


def _overlap(a: Segment, b: Segment) -> Segment | None:
    if a[0] != b[0]:
        return None
    low, high = max(a[1], b[1]), min(a[2], b[2])
    return (a[0], low, high) if low <= high else None


def intersect(space: Iterable[Segment], other: Iterable[Segment]) -> list[Segment]:
    other = tuple(other)
    return [o for a in space for b in other if (o := _overlap(a, b)) is not None]


def subtract(space: Iterable[Segment], other: Iterable[Segment]) -> list[Segment]:
    result = list(space)
    for cut in other:
        remaining: list[Segment] = []
        for seg in result:
            if seg[0] != cut[0] or cut[2] < seg[1] or cut[1] > seg[2]:
                remaining.append(seg)
                continue
            if seg[1] < cut[1]:
                remaining.append((seg[0], seg[1], cut[1] - 1))
            if cut[2] < seg[2]:
                remaining.append((seg[0], cut[2] + 1, seg[2]))
        result = remaining
    return result


def contains(space: Iterable[Segment], segment: Segment) -> bool:
    return not subtract([segment], space)


@dataclass(frozen=True)
class Target:
    """What a rule forbids from the whole internet.

    ``space`` None means any traffic; ``except_`` then lists what stays allowed (80/443
    for NETWORKING_6). ``whole`` matches only rules that open a whole segment of
    ``space`` (every port, every ICMP type), not a part of it.
    """

    label: str
    space: tuple[Segment, ...] | None = None
    except_: tuple[Segment, ...] = ()
    whole: bool = False

    def matches(self, rule: SgRule) -> bool:
        if rule.egress or not rule.world_open:
            return False
        segments = rule.segments()
        if self.space is None:
            return bool(subtract(segments, self.except_)) or rule.protocol == "-1"
        if self.whole:
            return any(contains(segments, s) for s in self.space)
        return bool(intersect(segments, self.space))

    def forbidden(self, rule: SgRule) -> list[Segment]:
        """The part of ``rule`` the target is about (what the world must lose)."""
        if self.space is None:
            return subtract(rule.segments(), self.except_)
        return intersect(rule.segments(), self.space)

    def remainder(self, rule: SgRule) -> list[Segment]:
        """The part of ``rule`` the target is not about (kept world-open when splitting)."""
        if self.space is None:
            return intersect(rule.segments(), self.except_)
        return subtract(rule.segments(), self.space)


def port(protocol: str, *numbers: int) -> Target:
    """The target of one port (or of several, e.g. 22 and 3389 for lacework-global-68)."""
    label = f"{protocol} port " + " or ".join(str(n) for n in numbers)
    return Target(label, tuple((protocol, n, n) for n in numbers))


ALL_PORTS = Target("all ports", (("tcp", 0, 65535), ("udp", 0, 65535)), whole=True)
ALL_ICMP = Target("all ICMP", (("icmp", 0, 255), ("icmpv6", 0, 255)), whole=True)
ANY_PORT = Target("any port")
NOT_WEB = Target("any port other than tcp 80 and 443", None, (("tcp", 80, 80), ("tcp", 443, 443)))


async def read_rules(ec2: Any, group_id: str) -> list[SgRule]:
    """Every rule of the group (empty when the group does not exist)."""
    rows: list[Any] = []
    paginator = ec2.get_paginator("describe_security_group_rules")
    async for page in paginator.paginate(Filters=[{"Name": "group-id", "Values": [group_id]}]):
        rows += page.get("SecurityGroupRules", [])
    return [SgRule.from_row(r) for r in rows]


async def authorize(ec2: Any, group_id: str, perms: Sequence[Mapping[str, Any]]) -> list[str]:
    """Authorize each ingress permission; one that already exists counts as done. Returns
    the keys (as text) of the permissions this call created."""
    created: list[str] = []
    for perm in perms:
        try:
            await ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[perm])
        except ClientError as exc:
            if aws_error_code(exc) != "InvalidPermission.Duplicate":
                raise
            continue
        created.append(perm_key(perm))
    return created


async def revoke(ec2: Any, group_id: str, rules: Sequence[SgRule], *, egress: bool = False) -> None:
    """Revoke rules by id; a rule that is already gone counts as done."""
    ids = [r.rule_id for r in rules]
    if not ids:
        return
    call = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
    try:
        await call(GroupId=group_id, SecurityGroupRuleIds=ids)
    except ClientError as exc:
        if aws_error_code(exc) not in {
            "InvalidPermission.NotFound",
            "InvalidSecurityGroupRuleId.NotFound",
        }:
            raise
        for rule_id in ids:  # one of them is gone: revoke the others one by one
            try:
                await call(GroupId=group_id, SecurityGroupRuleIds=[rule_id])
            except ClientError as inner:
                if aws_error_code(inner) not in {
                    "InvalidPermission.NotFound",
                    "InvalidSecurityGroupRuleId.NotFound",
                }:
                    raise


def perm_key(perm: Mapping[str, Any]) -> str:
    """A permission's identity as text: ``tcp|22|22|0.0.0.0/0``."""
    protocol = normalise_protocol(str(perm["IpProtocol"]))
    low, high = perm.get("FromPort", -1), perm.get("ToPort", -1)
    [source] = [
        str(e.get("CidrIp") or e.get("CidrIpv6") or e.get("PrefixListId") or e.get("GroupId"))
        for key in ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")
        for e in perm.get(key, [])
    ]
    if protocol == "-1":
        low = high = -1
    return f"{protocol}|{low}|{high}|{source}"


def rule_key(rule: SgRule) -> str:
    return perm_key(rule.permission())


def perm_text(perm: Mapping[str, Any]) -> str:
    protocol, low, high, source = perm_key(perm).split("|")
    return f"{traffic_text(protocol, int(low), int(high))} from {source}"
