"""The store interface and its row types."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..model import ActionRecord, Mode, Status, Violation

T = TypeVar("T")

#: Sweep row states.
RUNNING, INTERRUPTED, COMPLETED, FAILED = "running", "interrupted", "completed", "failed"


@dataclass(frozen=True)
class InboxRow:
    """One accepted delivery, as committed before the 202.

    ``raw`` is the body exactly as received and ``encoding`` the encoding JSON
    detected in it (``utf-8``, ``utf-8-sig``, ...): reading a row never fails, only
    :meth:`payload` can (a row that cannot be decoded ends ``dead``, it never stops the
    worker).
    """

    id: int
    delivery_key: str
    shape: str
    event_id: str
    raw: bytes
    encoding: str
    state: str  # queued | processing | done | dead
    attempts: int
    received_at: float
    next_attempt_at: float
    last_error: str | None = None

    def payload(self) -> Any:
        """The body as JSON; raises ValueError (UnicodeDecodeError, JSONDecodeError) or
        RecursionError when it cannot be read."""
        return json.loads(self.raw.decode(self.encoding))


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


@dataclass(frozen=True)
class ChangeRow:
    """One change: an action that reached ``apply`` (what budgets and the flap guard count)."""

    action_id: str
    at: float
    remediation_id: str
    rule_id: str
    account_id: str
    resource_arn: str


@dataclass(frozen=True)
class ChangeCounts:
    """Changes counted inside one reservation (see :meth:`SafetyStore.reserve_change`)."""

    total: int  # all changes since ``since``
    rule: int  # of the change's rule since ``since``
    account: int  # in the change's account since ``since``
    resource: int  # to the change's resource for its rule since ``flap_since`` (and the last clear)
    flagged: bool  # the resource x rule is flagged as flapping and not cleared


@dataclass(frozen=True)
class ChangeUsage:
    """Changes since a time, as the budgets count them: overall, per rule, per account."""

    total: int
    by_rule: dict[str, int]
    by_account: dict[str, int]

    @classmethod
    def from_groups(cls, groups: Iterable[tuple[str, str, int]]) -> ChangeUsage:
        """Build it from ``(rule_id, account_id, count)`` groups (one query per backend)."""
        by_rule: dict[str, int] = {}
        by_account: dict[str, int] = {}
        for rule_id, account_id, n in groups:
            by_rule[rule_id] = by_rule.get(rule_id, 0) + n
            by_account[account_id] = by_account.get(account_id, 0) + n
        return cls(sum(by_rule.values()), by_rule, by_account)


@dataclass(frozen=True)
class FlapRow:
    """A resource x rule flagged as flapping; it stays flagged until ``cleared_at``."""

    id: int
    rule_id: str
    account_id: str
    resource_arn: str
    flagged_at: float
    changes: int
    cleared_at: float | None = None
    cleared_by: str | None = None


@dataclass(frozen=True)
class KillSwitchRow:
    """The shared kill switch (a ``shared`` store): when, by whom, why."""

    at: float
    by: str
    reason: str


@dataclass(frozen=True)
class ApprovalRow:
    """When an action started waiting for approval, when that expires, and the decision."""

    action_id: str
    requested_at: float
    expires_at: float
    decided_at: float | None = None
    decided_by: str | None = None
    decision: str | None = None  # approved | rejected | expired


@dataclass(frozen=True)
class ExemptionRow:
    """An exemption added at run time (CLI or admin API); ``spec`` is its definition."""

    id: str
    spec: dict[str, Any]
    created_at: float
    created_by: str
    removed_at: float | None = None
    removed_by: str | None = None


@dataclass(frozen=True)
class SweepClaim:
    """The answer to claiming a sweep: its id and run number, or, when a live process
    is running a sweep with the same key, that sweep's id and owner (nothing claimed)."""

    sweep_id: int
    run: int
    running_owner: str | None = None


@dataclass(frozen=True)
class SweepPriorRow:
    """An earlier action a sweep looks at to decide whether a violation is settled."""

    rule_id: str
    resource_arn: str
    account_id: str
    reason: str
    remediation_id: str
    status: Status | None
    state: str
    mode: Mode
    updated_at: float
    this_sweep: bool
    detail: str
    call_errors: frozenset[str]


class SweepTables(Protocol):
    """The sweeps' state: one row per sweep, and the queries resuming one needs."""

    async def claim_sweep(
        self,
        key: str,
        request: Mapping[str, Any],
        *,
        owner: str,
        now: float,
        alive: Callable[[str, float, float, int], bool],
    ) -> SweepClaim: ...

    async def sweep_inbox(self, sweep_id: int, attempt: int) -> int: ...

    async def sweep_unfinished(self, sweep_id: int) -> list[ActionRow]: ...

    async def sweep_priors(
        self, sweep_id: int, accounts: Sequence[str], since: float | None
    ) -> list[SweepPriorRow]: ...

    async def save_sweep(
        self,
        sweep_id: int,
        *,
        state: str,
        progress: Mapping[str, Any],
        error: str | None = None,
        finished: bool = False,
    ) -> None: ...

    async def get_sweep(self, sweep_id: int) -> dict[str, Any] | None: ...

    async def list_sweeps(self, *, limit: int = 20) -> list[dict[str, Any]]: ...


