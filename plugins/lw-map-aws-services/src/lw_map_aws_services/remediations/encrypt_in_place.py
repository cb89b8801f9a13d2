"""LW_AWS_GENERAL_SECURITY_5 (Redshift cluster not encrypted) and LW_AWS_ELASTICSEARCH_3
(domain without encryption at rest): the two encryptions AWS can turn on in place.

**Manual by default** (runbook): both start a long migration and are one-way.

- Redshift: ``ModifyCluster(Encrypted=True[, KmsKeyId])`` migrates the cluster to an
  encrypted one; AWS documents the cluster as read-only while it runs (hours for large
  clusters).
- OpenSearch/Elasticsearch: ``UpdateDomainConfig(EncryptionAtRestOptions={Enabled: True[,
  KmsKeyId]})`` is accepted only to enable encryption for the first time, through a
  blue/green deployment, and cannot be changed or undone afterwards.

With ``enforce`` the change is applied; the plan is marked **irreversible** and there is
no undo (the before-image is still recorded).

With ``kms_key_id`` AWS also authorises ``kms:CreateGrant`` and ``kms:DescribeKey`` on that
key inside the write (dependent actions): the policy grants them on that key only, and the
``AwsCall`` declarations make the recorder show (and the kit check) them on the key.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pydantic

from lw_remediate import (
    AwsCall,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    RemediationOptions,
    Violation,
)

from .._common import CLUSTER, DOMAIN, or_none, verify_by

#: ``(encrypted?, key id)`` of the resource; None when it is gone.
ReadFn = Callable[[RemediationContext[Any], str], Awaitable[tuple[bool, str | None] | None]]


#: A key id (``1234abcd-…`` or a multi-Region ``mrk-…``) or a key ARN. Aliases are
#: refused: the policy grants the dependent KMS actions on the key itself.
_KEY_ID = r"(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|mrk-[0-9a-f]{32})"
_KEY = re.compile(rf"^(?:arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{{12}}:key/)?{_KEY_ID}$")
#: What AWS checks on the key inside ``ModifyCluster`` / ``UpdateDomainConfig``.
KEY_ACTIONS = ("kms:CreateGrant", "kms:DescribeKey")


class Options(RemediationOptions):
    #: Start the one-way encryption (default: end ``manual`` with the runbook).
    enforce: bool = False
    #: KMS key to encrypt with, by key id or key ARN (not an alias: the policy grants
    #: ``kms:CreateGrant``/``kms:DescribeKey`` on this key only); none: the service's
    #: AWS-managed key.
    kms_key_id: str | None = None

    @pydantic.field_validator("kms_key_id")
    @classmethod
    def _a_key(cls, value: str | None) -> str | None:
        if value is not None and not _KEY.match(value):
            raise ValueError(
                "name the key by its key id or key ARN (not an alias): the policy grants "
                "kms:CreateGrant and kms:DescribeKey on that key only"
            )
        return value


def key_arn(key: str | None, where: Mapping[str, str]) -> str | None:
    """The ARN of a key named by id or ARN (None for no key, or what is no key id)."""
    if not key or not _KEY.match(key):
        return None
    if key.startswith("arn:"):
        return key
    return f"arn:{where['partition']}:kms:{where['region']}:{where['account']}:key/{key}"


def key_policy(options: Options) -> IamPolicy:
    """The dependent KMS actions on the configured key (nothing without one)."""
    if not options.kms_key_id:
        return IamPolicy()
    where = {"partition": "{partition}", "region": "{region}", "account": "{account}"}
    return IamPolicy.allow(KEY_ACTIONS, [key_arn(options.kms_key_id, where) or ""])


def _cluster_key(params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
    return key_arn(params.get("KmsKeyId"), where)


def _domain_key(params: Mapping[str, Any], where: Mapping[str, str]) -> str | None:
    options = params.get("EncryptionAtRestOptions")
    return key_arn(options.get("KmsKeyId") if isinstance(options, Mapping) else None, where)


async def _cluster(ctx: RemediationContext[Any], ident: str) -> tuple[bool, str | None] | None:
    async with ctx.aws.client("redshift") as client:
        response = await or_none(client.describe_clusters(ClusterIdentifier=ident))
    clusters = (response or {}).get("Clusters", [])
    if not clusters:
        return None
    return bool(clusters[0].get("Encrypted")), clusters[0].get("KmsKeyId")


async def _encrypt_cluster(ctx: RemediationContext[Any], ident: str) -> None:
    key = {"KmsKeyId": ctx.options.kms_key_id} if ctx.options.kms_key_id else {}
    async with ctx.aws.client("redshift") as client:
        await client.modify_cluster(ClusterIdentifier=ident, Encrypted=True, **key)


async def _domain(ctx: RemediationContext[Any], name: str) -> tuple[bool, str | None] | None:
    async with ctx.aws.client("opensearch") as client:
        response = await or_none(client.describe_domain(DomainName=name))
    if response is None:
        return None
    options = response["DomainStatus"].get("EncryptionAtRestOptions") or {}
    return bool(options.get("Enabled")), options.get("KmsKeyId")


async def _encrypt_domain(ctx: RemediationContext[Any], name: str) -> None:
    options: dict[str, Any] = {"Enabled": True}
    if ctx.options.kms_key_id:
        options["KmsKeyId"] = ctx.options.kms_key_id
    async with ctx.aws.client("opensearch") as client:
        await client.update_domain_config(DomainName=name, EncryptionAtRestOptions=options)


def _remediation(
    *,
    rid: str,
    rule: str,
    kind: str,
    read: ReadFn,
    write: Callable[[RemediationContext[Any], str], Awaitable[None]],
    policy: IamPolicy,
    write_policy: IamPolicy,
    write_call: AwsCall,
    consequence: str,
    runbook: str,
    resource_type: str,
) -> Remediation:
    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        ident = violation.resource_name
        state = await read(ctx, ident)
        if state is None:
            return CheckResult.compliant(f"{kind} {ident} no longer exists")
        if state[0]:
            return CheckResult.compliant(f"{kind} {ident} is encrypted")
        return CheckResult.violating(f"{kind} {ident} is not encrypted", encrypted=False)

    async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
        ident = violation.resource_name

        async def live() -> bool | None:
            state = await read(ctx, ident)
            return None if state is None else state[0]

        # check read the resource in this run: no second Describe call
        encrypted: bool | None = await ctx.checked_or_read("encrypted", live)
        if encrypted is None or encrypted:
            return Plan(f"{kind} {ident} is encrypted or gone")
        key = ctx.options.kms_key_id or "the AWS-managed key"
        return Plan(
            summary=f"encrypt {kind} {ident} in place with {key} (one-way)",
            changes=[Change("enable_encryption", violation.resource_arn, False, key)],
            irreversible=True,
            notes=[consequence, "irreversible: there is no undo"],
        )

    async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        ident = ctx.violation.resource_name
        state = await read(ctx, ident)
        await ctx.record_before({"Encrypted": bool(state and state[0])})
        if state is not None and not state[0]:
            await write(ctx, ident)
        after = await read(ctx, ident)
        return {"Encrypted": bool(after and after[0]), "KmsKeyId": after[1] if after else None}

    return Remediation(
        id=rid,
        rules=(rule,),
        title=f"Encrypt a {kind} in place (manual by default: one-way migration)",
        description=f"With enforce: {consequence}; irreversible, no undo.",
        resource_type=resource_type,
        policy=policy,
        option_policy=lambda options: (
            write_policy + key_policy(options) if options.enforce else IamPolicy()
        ),
        aws_calls=(write_call,),
        options=Options,
        check=check,
        plan=plan,
        apply=apply,
        verify=verify_by(check),
        manual_when=lambda options: not options.enforce,
        runbook=runbook,
    )


REDSHIFT_RUNBOOK = """\
Redshift cluster {resource_name} ({region}, account {account}) is not encrypted ({rule_id}).
Encrypting migrates the cluster (read-only while it runs; hours for large clusters) and is
meant to be one-way.
1. Plan a window: aws redshift describe-clusters --region {region} \\
     --cluster-identifier {resource_name} \\
     --query "Clusters[].[NodeType,NumberOfNodes,TotalStorageCapacityInMegaBytes]"
