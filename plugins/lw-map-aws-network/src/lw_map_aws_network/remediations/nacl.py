"""LW_AWS_NETWORKING_2 / 3: a network ACL allows all inbound / outbound traffic.

**Manual by default**: NACLs are stateless and subnet-wide, so replacing an allow-all entry
cuts return traffic (ephemeral ports) of every instance in the subnets unless the
replacement is designed for them. With ``enforce`` and the configured entries for the
rule's direction, the allow-all entries (``-1`` from ``0.0.0.0/0`` or ``::/0``) are
replaced: configured entries are created first (an entry that takes an allow-all entry's
number replaces it in place), then the remaining allow-all entries are deleted. Every
other entry stays. Undo puts the recorded entries back and removes the added ones.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import pydantic
from botocore.exceptions import ClientError

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationError,
    RemediationOptions,
    RemediationRefused,
    ResourceChanged,
    Violation,
    aws_error_code,
)

from .._ec2 import (
    NETWORK_ACL,
    WORLD_CIDRS,
    describe_policy,
    resource_id,
    verify_by,
)

#: Rule -> egress (False: inbound entries, True: outbound entries).
RULES: Mapping[str, bool] = {"LW_AWS_NETWORKING_2": False, "LW_AWS_NETWORKING_3": True}
_PROTOCOLS = {"tcp": "6", "udp": "17", "icmp": "1", "-1": "-1"}
_NAMES = {v: k for k, v in _PROTOCOLS.items()}


class NaclEntry(pydantic.BaseModel):
    """One entry to put in place of the allow-all entries."""

    model_config = pydantic.ConfigDict(extra="forbid", frozen=True)

    rule_number: int = pydantic.Field(ge=1, le=32766)
    cidr: str
    protocol: Literal["tcp", "udp", "icmp", "-1"] = "tcp"
    from_port: int | None = pydantic.Field(None, ge=0, le=65535)
    to_port: int | None = pydantic.Field(None, ge=0, le=65535)
    action: Literal["allow", "deny"] = "allow"

    @pydantic.field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        return str(ipaddress.ip_network(value, strict=False))

    @pydantic.model_validator(mode="after")
    def _ports(self) -> NaclEntry:
        if self.protocol in {"tcp", "udp"} and (self.from_port is None or self.to_port is None):
            raise ValueError(
                f"entry {self.rule_number}: tcp/udp entries need from_port and to_port"
            )
        if self.action == "allow" and self.cidr in WORLD_CIDRS and self.protocol == "-1":
            raise ValueError(f"entry {self.rule_number} allows all traffic from everywhere")
        return self

    def request(self, acl_id: str, egress: bool) -> dict[str, Any]:
        ipv6 = ":" in self.cidr
        request: dict[str, Any] = {
            "NetworkAclId": acl_id,
            "RuleNumber": self.rule_number,
            "Protocol": _PROTOCOLS[self.protocol],
            "RuleAction": self.action,
            "Egress": egress,
            ("Ipv6CidrBlock" if ipv6 else "CidrBlock"): self.cidr,
        }
        if self.protocol in {"tcp", "udp"}:
            request["PortRange"] = {"From": self.from_port, "To": self.to_port}
        if self.protocol == "icmp":
            request["IcmpTypeCode"] = {"Type": -1, "Code": -1}
        return request


class Options(RemediationOptions):
    """The replacement entries per direction, and the switch to apply them."""

    #: Replace the allow-all entries (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: Entries that replace an inbound allow-all (LW_AWS_NETWORKING_2). Remember return
    #: traffic: e.g. tcp 1024-65535 from 0.0.0.0/0 for replies to outbound connections.
    inbound_entries: tuple[NaclEntry, ...] = ()
    #: Entries that replace an outbound allow-all (LW_AWS_NETWORKING_3).
    outbound_entries: tuple[NaclEntry, ...] = ()


def _egress(violation: Violation) -> bool:
    try:
        return RULES[violation.rule_id]
    except KeyError:
        raise RemediationError(f"{violation.rule_id} is not a NACL rule") from None


def _direction(egress: bool) -> str:
    return "outbound" if egress else "inbound"


def is_allow_all(entry: Mapping[str, Any]) -> bool:
    cidr = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
    return (
        entry.get("RuleAction") == "allow"
        and str(entry.get("Protocol")) == "-1"
        and cidr in WORLD_CIDRS
        and int(entry.get("RuleNumber", 0)) != 32767
    )


def entry_text(entry: Mapping[str, Any]) -> str:
    protocol = _NAMES.get(str(entry.get("Protocol")), f"protocol {entry.get('Protocol')}")
    ports = entry.get("PortRange")
    where = entry.get("CidrBlock") or entry.get("Ipv6CidrBlock")
    text = f"#{entry.get('RuleNumber')} {entry.get('RuleAction')} "
    text += "all traffic" if protocol == "-1" else protocol
    if ports:
        text += f" {ports.get('From')}-{ports.get('To')}"
    return f"{text} {'to' if entry.get('Egress') else 'from'} {where}"


def entry_request(entry: Mapping[str, Any], acl_id: str) -> dict[str, Any]:
    """A described entry as Create/ReplaceNetworkAclEntry take it."""
    request: dict[str, Any] = {"NetworkAclId": acl_id}
    for key in (
        "RuleNumber",
        "Protocol",
        "RuleAction",
        "Egress",
        "CidrBlock",
        "Ipv6CidrBlock",
        "PortRange",
        "IcmpTypeCode",
    ):
        if entry.get(key) is not None:
            request[key] = entry[key]
    return request


async def read_entries(ec2: Any, acl_id: str, egress: bool) -> list[dict[str, Any]] | None:
    """The ACL's entries of one direction, or None when the ACL does not exist."""
    try:
        response = await ec2.describe_network_acls(NetworkAclIds=[acl_id])
    except ClientError as exc:
        if aws_error_code(exc) == "InvalidNetworkAclID.NotFound":
            return None
        raise
    acls = response.get("NetworkAcls", [])
    if not acls:
        return None
    return [dict(e) for e in acls[0].get("Entries", []) if bool(e.get("Egress")) is egress]


