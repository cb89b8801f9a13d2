"""lw-map-aws-network: remediations for Lacework's AWS network rules."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import (
    cloudfront,
    default_group,
    flow_logs,
    lb_access_logs,
    nacl,
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
        *cloudfront.REMEDIATIONS,
    ]
