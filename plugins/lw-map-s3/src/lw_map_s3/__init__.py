"""lw-map-s3: remediations for Lacework's S3 compliance rules."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import versioning


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [versioning.REMEDIATION]