def _key(entry: Mapping[str, Any]) -> str:
    return repr(sorted((k, str(v)) for k, v in entry_request(entry, "").items()))


async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
    acl_id = resource_id(violation, "acl")
    egress = _egress(violation)
    async with ctx.aws.client("ec2") as ec2:
        entries = await read_entries(ec2, acl_id, egress)
    if entries is None:
        return CheckResult.compliant(f"network ACL {acl_id} no longer exists")
    allow_all = [e for e in entries if is_allow_all(e)]
    if not allow_all:
        return CheckResult.compliant(
            f"no {_direction(egress)} entry of {acl_id} allows all traffic"
        )
    return CheckResult.violating(
        f"{acl_id} allows all {_direction(egress)} traffic: "
        + "; ".join(entry_text(e) for e in allow_all),
        entries=entries,
    )


def _wanted(ctx: RemediationContext[Any], egress: bool) -> Sequence[NaclEntry]:
    entries = ctx.options.outbound_entries if egress else ctx.options.inbound_entries
    if not entries:
        option = "outbound_entries" if egress else "inbound_entries"
        raise RemediationRefused(
            f"no replacement {_direction(egress)} entries are configured: set {option} under "
            '[remediation."network.replace_nacl_allow_all"]'
        )
    return list(entries)


