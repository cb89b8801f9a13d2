"""What a gate sees and what it answers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from ..model import Mode, Status, Violation
from ..remediation import Remediation


@dataclass(frozen=True)
class Candidate:
    """A violation x remediation about to run in ``mode`` (``action_id``: its record)."""

    violation: Violation
    remediation: Remediation
    mode: Mode
    action_id: str | None = None


@dataclass(frozen=True)
class Decision:
    """A gate's answer that ends the action now, with ``status`` and a one-line ``detail``."""

    status: Status
    detail: str


#: A gate: None lets the candidate through, a Decision ends it (may be async).
Gate = Callable[[Candidate], "Decision | Awaitable[Decision | None] | None"]
