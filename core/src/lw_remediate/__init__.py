"""lw-remediate: fix the AWS misconfigurations behind Lacework compliance alerts.

This module is the public API for map authors: import only from here.
"""

from __future__ import annotations

from typing import Any

from ._markers import hookimpl
from .activity import ActivityEvent, ActivityPolicy, ActivityResource, TouchedResource
from .aws.session import AwsSession, Credentials
from .aws_errors import aws_error_code, is_gone, is_throttling
from .calls import AwsCall
from .errors import (
    ConfigError,
    LwRemediateError,
    ManualActionRequired,
    MapLoadError,
    RemediationDeclarationError,
    RemediationError,
    RemediationRefused,
    ResourceChanged,
    RevertNotSupported,
)
from .model import (
    ActionRecord,
    Arn,
    Change,
    CheckResult,
    Mode,
    Plan,
    RecordedCall,
    Scope,
    Status,
    Verification,
    VerifyResult,
    Violation,
)
from .notification import Notification, NotificationKind, Notifier
from .policy import IamPolicy, PolicyStatement
from .remediation import (
    AwsClientFactory,
    Remediation,
    RemediationContext,
    RemediationOptions,
    RuleId,
)
from .rules import canonical_rule_id

__all__ = [
    "ActionRecord",
    "ActivityEvent",
    "ActivityPolicy",
    "ActivityResource",
    "Arn",
    "AwsCall",
    "AwsClientFactory",
    "AwsSession",
    "Change",
    "CheckResult",
    "ConfigError",
    "Credentials",
    "IamPolicy",
    "LwRemediateError",
    "ManualActionRequired",
    "MapLoadError",
    "Mode",
    "Notification",
    "NotificationKind",
    "Notifier",
    "Plan",
    "PolicyStatement",
    "RecordedCall",
    "Remediation",
    "RemediationContext",
    "RemediationDeclarationError",
    "RemediationError",
    "RemediationOptions",
    "RemediationRefused",
    "ResourceChanged",
    "RevertNotSupported",
    "RuleId",
    "Scope",
    "Status",
    "TouchedResource",
    "Verification",
    "VerifyResult",
    "Violation",
    "aws_error_code",
    "canonical_rule_id",
    "hookimpl",
    "is_gone",
    "is_throttling",
]


def __getattr__(name: str) -> Any:
    if name == "__version__":
        from importlib.metadata import version

        return version("lw-remediate")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
