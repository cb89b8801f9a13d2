"""Sweep: remediate every current violation the latest compliance reports list.

A sweep fetches ``GET /api/v2/Reports`` (JSON) for each account and report type, keeps
the ``NonCompliant`` recommendations that are not suppressed (:func:`violations_from_report`)
and runs each violation through :meth:`Engine.handle_violation`: the daemon's own gate,
dispatcher, runner, store and notifiers. There is no second pipeline here, only
pacing, bookkeeping and resumption around the one the daemon uses.

**Pacing.** Work is split into lanes, one per (account, region). Each lane has its own
concurrency (``[sweep] concurrency_per_region``) and a token bucket for the rate at
which actions start (``rate_per_region``); the engine's ``[remediation] concurrency``
still bounds the total. An action that ends ``failed`` because AWS throttled it (after
botocore's own retries) halves its lane's rate, pauses the lane with exponential
back-off and is tried again, up to ``max_retries`` times. Report requests share one
token bucket (``lacework_requests_per_minute``, the API's ~480 requests/hour); a
request that still fails with 429/5xx after the client's own retries waits
(``Retry-After`` when the server sent one) and is tried again.

**Resumption.** A sweep is a row in the ``sweeps`` table; its actions hang off
inbox rows of shape ``sweep`` (one per attempt, state ``done`` so the worker never
claims them), which is how the store's violation/action rows name their source.
Re-running a sweep with the same parameters continues an interrupted one (same id):
actions it left unfinished are finished first through the engine's crash-recovery
path, and no violation whose action already finished in this sweep is started again.
Across sweeps, a violation is skipped when its latest action for the same rule,
resource, reason and remediation finished *after the report's time* (the report
predates the fix) with a settled status: remediated, resolved, unverified, manual,
reverted (an operator undid it on purpose); planned when this sweep is a dry run;
awaiting approval unless this sweep is ``auto``. Exempted, refused, failed and
no-remediation outcomes are decided again: exemptions expire, budgets refill.
"""

from __future__ import annotations

from ...store.base import COMPLETED, FAILED, INTERRUPTED, RUNNING
from .bookkeeping import Prior, SweepStore, settled
from .manager import SweepManager
from .pacing import THROTTLE_CODES, Pacer, is_throttled
from .progress import SUMMARY_STATUSES, SweepProgress
from .request import KNOWN_REPORT_TYPES, SweepBusy, SweepError, SweepRequest, build_request
from .run import Sweep

__all__ = [
    "COMPLETED",
    "FAILED",
    "INTERRUPTED",
    "KNOWN_REPORT_TYPES",
    "RUNNING",
    "SUMMARY_STATUSES",
    "THROTTLE_CODES",
    "Pacer",
    "Prior",
    "Sweep",
    "SweepBusy",
    "SweepError",
    "SweepManager",
    "SweepProgress",
    "SweepRequest",
    "SweepStore",
    "build_request",
    "is_throttled",
    "settled",
]
