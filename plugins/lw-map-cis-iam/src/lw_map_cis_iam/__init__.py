"""lw-map-cis-iam: remediations for the CIS AWS 1.x and LW_AWS_IAM rules."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import (
    admin_policies,
    console_mfa,
    console_password,
    inactive_user,
    instance_profile,
    key_rotation,
    manual_only,
    password_policy,
    security_contact,
    setup_keys,
    ssh_keys,
    support_role,
    unused_credentials,
    user_policies,
)

REMEDIATIONS: tuple[Remediation, ...] = (
    password_policy.REMEDIATION,
    unused_credentials.REMEDIATION,
    console_mfa.REMEDIATION,
    key_rotation.REMEDIATION,
    setup_keys.REMEDIATION,
    ssh_keys.REMEDIATION,
    user_policies.REMEDIATION,
    security_contact.REMEDIATION,
    instance_profile.REMEDIATION,
    support_role.REMEDIATION,
    admin_policies.REMEDIATION,
    inactive_user.REMEDIATION,
    console_password.REMEDIATION,
    *manual_only.REMEDIATIONS,
)


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return list(REMEDIATIONS)