def _decide(
    acl_id: str, egress: bool, entries: list[dict[str, Any]], wanted: Sequence[NaclEntry]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """(allow-all entries, creates, replaces, deletes) as API requests."""
    allow_all = [e for e in entries if is_allow_all(e)]
    allow_numbers = {int(e["RuleNumber"]) for e in allow_all}
    taken = {int(e["RuleNumber"]) for e in entries} - allow_numbers
    clash = sorted(w.rule_number for w in wanted if w.rule_number in taken)
    if clash:
        raise RemediationRefused(
            f"configured entry number(s) {clash} are already used by other "
            f"{_direction(egress)} entries of {acl_id}; pick free numbers"
        )
    creates = [w.request(acl_id, egress) for w in wanted if w.rule_number not in allow_numbers]
    replaces = [w.request(acl_id, egress) for w in wanted if w.rule_number in allow_numbers]
    replaced = {w.rule_number for w in wanted}
    deletes = [
        {"NetworkAclId": acl_id, "RuleNumber": int(e["RuleNumber"]), "Egress": egress}
        for e in allow_all
        if int(e["RuleNumber"]) not in replaced
    ]
    return allow_all, creates, replaces, deletes


async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
    acl_id = resource_id(violation, "acl")
    egress = _egress(violation)
    wanted = _wanted(ctx, egress)
    async with ctx.aws.client("ec2") as ec2:
        # check read the entries in this run: no second DescribeNetworkAcls (apply re-reads)
        entries: list[dict[str, Any]] | None = await ctx.checked_or_read(
            "entries", lambda: read_entries(ec2, acl_id, egress)
        )
    if entries is None:
        return Plan(f"network ACL {acl_id} no longer exists")
    allow_all, creates, replaces, deletes = _decide(acl_id, egress, entries, wanted)
    if not allow_all:
        return Plan(f"no {_direction(egress)} entry of {acl_id} allows all traffic")
    arn = violation.resource_arn
    by_number = {int(e["RuleNumber"]): e for e in entries}
    changes = [Change("create_network_acl_entry", arn, None, c) for c in creates]
    changes += [
        Change("replace_network_acl_entry", arn, by_number[r["RuleNumber"]], r) for r in replaces
    ]
    changes += [
        Change("delete_network_acl_entry", arn, by_number[d["RuleNumber"]], None) for d in deletes
    ]
    summary = (
        f"replace the {_direction(egress)} allow-all entries of {acl_id} ("
        + "; ".join(entry_text(e) for e in allow_all)
        + ") with: "
        + "; ".join(entry_text(r) for r in creates + replaces)
        + f"; keep the other {len(entries) - len(allow_all)} {_direction(egress)} entries"
    )
    return Plan(
        summary=summary,
        changes=changes,
        notes=[
            "NACLs are stateless: the replacement entries must admit return traffic "
            "(ephemeral ports) of every subnet associated with the ACL",
            "undo restores the recorded entries and deletes the added ones",
        ],
    )


async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
    violation = ctx.violation
    acl_id = resource_id(violation, "acl")
    egress = _egress(violation)
    wanted = _wanted(ctx, egress)
    async with ctx.aws.client("ec2") as ec2:
        entries = await read_entries(ec2, acl_id, egress)  # re-read right before writing
        if entries is None:
            raise RemediationRefused(f"network ACL {acl_id} no longer exists")
        allow_all, creates, replaces, deletes = _decide(acl_id, egress, entries, wanted)
        if not allow_all:
            return {"NetworkAclId": acl_id, "Egress": egress, "Entries": entries}
        await ctx.record_before({"NetworkAclId": acl_id, "Egress": egress, "Entries": entries})
        for request in creates:
            await ec2.create_network_acl_entry(**request)
        for request in replaces:
            await ec2.replace_network_acl_entry(**request)
        for request in deletes:
            await ec2.delete_network_acl_entry(**request)
        after = await read_entries(ec2, acl_id, egress)
    return {
        "NetworkAclId": acl_id,
        "Egress": egress,
        "Entries": after or [],
        "Created": [c["RuleNumber"] for c in creates],
    }


verify = verify_by(check)


async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
    before = record.before_image or {}
    after = record.after_image or {}
    acl_id, egress = str(before["NetworkAclId"]), bool(before["Egress"])
    async with ctx.aws.client("ec2") as ec2:
        live = await read_entries(ec2, acl_id, egress)
        if live is None:
            raise ResourceChanged(f"network ACL {acl_id} no longer exists; not reverting")
        if sorted(map(_key, live)) != sorted(map(_key, after.get("Entries", []))):
            raise ResourceChanged(
                f"the {_direction(egress)} entries of {acl_id} changed since the remediation; "
                "not reverting"
            )
        live_numbers = {int(e["RuleNumber"]) for e in live}
        restored = [e for e in before.get("Entries", []) if is_allow_all(e)]
        for entry in restored:
            request = entry_request(entry, acl_id)
            if int(entry["RuleNumber"]) in live_numbers:
                await ec2.replace_network_acl_entry(**request)
            else:
                await ec2.create_network_acl_entry(**request)
        for number in after.get("Created", []):
            await ec2.delete_network_acl_entry(
                NetworkAclId=acl_id, RuleNumber=number, Egress=egress
            )
    return (
        f"restored {len(restored)} allow-all {_direction(egress)} entr(y/ies) of {acl_id} and "
        f"deleted {len(after.get('Created', []))} added entr(y/ies)"
    )


RUNBOOK = """\
Network ACL {resource_name} ({region}, account {account}) has an allow-all entry ({rule_id}:
NETWORKING_2 inbound, NETWORKING_3 outbound). NACLs are stateless and apply to whole subnets,
so it is not replaced automatically.
1. See the entries and the subnets using the ACL:
   aws ec2 describe-network-acls --region {region} --network-acl-ids {resource_name}
2. Design the replacement: the ports the subnets serve, plus return traffic (ephemeral ports
   1024-65535) for connections they open.
3. Add the new entries with free rule numbers, then delete (or replace) the allow-all entry:
   aws ec2 create-network-acl-entry --region {region} --network-acl-id {resource_name} \\
     --rule-number <n> --protocol tcp --port-range From=443,To=443 --cidr-block <cidr> \\
     --rule-action allow [--egress]
   aws ec2 delete-network-acl-entry --region {region} --network-acl-id {resource_name} \\
     --rule-number <allow-all number> [--egress]
4. Or configure inbound_entries / outbound_entries and enforce = true under
   [remediation."network.replace_nacl_allow_all"]."""


def option_policy(options: Options) -> IamPolicy:
    if not options.enforce:
        return IamPolicy()
    return IamPolicy.allow(
        [
            "ec2:CreateNetworkAclEntry",
            "ec2:DeleteNetworkAclEntry",
            "ec2:ReplaceNetworkAclEntry",
        ],
        [NETWORK_ACL],
    )


REMEDIATION = Remediation(
    id="network.replace_nacl_allow_all",
    rules=tuple(RULES),
    title="Replace a network ACL's allow-all entries with configured entries",
    description=(
        "Manual by default (stateless, subnet-wide). With enforce: create the configured "
        "entries, then replace/delete the allow-all entries of the rule's direction."
    ),
    resource_type="ec2:network-acl",
    policy=describe_policy("ec2:DescribeNetworkAcls"),
    option_policy=option_policy,
    options=Options,
    check=check,
    plan=plan,
    apply=apply,
    verify=verify,
    revert=revert,
    manual_when=lambda options: not options.enforce,
    runbook=RUNBOOK,
)
