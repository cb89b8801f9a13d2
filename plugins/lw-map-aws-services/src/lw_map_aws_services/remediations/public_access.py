"""LW_AWS_RDS_1 (RDS instance) and LW_AWS_NETWORKING_37 (Redshift cluster): publicly
accessible.

Sets ``PubliclyAccessible`` to false (RDS with ``ApplyImmediately``). **Disruptive**:
clients that connect over the public endpoint lose access at once. Issue 13 makes both
auto-remediable nonetheless; the title, description and plan say so, so operators who
want a human in the loop set ``mode = "approve"`` for them. Undo sets it back to true.
Every other setting of the instance or cluster stays.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationContext,
    Violation,
)

from .._common import CLUSTER, DB_INSTANCE, or_none, unchanged, verify_by

DISRUPTIVE = (
    "disruptive: clients connecting over the public endpoint lose access immediately; "
    'use mode = "approve" to review each one'
)


@dataclass(frozen=True)
class Service:
    """How one service names, reads and writes its ``PubliclyAccessible`` flag."""

    kind: str  # "RDS instance" / "Redshift cluster"
    client: str
    describe: str
    modify: str
    id_param: str
    list_key: str
    extra: Mapping[str, Any]
    actions: tuple[str, str]

    def identifier(self, violation: Violation) -> str:
        # rds: arn:aws:rds:R:A:db:<id>; redshift: arn:aws:redshift:R:A:cluster:<id>
        return violation.resource_name

    async def public(self, ctx: RemediationContext[Any], ident: str) -> bool | None:
        """The flag; None when the resource is gone."""
        async with ctx.aws.client(self.client) as client:
            response = await or_none(getattr(client, self.describe)(**{self.id_param: ident}))
        items = (response or {}).get(self.list_key, [])
        return bool(items[0].get("PubliclyAccessible")) if items else None

    async def set_public(self, ctx: RemediationContext[Any], ident: str, value: bool) -> None:
        async with ctx.aws.client(self.client) as client:
            await getattr(client, self.modify)(
                **{self.id_param: ident, "PubliclyAccessible": value, **self.extra}
            )


RDS = Service(
    "RDS instance",
    "rds",
    "describe_db_instances",
    "modify_db_instance",
    "DBInstanceIdentifier",
    "DBInstances",
    {"ApplyImmediately": True},
    ("rds:DescribeDBInstances", "rds:ModifyDBInstance"),
)
REDSHIFT = Service(
    "Redshift cluster",
    "redshift",
    "describe_clusters",
    "modify_cluster",
    "ClusterIdentifier",
    "Clusters",
    {},
    ("redshift:DescribeClusters", "redshift:ModifyCluster"),
)


def _remediation(
    service: Service, rule: str, rid: str, resource_type: str, arn: str
) -> Remediation:
    async def check(ctx: RemediationContext[Any], violation: Violation) -> CheckResult:
        ident = service.identifier(violation)
        public = await service.public(ctx, ident)
        if public is None:
            return CheckResult.compliant(f"{service.kind} {ident} no longer exists")
        if not public:
            return CheckResult.compliant(f"{service.kind} {ident} is not publicly accessible")
        return CheckResult.violating(
            f"{service.kind} {ident} is publicly accessible", publicly_accessible=public
        )

    async def plan(ctx: RemediationContext[Any], violation: Violation) -> Plan:
        ident = service.identifier(violation)
        # check read the flag in this run: no second Describe call (apply re-reads)
        public: bool | None = await ctx.checked_or_read(
            "publicly_accessible", lambda: service.public(ctx, ident)
        )
        if not public:
            return Plan(f"{service.kind} {ident} is not publicly accessible")
        return Plan(
            summary=f"set PubliclyAccessible=false on {service.kind} {ident} ({DISRUPTIVE})",
            changes=[Change("set_publicly_accessible", violation.resource_arn, True, False)],
            notes=[
                DISRUPTIVE,
                "security groups, subnets and every other setting stay as they are",
                "undo sets PubliclyAccessible=true again",
            ],
        )

    async def apply(ctx: RemediationContext[Any], plan: Plan) -> Mapping[str, Any]:
        ident = service.identifier(ctx.violation)
        before = await service.public(ctx, ident)
        await ctx.record_before({"PubliclyAccessible": before})
        if before:
            await service.set_public(ctx, ident, False)
        return {"PubliclyAccessible": await service.public(ctx, ident)}

    async def revert(ctx: RemediationContext[Any], record: ActionRecord) -> str:
        ident = service.identifier(record.violation)
        live = await service.public(ctx, ident)
        unchanged(
            {"PubliclyAccessible": live},
            record.after_image,
            f"public accessibility of {service.kind} {ident}",
        )
        if not (record.before_image or {}).get("PubliclyAccessible"):
            return f"{service.kind} {ident} was not public; nothing to undo"
        await service.set_public(ctx, ident, True)
        return f"made {service.kind} {ident} publicly accessible again"

    return Remediation(
        id=rid,
        rules=(rule,),
        title=f"Make a publicly accessible {service.kind} private (disruptive: public clients lose access)",
        description=(
            f"Sets PubliclyAccessible=false. Auto-remediable per issue 13 but {DISRUPTIVE}."
        ),
        resource_type=resource_type,
        policy=IamPolicy.allow(service.actions, [arn]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify_by(check),
        revert=revert,
    )


RDS_PUBLIC = _remediation(
    RDS, "LW_AWS_RDS_1", "services.disable_rds_public_access", "rds:db", DB_INSTANCE
)
REDSHIFT_PUBLIC = _remediation(
    REDSHIFT,
    "LW_AWS_NETWORKING_37",
    "services.disable_redshift_public_access",
    "redshift:cluster",
    CLUSTER,
)
REMEDIATIONS: tuple[Remediation, ...] = (RDS_PUBLIC, REDSHIFT_PUBLIC)
