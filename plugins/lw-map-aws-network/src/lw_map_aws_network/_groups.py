"""Whole security groups: read one, who uses it, its permissions as the API takes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

from lw_remediate import aws_error_code

from ._ec2 import paginate
from ._sg import normalise_protocol

_SOURCES = ("IpRanges", "Ipv6Ranges", "PrefixListIds", "UserIdGroupPairs")


async def read_group(ec2: Any, group_id: str) -> dict[str, Any] | None:
    """``DescribeSecurityGroups`` of one group (descriptions of every rule included), or
    None when it does not exist."""
    try:
        response = await ec2.describe_security_groups(GroupIds=[group_id])
    except ClientError as exc:
        if aws_error_code(exc) in {"InvalidGroup.NotFound", "InvalidGroupId.NotFound"}:
            return None
        raise
    groups = response.get("SecurityGroups", [])
    return dict(groups[0]) if groups else None


async def interfaces_using(ec2: Any, group_id: str) -> list[dict[str, Any]]:
    """The network interfaces the group is attached to (EC2, ELB, RDS, Lambda, ...)."""
    return [
        dict(i)
        for i in await paginate(
            ec2,
            "describe_network_interfaces",
            "NetworkInterfaces",
            Filters=[{"Name": "group-id", "Values": [group_id]}],
        )
    ]


def interface_text(interface: Mapping[str, Any]) -> str:
    """``eni-… (instance i-…)`` or ``eni-… (ELB app/web/…)``: what the interface is for."""
    eni = str(interface.get("NetworkInterfaceId", "?"))
    instance = (interface.get("Attachment") or {}).get("InstanceId")
    if instance:
        return f"{eni} (instance {instance})"
    what = interface.get("Description") or interface.get("InterfaceType") or "unattached"
    return f"{eni} ({what})"


def clean_permissions(permissions: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Permissions as Authorize/Revoke take them: empty source lists dropped, the group
    pairs reduced to id, owner and description."""
    cleaned: list[dict[str, Any]] = []
    for perm in permissions:
        out: dict[str, Any] = {"IpProtocol": perm["IpProtocol"]}
        if normalise_protocol(str(perm["IpProtocol"])) != "-1":
            out["FromPort"], out["ToPort"] = perm.get("FromPort", -1), perm.get("ToPort", -1)
        for key in _SOURCES:
            entries = [dict(e) for e in perm.get(key, [])]
            if key == "UserIdGroupPairs":
                entries = [
                    {k: e[k] for k in ("GroupId", "UserId", "Description") if e.get(k)}
                    for e in entries
                ]
            if entries:
                out[key] = entries
        cleaned.append(out)
    return cleaned


def permissions_text(permissions: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per source of each permission: ``tcp 22 from sg-… ('self')``."""
    from ._sg import traffic_text

    lines: list[str] = []
    for perm in permissions:
        protocol = normalise_protocol(str(perm["IpProtocol"]))
        traffic = traffic_text(protocol, int(perm.get("FromPort", -1)), int(perm.get("ToPort", -1)))
        for key in _SOURCES:
            for entry in perm.get(key, []):
                source = (
                    entry.get("CidrIp")
                    or entry.get("CidrIpv6")
                    or entry.get("PrefixListId")
                    or entry.get("GroupId")
                )
                note = f" ({entry['Description']!r})" if entry.get("Description") else ""
                lines.append(f"{traffic} {source}{note}")
    return lines


async def authorize_all(
    ec2: Any, group_id: str, permissions: Sequence[Mapping[str, Any]], *, egress: bool
) -> None:
    """Authorize each permission; one that already exists counts as done."""
    call = ec2.authorize_security_group_egress if egress else ec2.authorize_security_group_ingress
    for perm in permissions:
        try:
            await call(GroupId=group_id, IpPermissions=[dict(perm)])
        except ClientError as exc:
            if aws_error_code(exc) != "InvalidPermission.Duplicate":
                raise


async def revoke_all(
    ec2: Any, group_id: str, permissions: Sequence[Mapping[str, Any]], *, egress: bool
) -> None:
    if not permissions:
        return
    call = ec2.revoke_security_group_egress if egress else ec2.revoke_security_group_ingress
    await call(GroupId=group_id, IpPermissions=[dict(p) for p in permissions])
