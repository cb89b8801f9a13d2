"""The kill switch: a file whose presence pauses every ``apply``.

A file, not a flag in the database, so that it works the same from the CLI, the
admin API, a configuration-management tool or a plain ``touch`` on the host, and
keeps working when the store is the thing in trouble. The runner looks for it right
before each ``apply``; ingest and planning carry on.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class KillSwitchState:
    """Whether the switch is on, and (when it was turned on by lw-remediate) by whom and why."""

    on: bool
    path: str
    since: float | None = None
    by: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "path": self.path,
            "since": self.since,
            "by": self.by,
            "reason": self.reason,
        }

    def describe(self) -> str:
        if not self.on:
            return f"kill switch off ({self.path} absent)"
        who = f" by {self.by}" if self.by else ""
        why = f": {self.reason}" if self.reason else ""
        return f"kill switch on{who}{why} ({self.path})"


class KillSwitch:
    """Reads and writes the kill-switch file."""

    def __init__(self, path: str) -> None:
        self.path = path

    def is_on(self) -> bool:
        return os.path.exists(self.path)

    def state(self) -> KillSwitchState:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return KillSwitchState(False, self.path)
        try:
            data = json.loads(Path(self.path).read_text("utf-8") or "{}")
        except (OSError, ValueError):
            data = {}  # touched by hand, or not ours: the presence is what counts
        if not isinstance(data, dict):
            data = {}
        return KillSwitchState(
            True,
            self.path,
            since=float(data.get("at", stat.st_mtime)),
            by=data.get("by"),
            reason=data.get("reason"),
        )

    def turn_on(self, *, by: str, reason: str, now: float) -> KillSwitchState:
        """Create the file atomically (a reader never sees half of it)."""
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".kill-switch-", dir=directory)
        except OSError as exc:
            raise ConfigError(
                f"safety.kill_switch_file: cannot create {self.path}: "
                f"{exc.strerror or type(exc).__name__} (the switch is NOT on; "
                f"`touch {self.path}` as a user who can write there also stops every apply)"
            ) from None
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"by": by, "reason": reason, "at": now}, fh)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return self.state()

    def turn_off(self) -> bool:
        """Remove the file; False when it was not there."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return False
        return True
