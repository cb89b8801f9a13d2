"""The store interface and its row types."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..model import ActionRecord, Violation


@dataclass(frozen=True)
class InboxRow:
    """One accepted delivery, as committed before the 202."""

    id: int
    delivery_key: str
    shape: str
    event_id: str
    body: Any
    state: str  # queued | processing | done | dead
    attempts: int
    received_at: float
    next_attempt_at: float
    last_error: str | None = None


@dataclass(frozen=True)
class ActionRow:
    """An action as stored: the record plus bookkeeping."""

    record: ActionRecord
    violation_id: int
    inbox_id: int | None
    created_at: float
    updated_at: float
    approver: str | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One decision in the audit trail: who or what did what, when."""

    at: float
    action_id: str | None
    actor: str
    kind: str
    detail: str
    data: dict[str, Any]


class Store(Protocol):
    """What the daemon needs from persistent state. Every write is durable on return."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    # -- inbox -----------------------------------------------------------------------
    async def enqueue(self, items: Sequence[tuple[str, str, str, Any]]) -> list[tuple[int, bool]]:
        """Commit deliveries ``(delivery_key, shape, event_id, body)``; return
        ``(inbox id, created)`` per item (``created`` False for a redelivery)."""
        ...

    async def claim_due(self, now: float, limit: int) -> list[InboxRow]: ...

    async def requeue_processing(self) -> int: ...

    async def retry_later(self, inbox_id: int, *, next_attempt_at: float, error: str) -> int: ...

    async def mark_inbox(self, inbox_id: int, state: str, *, error: str | None = None) -> None: ...

    async def inbox_counts(self) -> dict[str, int]: ...

    async def list_inbox(self, *, state: str | None = None, limit: int = 100) -> list[InboxRow]: ...

    # -- violations and actions --------------------------------------------------------
    async def add_violation(self, inbox_id: int | None, violation: Violation) -> int: ...

    async def create_action(
        self, violation_id: int, inbox_id: int | None, record: ActionRecord
    ) -> tuple[ActionRecord, bool]:
        """Insert (or fetch the existing) action for this violation x remediation."""
        ...

    async def save_action(self, record: ActionRecord) -> None: ...

    async def get_action(self, action_id: str) -> ActionRow | None: ...

    async def list_actions(
        self, *, limit: int = 50, status: str | None = None, states: Sequence[str] | None = None
    ) -> list[ActionRow]: ...

    async def unfinished_actions(self) -> list[ActionRow]: ...

    # -- audit -------------------------------------------------------------------------
    async def audit(
        self,
        kind: str,
        detail: str,
        *,
        actor: str,
        action_id: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None: ...

    async def audit_events(
        self, *, action_id: str | None = None, limit: int = 100
    ) -> list[AuditEvent]: ...
