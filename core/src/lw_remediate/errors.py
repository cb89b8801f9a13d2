"""Error classes of lw-remediate. Every error the core raises derives from LwRemediateError."""

from __future__ import annotations

from typing import Any


class LwRemediateError(Exception):
    """Base class of every error raised by lw-remediate."""


class ConfigError(LwRemediateError):
    """The configuration is invalid; the message names the offending key."""


class StartupError(LwRemediateError):
    """The daemon cannot start (a port in use, a store it cannot open); the message says
    what and names the path or address. The CLI prints it as one line, exit status 2."""


class NotificationFailed(LwRemediateError):
    """A notifier gave up on one notification, after its own retries. The fan-out logs
    it (``notify_failed``, with ``fields``), counts it and shows it on ``/readyz``."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.fields = fields


class MapLoadError(LwRemediateError):
    """A map distribution failed to load (raised only with ``strict_maps = true``)."""


class RemediationDeclarationError(LwRemediateError):
    """A map declared a remediation that breaks the contract (bad id, missing runbook, …)."""


class RemediationError(LwRemediateError):
    """A remediation could not do its work; the action ends ``failed`` with this message."""


class RemediationRefused(LwRemediateError):
    """A remediation declines to act (e.g. no log target configured); ends ``refused``."""


class ManualActionRequired(LwRemediateError):
    """What ``check`` or ``plan`` read live needs a person, not this remediation (a default
    security group still in use, a key AWS cannot rotate): the action ends ``manual`` and the
    message, a runbook built from the live state, is what the operator is sent."""


class ResourceChanged(RemediationRefused):
    """``revert`` refuses: the resource changed since the action, so undo would clobber it."""


class RevertNotSupported(RemediationRefused):
    """The remediation has no ``revert``, or the stored action cannot be reverted."""


class ApplyPaused(LwRemediateError):
    """The kill switch is on: the action is parked before ``apply`` (ends awaiting approval)."""


class StoreUnavailable(StartupError):
    """The PostgreSQL store cannot be opened (unreachable, refused, or a newer schema)."""