class SafetyStore(Protocol):
    """The safety envelope's state: changes, approvals, exemptions, flapping resources."""

    async def reserve_change(
        self,
        change: ChangeRow,
        *,
        since: float,
        flap_since: float,
        decide: Callable[[ChangeCounts], T | None],
    ) -> T | None:
        """Atomically count changes, ask ``decide``, and record ``change`` when it returns
        None. A change already recorded for the action is allowed again (returns None)."""
        ...

    async def change_usage(self, since: float) -> ChangeUsage:
        """Changes recorded after ``since``: what each budget has used (read only)."""
        ...

    async def flap_state(
        self, rule_id: str, account_id: str, resource_arn: str, *, since: float
    ) -> tuple[FlapRow | None, int]:
        """The active flag (if any) and the changes counted since ``since`` / the last clear."""
        ...

    async def flag_flapping(
        self, rule_id: str, account_id: str, resource_arn: str, *, changes: int, now: float
    ) -> bool: ...

    async def list_flapping(self, *, active_only: bool = True) -> list[FlapRow]: ...

    async def clear_flapping(
        self, resource_arn: str, rule_id: str | None, *, by: str, now: float
    ) -> list[FlapRow]: ...

    async def request_approval(
        self, action_id: str, *, requested_at: float, expires_at: float
    ) -> None: ...

    async def get_approval(self, action_id: str) -> ApprovalRow | None: ...

    async def claim_approval(self, action_id: str, *, by: str, now: float) -> bool:
        """Compare-and-set an awaiting action to ``approved``; False if someone else decided."""
        ...

    async def close_awaiting(
        self, action_id: str, *, status: str, detail: str, decision: str, by: str, now: float
    ) -> bool:
        """Compare-and-set an awaiting action to done with ``status``; False if not awaiting."""
        ...

    async def expired_approvals(self, now: float) -> list[str]: ...

    async def add_exemption(self, row: ExemptionRow) -> None: ...

    async def list_exemptions(self, *, include_removed: bool = False) -> list[ExemptionRow]: ...

    async def remove_exemption(self, exemption_id: str, *, by: str, now: float) -> bool: ...

    async def notice_once(self, key: str, now: float) -> bool:
        """True the first time ``key`` is seen (for one-off reports such as an expiry)."""
        ...

    async def notice_every(self, key: str, now: float, interval: float) -> bool:
        """True when ``key`` was not noticed in the last ``interval`` seconds (and notes
        it now): one message per budget per hour, whichever process refuses."""
        ...

    #: Several processes, possibly on several hosts, share this store (PostgreSQL):
    #: the kill switch then lives in the store, not in a file one host sees.
    shared: bool

    async def get_kill_switch(self) -> KillSwitchRow | None:
        """The shared kill switch when it is on (always None when not ``shared``)."""
        ...

    async def set_kill_switch(self, row: KillSwitchRow | None) -> bool:
        """Turn the shared kill switch on (``row``) or off (None); True if it was on."""
        ...


class Store(SafetyStore, SweepTables, Protocol):
    """What the daemon needs from persistent state. Every write is durable on return."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @property
    def is_open(self) -> bool: ...

    async def ping(self) -> None:
        """Return when the store answers a query now; raise :class:`StoreUnavailable`
        with the reason (one line, no secrets) when it does not (``/readyz``)."""
        ...

    # -- inbox -----------------------------------------------------------------------
    async def enqueue(self, items: Sequence[tuple[str, str, str, Any]]) -> list[tuple[int, bool]]:
        """Commit deliveries ``(delivery_key, shape, event_id, body)``; return
        ``(inbox id, created)`` per item (``created`` False for a redelivery). ``body`` is
        the received bytes (stored as they are), a JSON text, or a JSON value."""
        ...

    async def claim_due(self, now: float, limit: int) -> list[InboxRow]: ...

    async def requeue_processing(self) -> int: ...

    async def next_due_at(self) -> float | None:
        """When the earliest queued alert is due (None: nothing queued)."""
        ...

    async def retry_later(self, inbox_id: int, *, next_attempt_at: float, error: str) -> int: ...

    async def mark_inbox(self, inbox_id: int, state: str, *, error: str | None = None) -> None: ...

    async def inbox_counts(self) -> dict[str, int]: ...

    async def list_inbox(self, *, state: str | None = None, limit: int = 100) -> list[InboxRow]: ...

    async def get_inbox(self, inbox_id: int) -> InboxRow | None: ...

    async def requeue_inbox(self, inbox_id: int) -> bool:
        """A ``dead`` alert back to ``queued`` with its attempts reset; False if not dead."""
        ...

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

    # -- several processes on one store ------------------------------------------------
    async def orphaned_actions(self) -> list[ActionRow]:
        """Unfinished actions whose holder died (its lease ran out), now this process's
        to finish; each is handed to one process only. Always empty on SQLite (one
        daemon per file: a restart resumes through :meth:`unfinished_actions`)."""
        ...

    def resource_lock(self, key: str) -> AbstractAsyncContextManager[None]:
        """Held while an action changes the resource ``key``: across every process on
        a shared store (PostgreSQL: an advisory lock, released if the process dies);
        nothing on SQLite, where the engine's in-process lock is the one that counts."""
        ...

    def subscribe(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` when another process adds work to the inbox (PostgreSQL:
        LISTEN/NOTIFY; SQLite: never, the worker polls)."""
        ...

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

    # -- journal -----------------------------------------------------------------------
    def journal(self) -> StoreJournal:
        """The runner's journal: every state transition of an action saved here."""
        ...


class StoreJournal:
    """The :class:`~lw_remediate.pipeline.runner.Journal` backed by a store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def save(self, record: ActionRecord) -> None:
        await self.store.save_action(record)