2. aws redshift modify-cluster --region {region} --cluster-identifier {resource_name} \\
     --encrypted [--kms-key-id <key>]
3. Watch ClusterStatus until available again.
Or set enforce = true (and kms_key_id) under [remediation."services.encrypt_redshift_cluster"]."""

DOMAIN_RUNBOOK = """\
Domain {resource_name} ({region}, account {account}) has no encryption at rest ({rule_id}).
It can be enabled once on an existing domain (OpenSearch 1.x+/Elasticsearch 6.7+),
through a blue/green deployment, and never changed or disabled afterwards.
1. aws opensearch describe-domain --region {region} --domain-name {resource_name} \\
     --query "DomainStatus.[EngineVersion,EncryptionAtRestOptions]"
2. aws opensearch update-domain-config --region {region} --domain-name {resource_name} \\
     --encryption-at-rest-options Enabled=true[,KmsKeyId=<customer managed key>]
   (pick a customer managed key now: the key cannot be changed later, see
   LW_AWS_ELASTICSEARCH_4).
Or set enforce = true (and kms_key_id) under [remediation."services.encrypt_es_domain"]."""


REDSHIFT_ENCRYPTION = _remediation(
    rid="services.encrypt_redshift_cluster",
    rule="LW_AWS_GENERAL_SECURITY_5",
    kind="Redshift cluster",
    read=_cluster,
    write=_encrypt_cluster,
    policy=IamPolicy.allow(["redshift:DescribeClusters"], [CLUSTER]),
    write_policy=IamPolicy.allow(["redshift:ModifyCluster"], [CLUSTER]),
    write_call=AwsCall(
        "redshift", "ModifyCluster", dependent=tuple((a, _cluster_key) for a in KEY_ACTIONS)
    ),
    consequence="the cluster migrates to an encrypted one and is read-only while it runs",
    runbook=REDSHIFT_RUNBOOK,
    resource_type="redshift:cluster",
)
DOMAIN_ENCRYPTION = _remediation(
    rid="services.encrypt_es_domain",
    rule="LW_AWS_ELASTICSEARCH_3",
    kind="Elasticsearch/OpenSearch domain",
    read=_domain,
    write=_encrypt_domain,
    policy=IamPolicy.allow(["es:DescribeDomain"], [DOMAIN]),
    write_policy=IamPolicy.allow(["es:UpdateDomainConfig"], [DOMAIN]),
    write_call=AwsCall(
        "opensearch",
        "UpdateDomainConfig",
        dependent=tuple((a, _domain_key) for a in KEY_ACTIONS),
    ),
    consequence=(
        "a blue/green deployment enables encryption at rest; it can never be disabled "
        "nor its key changed"
    ),
    runbook=DOMAIN_RUNBOOK,
    resource_type="es:domain",
)
REMEDIATIONS: tuple[Remediation, ...] = (REDSHIFT_ENCRYPTION, DOMAIN_ENCRYPTION)
