"""The sweep's bookkeeping: its row (claim, resume, progress), who owns it, and what
earlier actions already did (:class:`Prior`, :func:`settled`).

The SQL lives in the store (:mod:`lw_remediate.store.sqlite_sweeps`); this module
adds what is the sweep's business: process ownership and the resume rules.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ...ingest.lacework import parse_expires_at
from ...ingest.reports import ReportSummary
from ...model import Mode, Status
from ...store import ActionRow, Store
from .pacing import THROTTLE_CODES, throttle_text
from .request import SweepBusy, SweepRequest

#: Statuses after which a later sweep does not act again on the same violation.
_SETTLED: Final = frozenset(
    {Status.REMEDIATED, Status.RESOLVED, Status.UNVERIFIED, Status.MANUAL, Status.REVERTED}
)
#: A sweep owned by another host is presumed dead when its heartbeat is this old.
STALE_AFTER_SECONDS: Final = 120.0
#: Identifies this process in ``sweeps.owner`` (a pid alone is reused, e.g. pid 1 in containers).
_PROCESS_TOKEN: Final = uuid.uuid4().hex[:8]
_OWNER: Final = f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"
#: Ids of the sweeps this process is running (a row this process claimed but no longer
#: runs, e.g. after an error while saving its end, is not "alive").
_LIVE_SWEEPS: set[int] = set()


@dataclass(frozen=True)
class Prior:
    """The latest earlier action on one (rule, resource, account, reason, remediation)."""

    status: Status | None
    state: str
    mode: Mode
    updated_at: float
    this_sweep: bool
    throttled: bool = False

    @property
    def finished(self) -> bool:
        return self.state in ("done", "awaiting_approval")


def settled(prior: Prior, mode: Mode, *, report_time: float | None) -> bool:
    """Whether ``prior`` already did what a sweep in ``mode`` would do (see module docs)."""
    if not prior.finished:
        return False
    if prior.this_sweep:
        return not prior.throttled
    if report_time is None or prior.updated_at < report_time:
        return False  # the report was taken after that action: it still sees the violation
    if prior.status in _SETTLED:
        return True
    if prior.status is Status.PLANNED:
        return mode is Mode.DRY_RUN
    if prior.status is Status.AWAITING_APPROVAL:
        return mode is not Mode.AUTO
    return False


def report_epoch(summary: ReportSummary) -> float | None:
    """The report's time as a Unix timestamp (None when the report does not say)."""
    parsed = parse_expires_at(summary.report_time)
    return parsed.timestamp() if parsed is not None else None


PriorKey = tuple[str, str, str, str, str]  # rule, resource ARN, account, reason, remediation


def mark_live(sweep_id: int) -> None:
    """This process runs ``sweep_id`` now (its row counts as alive)."""
    _LIVE_SWEEPS.add(sweep_id)


def mark_gone(sweep_id: int) -> None:
    """This process no longer runs ``sweep_id``."""
    _LIVE_SWEEPS.discard(sweep_id)


class SweepStore:
    """A sweep's view of the store: its row and the queries resuming it needs.

    The SQL is the store's (``sweeps`` table); ownership and the resume rules are here.
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    async def claim(
        self, request: SweepRequest, *, owner: str = _OWNER, now: float | None = None
    ) -> tuple[int, int]:
        """The sweep to run: an interrupted one with the same key, else a new one.

        Returns ``(sweep id, run number)``; raises :class:`SweepBusy` when a sweep with
        the same key is running in a live process.
        """
        claim = await self.store.claim_sweep(
            request.key,
            request.to_dict(),
            owner=owner,
            now=time.time() if now is None else now,
            alive=_owner_alive,
        )
        if claim.running_owner is not None:
            raise SweepBusy(
                f"sweep {claim.sweep_id} with the same parameters is running "
                f"(owner {claim.running_owner})"
            )
        return claim.sweep_id, claim.run

    async def pass_inbox(self, sweep_id: int, attempt: int) -> int:
        """The inbox row naming this sweep's attempt as the source of its actions."""
        return await self.store.sweep_inbox(sweep_id, attempt)

    async def unfinished(self, sweep_id: int) -> list[ActionRow]:
        """Actions of this sweep that an interruption left half-way."""
        return await self.store.sweep_unfinished(sweep_id)

    async def priors(
        self, sweep_id: int, accounts: Sequence[str], since: float | None
    ) -> dict[PriorKey, Prior]:
        """The latest action per (rule, resource, account, reason, remediation) that counts:
        this sweep's, or any finished after ``since`` (the report's time)."""
        out: dict[PriorKey, Prior] = {}
        for r in await self.store.sweep_priors(sweep_id, accounts, since):
            throttled = r.status is Status.FAILED and (
                bool(r.call_errors & THROTTLE_CODES) or throttle_text(r.detail)
            )
            out[(r.rule_id, r.resource_arn, r.account_id, r.reason, r.remediation_id)] = Prior(
                status=r.status,
                state=r.state,
                mode=r.mode,
                updated_at=r.updated_at,
                this_sweep=r.this_sweep,
                throttled=throttled,
            )
        return out

    async def save(
        self,
        sweep_id: int,
        *,
        state: str,
        progress: Mapping[str, Any],
        error: str | None = None,
        finished: bool = False,
    ) -> None:
        await self.store.save_sweep(
            sweep_id, state=state, progress=progress, error=error, finished=finished
        )

    async def get(self, sweep_id: int) -> dict[str, Any] | None:
        return await self.store.get_sweep(sweep_id)

    async def list(self, *, limit: int = 20) -> list[dict[str, Any]]:
        return await self.store.list_sweeps(limit=limit)


def _owner_alive(owner: str, updated_at: float, now: float, sweep_id: int) -> bool:
    """Is the process that claimed a sweep still running it?"""
    host, _, rest = owner.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != socket.gethostname():
        return now - updated_at < STALE_AFTER_SECONDS
    if token == _PROCESS_TOKEN:
        return sweep_id in _LIVE_SWEEPS
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # our pid, another token: a previous life of this process id
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
