"""lw-map-s3: remediations for Lacework's S3 compliance rules (LW_S3_1 ... LW_S3_21)."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from ._s3 import bucket_lock
from .remediations import (
    access_logging,
    encryption,
    global_actions,
    mfa_delete,
    network_access,
    public_acl,
    public_policy,
    secure_transport,
    versioning,
)

#: ``bucket_lock(violation)``: the lock every writer of a bucket's ACL or policy holds for
#: its read-modify-write (keyed by the violation's account and bucket name). Other map sets
#: that edit a bucket policy (lw-map-aws-logging's new trail) take it too.
__all__ = ["bucket_lock", "lw_remediate_remediations"]


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [
        public_acl.REMEDIATION,
        public_policy.REMEDIATION,
        mfa_delete.REMEDIATION,
        access_logging.REMEDIATION,
        encryption.REMEDIATION,
        secure_transport.REMEDIATION,
        versioning.REMEDIATION,
        network_access.REMEDIATION,
        global_actions.REMEDIATION,
    ]
