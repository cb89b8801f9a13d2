"""Load balancers: which API (classic ELB or ELBv2) a violation's ARN belongs to."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lw_remediate import RemediationError, Violation

LOAD_BALANCER = "arn:{partition}:elasticloadbalancing:{region}:{account}:loadbalancer/*"
LISTENER = "arn:{partition}:elasticloadbalancing:{region}:{account}:listener/*"
NOT_FOUND = {"LoadBalancerNotFound", "AccessPointNotFound", "LoadBalancerNotFoundException"}


@dataclass(frozen=True)
class LoadBalancer:
    """``classic`` (``loadbalancer/<name>``) or ``v2`` (``loadbalancer/app|net|gwy/…``)."""

    arn: str
    name: str
    classic: bool

    @classmethod
    def of(cls, violation: Violation) -> LoadBalancer:
        arn = violation.arn
        if arn.service != "elasticloadbalancing" or not arn.resource.startswith("loadbalancer/"):
            raise RemediationError(
                f"{violation.rule_id}: not a load balancer ARN: {violation.resource_arn!r}"
            )
        path = arn.resource.split("/")[1:]
        if len(path) == 1:
            return cls(violation.resource_arn, path[0], classic=True)
        return cls(violation.resource_arn, path[1], classic=False)

    @property
    def service(self) -> str:
        return "elb" if self.classic else "elbv2"

    @property
    def args(self) -> dict[str, Any]:
        return {"LoadBalancerName": self.name} if self.classic else {"LoadBalancerArn": self.arn}
