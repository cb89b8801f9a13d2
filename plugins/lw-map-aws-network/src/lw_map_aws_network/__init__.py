"""lw-map-aws-network: remediations for Lacework's AWS network rules."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import (
    cloudfront,
    default_group,
    default_vpc,
    flow_logs,
    lb_access_logs,
    manual,
    nacl,
    tls_policy,
    unrestricted_ingress,
    unused_group,
    vpc_endpoint,
    world_ingress,
)


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [
        world_ingress.REMEDIATION,
        unrestricted_ingress.REMEDIATION,
        default_group.REMEDIATION,
        flow_logs.REMEDIATION,
        nacl.REMEDIATION,
        unused_group.REMEDIATION,
        vpc_endpoint.REMEDIATION,
        lb_access_logs.REMEDIATION,
        tls_policy.REMEDIATION,
        *cloudfront.REMEDIATIONS,
        default_vpc.REMEDIATION,
        *manual.REMEDIATIONS,
    ]
