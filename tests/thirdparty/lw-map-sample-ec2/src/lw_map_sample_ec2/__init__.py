"""A sample third-party map: one EC2 security-group remediation."""

from __future__ import annotations

from typing import Any

from lw_remediate import hookimpl

from .revoke_world_ssh import REMEDIATION


@hookimpl
def lw_remediate_remediations() -> list[Any]:
    return [REMEDIATION]
