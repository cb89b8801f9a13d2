"""lw-map-cis-iam: remediations for the CIS AWS 1.x and LW_AWS_IAM rules."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import password_policy, unused_credentials


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [password_policy.REMEDIATION, unused_credentials.REMEDIATION]
