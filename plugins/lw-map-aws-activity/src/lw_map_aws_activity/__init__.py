"""lw-map-aws-activity: answers Lacework's AWS cloud-activity (CloudTrail) alerts.

Re-evaluates the resource an alert touched with the other installed maps, reverts a
change that is itself the violation (StopLogging, StopConfigurationRecorder,
ScheduleKeyDeletion, a removed S3 public access block), and sends a runbook naming the
actor for the watch-only classes.
"""

from __future__ import annotations

from collections.abc import Iterable

from lw_remediate import ActivityEvent, ActivityPolicy, Remediation, TouchedResource, hookimpl

from . import _events
from .remediations import (
    cancel_key_deletion,
    public_access_block,
    start_logging,
    start_recorder,
    watch,
)


@hookimpl
def lw_remediate_remediations() -> Iterable[Remediation]:
    return [
        start_logging.REMEDIATION,
        start_recorder.REMEDIATION,
        cancel_key_deletion.REMEDIATION,
        public_access_block.REMEDIATION,
        *watch.REMEDIATIONS,
    ]


@hookimpl
def lw_remediate_activity_policies() -> Iterable[ActivityPolicy]:
    return _events.POLICIES


@hookimpl
def lw_remediate_touched_resources(event: ActivityEvent) -> Iterable[TouchedResource]:
    return _events.touched(event)
