"""lw-map-aws-logging: remediations for Lacework's AWS logging and monitoring rules
(CloudTrail, AWS Config, KMS key rotation, CIS metric filters and alarms)."""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import Remediation, hookimpl

from .remediations import (
    cloudwatch_logs,
    config_recorder,
    key_rotation,
    log_file_validation,
    metric_alarms,
    sns_subscribers,
    trail_all_regions,
    trail_bucket,
    trail_encryption,
)


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [
        trail_all_regions.REMEDIATION,
        log_file_validation.REMEDIATION,
        *trail_bucket.REMEDIATIONS,
        cloudwatch_logs.REMEDIATION,
        trail_encryption.REMEDIATION,
        config_recorder.REMEDIATION,
        key_rotation.REMEDIATION,
        metric_alarms.REMEDIATION,
        sns_subscribers.REMEDIATION,
    ]
