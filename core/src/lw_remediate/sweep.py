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

import asyncio
import contextvars
import datetime as dt
import json
import os
import random
import re
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from .config import Config, SweepConfig
from .control import Actor
from .engine import Decision, Engine
from .errors import LwRemediateError
from .lacework import (
    LaceworkAuthError,
    LaceworkClient,
    LaceworkError,
    LaceworkNotFound,
    LaceworkUnavailable,
    ReportSummary,
    parse_expires_at,
    violations_from_report,
)
from .maps import MapRegistry
from .model import ActionRecord, Mode, Status, Violation
from .remediation import Remediation
from .rules import canonical_rule_id
from .store import ActionRow, SqliteStore

log = structlog.get_logger("lw_remediate.sweep")

__all__ = [
    "KNOWN_REPORT_TYPES",
    "Pacer",
    "Prior",
    "Sweep",
    "SweepBusy",
    "SweepError",
    "SweepRequest",
    "SweepStore",
    "build_request",
    "is_throttled",
    "settled",
]

#: Report types of ``GET /api/v2/Reports`` for AWS (reference/lacework-protocol.md §2.4).
#: ``AWS_CIS_S3`` is the legacy report holding the LW_S3_* / AWS_CIS_1_* ids.
KNOWN_REPORT_TYPES: Final = (
    "AWS_CIS_S3",
    "AWS_CIS_14",
    "AWS_SOC_Rev2",
    "NIST_800-53_Rev4",
    "NIST_800-171_Rev2",
    "ISO_2700",
    "HIPAA",
    "SOC",
    "PCI",
    "AWS_CMMC_1.02",
    "AWS_ISO_27001:2013",
    "AWS_NIST_CSF",
    "AWS_HIPAA",
    "AWS_NIST_800-53_rev5",
    "AWS_NIST_800-171_rev2",
    "AWS_PCI_DSS_3.2.1",
    "AWS_SOC_2",
    "LW_AWS_SEC_ADD_1_0",
    "AWS_CIS_1_4_ISO_IEC_27002_2022",
    "AWS_Cyber_Essentials_2_2",
    "AWS_CSA_CCM_4_0_5",
)

#: Error codes AWS uses to say "slow down" (botocore's throttling list, plus STS/S3's).
THROTTLE_CODES: Final = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottledException",
        "TooManyRequestsException",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
        "RequestLimitExceeded",
        "BandwidthLimitExceeded",
        "LimitExceededException",
        "RequestThrottled",
        "SlowDown",
        "PriorRequestNotComplete",
        "EC2ThrottledException",
    }
)
_THROTTLE_RE: Final = re.compile(r"\b(" + "|".join(sorted(THROTTLE_CODES)) + r")\b")

#: Statuses after which a later sweep does not act again on the same violation.
_SETTLED: Final = frozenset(
    {Status.REMEDIATED, Status.RESOLVED, Status.UNVERIFIED, Status.MANUAL, Status.REVERTED}
)
#: Sweep row states.
RUNNING, INTERRUPTED, COMPLETED, FAILED = "running", "interrupted", "completed", "failed"
#: A sweep owned by another host is presumed dead when its heartbeat is this old.
STALE_AFTER_SECONDS: Final = 120.0
#: Report requests allowed back to back before the Lacework token bucket paces them.
LACEWORK_BURST: Final = 4
#: Violations queued at once; the reports are read further only as work finishes.
MAX_PENDING: Final = 10_000

#: Set while a sweep calls the engine, so the sweep's gate can tell its calls apart.
_IN_SWEEP: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "lw_remediate_sweep", default=None
)
#: Identifies this process in ``sweeps.owner`` (a pid alone is reused, e.g. pid 1 in containers).
_PROCESS_TOKEN: Final = uuid.uuid4().hex[:8]
_OWNER: Final = f"{socket.gethostname()}:{os.getpid()}:{_PROCESS_TOKEN}"
#: Ids of the sweeps this process is running (a row this process claimed but no longer
#: runs, e.g. after an error while saving its end, is not "alive").
_LIVE_SWEEPS: set[int] = set()


class SweepError(LwRemediateError):
    """A sweep request is invalid (the message is one line naming the bad argument)."""


class SweepBusy(LwRemediateError):
    """A sweep with the same parameters is running (in this or another live process)."""


# -- the request ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepRequest:
    """What to sweep: accounts, report types, optional rule filter and mode override."""

    accounts: tuple[str, ...]
    report_types: tuple[str, ...]
    rules: tuple[str, ...] | None = None
    mode: Mode | None = None

    @property
    def key(self) -> str:
        """Identity for resumption: a re-run with the same key continues an interrupted sweep."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def to_dict(self) -> dict[str, Any]:
        return {
            "accounts": sorted(self.accounts),
            "report_types": sorted(self.report_types),
            "rules": sorted(self.rules) if self.rules is not None else None,
            "mode": str(self.mode) if self.mode else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SweepRequest:
        rules = data.get("rules")
        mode = data.get("mode")
        return cls(
            accounts=tuple(data["accounts"]),
            report_types=tuple(data["report_types"]),
            rules=tuple(rules) if rules is not None else None,
            mode=Mode(mode) if mode else None,
        )


def build_request(
    config: Config,
    registry: MapRegistry,
    *,
    accounts: Iterable[str] = (),
    all_accounts: bool = False,
    rules: Iterable[str] = (),
    mode: str | Mode | None = None,
    report_types: Iterable[str] = (),
) -> SweepRequest:
    """Validate sweep arguments (CLI or admin API); raise :class:`SweepError` with one line."""
    wanted = [str(a).strip() for a in accounts]
    if all_accounts and wanted:
        raise SweepError("give --account or --all-accounts, not both")
    if all_accounts:
        if not config.aws.accounts:
            raise SweepError(
                "--all-accounts sweeps the [aws] accounts allow-list, which is empty; "
                "list the accounts with --account"
            )
        wanted = list(config.aws.accounts)
    if not wanted:
        raise SweepError("give at least one --account ID (or --all-accounts)")
    for account in wanted:
        if not (account.isdigit() and len(account) == 12):
            raise SweepError(f"--account: {account!r} is not a 12-digit AWS account id")
        if config.aws.accounts and account not in config.aws.accounts:
            raise SweepError(f"--account: {account} is not in the [aws] accounts allow-list")
    types = [str(t).strip() for t in report_types] or list(config.sweep.report_types)
    known = {t.lower(): t for t in KNOWN_REPORT_TYPES}
    resolved_types: list[str] = []
    for rtype in types:
        if rtype.lower() not in known:
            raise SweepError(
                f"--report-type: {rtype!r} is not a known AWS report type "
                f"(e.g. AWS_CIS_S3, AWS_CIS_14; see `lw-remediate sweep --help`)"
            )
        resolved_types.append(known[rtype.lower()])
    rule_ids: list[str] | None = None
    given_rules = [str(r).strip() for r in rules]
    if given_rules:
        rule_ids = []
        for rule in given_rules:
            canonical = canonical_rule_id(rule) if rule else ""
            if canonical not in registry.index.rules:
                raise SweepError(f"--rule: no installed remediation handles {rule!r}")
            rule_ids.append(canonical)
    resolved_mode: Mode | None = None
    if mode is not None and str(mode) != "":
        try:
            resolved_mode = Mode(str(mode))
        except ValueError:
            raise SweepError(
                f"--mode: {str(mode)!r} is not one of dry-run, approve, auto"
            ) from None
        if resolved_mode is Mode.OFF:
            raise SweepError("--mode: 'off' would do nothing; use dry-run, approve or auto")
    return SweepRequest(
        accounts=tuple(sorted(dict.fromkeys(wanted))),
        report_types=tuple(dict.fromkeys(resolved_types)),
        rules=tuple(sorted(dict.fromkeys(rule_ids))) if rule_ids is not None else None,
        mode=resolved_mode,
    )


# -- pacing --------------------------------------------------------------------------------


class Pacer:
    """When the next piece of work in one lane may start: a token bucket plus back-off.

    ``rate`` starts per second (0: unpaced), ``burst`` tokens at most. :meth:`throttled`
    pauses the lane (exponential back-off with jitter, at least ``retry_after``) and
    halves the rate; :meth:`succeeded` wins a tenth of the configured rate back.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        backoff: float = 1.0,
        backoff_max: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.configured = max(0.0, rate)
        self.rate = self.configured
        self.burst = max(1, burst)
        self.backoff = backoff
        self.backoff_max = backoff_max
        self._clock = clock
        self._jitter = jitter
        self._tokens = float(self.burst)
        self._updated = clock()
        self.resume_at = 0.0
        self.strikes = 0
        self.throttles = 0

    def delay(self) -> float:
        """Seconds to wait before starting; 0 means start now (and a token was taken)."""
        now = self._clock()
        if now < self.resume_at:
            return self.resume_at - now
        if self.rate <= 0:
            return 0.0
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait for a start slot; False when ``stop`` was set first."""
        while True:
            if stop is not None and stop.is_set():
                return False
            wait = self.delay()
            if wait <= 0:
                return True
            if stop is None:
                await asyncio.sleep(wait)
                continue
            try:
                await asyncio.wait_for(stop.wait(), timeout=wait)
            except TimeoutError:
                continue
            return False

    def throttled(self, retry_after: float | None = None) -> float:
        """The lane was throttled: pause it and slow it down; return the pause in seconds."""
        self.strikes += 1
        self.throttles += 1
        cap = min(self.backoff_max, self.backoff * 2.0 ** min(self.strikes - 1, 32))
        pause = cap / 2 + cap / 2 * self._jitter()
        if retry_after is not None:
            pause = max(pause, retry_after)
        now = self._clock()
        self.resume_at = max(self.resume_at, now + pause)
        if self.configured > 0:
            self.rate = max(self.configured / 16, self.rate / 2)
            self._tokens = 0.0
            self._updated = now
        return pause

    def succeeded(self) -> None:
        """Work went through unthrottled: reset the back-off, recover the rate additively."""
        self.strikes = 0
        if self.configured > 0 and self.rate < self.configured:
            self.rate = min(self.configured, self.rate + self.configured / 10)


@dataclass
class _Lane:
    pacer: Pacer
    slots: asyncio.Semaphore


def is_throttled(record: ActionRecord) -> bool:
    """True when the action failed because AWS throttled it (not because of the resource)."""
    if record.status is not Status.FAILED:
        return False
    if any(call.error in THROTTLE_CODES for call in record.calls):
        return True
    return bool(_THROTTLE_RE.search(record.detail or ""))


# -- what was done before ------------------------------------------------------------------


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


def _report_epoch(summary: ReportSummary) -> float | None:
    parsed = parse_expires_at(summary.report_time)
    return parsed.timestamp() if parsed is not None else None


_PriorKey = tuple[str, str, str, str, str]  # rule, resource ARN, account, reason, remediation


class SweepStore:
    """The ``sweeps`` table and the queries a sweep needs, on the daemon's SQLite store.

    Kept beside the sweep (not in the store module) and created on first use, like
    every table: ``CREATE TABLE IF NOT EXISTS``.
    """

    SCHEMA: Final = """
    CREATE TABLE IF NOT EXISTS sweeps (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        request TEXT NOT NULL,
        state TEXT NOT NULL,
        owner TEXT NOT NULL,
        runs INTEGER NOT NULL DEFAULT 1,
        progress TEXT NOT NULL DEFAULT '{}',
        error TEXT,
        started_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX IF NOT EXISTS sweeps_key ON sweeps (key, state);
    """

    def __init__(self, store: SqliteStore) -> None:
        self.store = store

    async def setup(self) -> None:
        await self.store._run(lambda c: c.executescript(self.SCHEMA))

    async def claim(
        self, request: SweepRequest, *, owner: str = _OWNER, now: float | None = None
    ) -> tuple[int, int]:
        """The sweep to run: an interrupted one with the same key, else a new one.

        Returns ``(sweep id, run number)``; raises :class:`SweepBusy` when a sweep with
        the same key is running in a live process.
        """
        stamp = time.time() if now is None else now

        def _claim(conn: Any) -> tuple[int, int]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                row = conn.execute(
                    "SELECT id, state, owner, runs, updated_at FROM sweeps"
                    " WHERE key = ? AND state IN (?, ?) ORDER BY id DESC LIMIT 1",
                    (request.key, RUNNING, INTERRUPTED),
                ).fetchone()
                if (
                    row is not None
                    and row["state"] == RUNNING
                    and _owner_alive(row["owner"], row["updated_at"], stamp, int(row["id"]))
                ):
                    raise SweepBusy(
                        f"sweep {row['id']} with the same parameters is running "
                        f"(owner {row['owner']})"
                    )
                if row is not None:
                    conn.execute(
                        "UPDATE sweeps SET state = ?, owner = ?, runs = runs + 1, error = NULL,"
                        " updated_at = ?, finished_at = NULL WHERE id = ?",
                        (RUNNING, owner, stamp, row["id"]),
                    )
                    result = (int(row["id"]), int(row["runs"]) + 1)
                else:
                    cur = conn.execute(
                        "INSERT INTO sweeps (key, request, state, owner, started_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?)",
                        (
                            request.key,
                            json.dumps(request.to_dict()),
                            RUNNING,
                            owner,
                            stamp,
                            stamp,
                        ),
                    )
                    result = (int(cur.lastrowid or 0), 1)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return result

        return await self.store._run(_claim)

    async def pass_inbox(self, sweep_id: int, attempt: int) -> int:
        """The inbox row naming this sweep's attempt as the source of its actions."""

        def _row(conn: Any) -> int:
            now = time.time()
            key = f"sweep:{sweep_id}:{attempt}"
            conn.execute(
                "INSERT OR IGNORE INTO inbox (delivery_key, shape, event_id, body, state,"
                " received_at, next_attempt_at, updated_at) VALUES (?, 'sweep', ?, ?, 'done', ?, ?, ?)",
                (
                    key,
                    f"sweep-{sweep_id}",
                    json.dumps({"sweep_id": sweep_id, "attempt": attempt}),
                    now,
                    now,
                    now,
                ),
            )
            row = conn.execute("SELECT id FROM inbox WHERE delivery_key = ?", (key,)).fetchone()
            return int(row["id"])

        return await self.store._run(_row)

    async def unfinished(self, sweep_id: int) -> list[ActionRow]:
        """Actions of this sweep that an interruption left half-way."""

        def _rows(conn: Any) -> list[ActionRow]:
            rows = conn.execute(
                "SELECT * FROM actions WHERE inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?)"
                " AND state NOT IN ('done', 'awaiting_approval') ORDER BY created_at",
                (f"sweep-{sweep_id}",),
            ).fetchall()
            return [self.store._row(r) for r in rows]

        return await self.store._run(_rows)

    async def priors(
        self, sweep_id: int, accounts: Sequence[str], since: float | None
    ) -> dict[_PriorKey, Prior]:
        """The latest action per (rule, resource, account, reason, remediation) that counts:
        this sweep's, or any finished after ``since`` (the report's time)."""

        def _query(conn: Any) -> dict[_PriorKey, Prior]:
            marks = ",".join("?" * len(accounts))
            # Fixed SQL; the account list only adds placeholders, values are bound.
            sql = (
                "SELECT a.remediation_id, a.rule_id, a.resource_arn, a.account_id, a.mode,"  # noqa: S608
                " a.state, a.status, a.detail, a.calls, a.updated_at,"
                " IFNULL(v.reason, '') AS reason,"
                " (a.inbox_id IN (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?))"
                " AS this_sweep"
                " FROM actions a JOIN violations v ON v.id = a.violation_id"
                f" WHERE a.account_id IN ({marks})"
                " AND (a.updated_at >= ? OR a.inbox_id IN"
                " (SELECT id FROM inbox WHERE shape = 'sweep' AND event_id = ?))"
                " ORDER BY a.created_at, a.rowid"
            )
            tag = f"sweep-{sweep_id}"
            rows = conn.execute(
                sql, (tag, *accounts, since if since is not None else float("inf"), tag)
            ).fetchall()
            out: dict[_PriorKey, Prior] = {}
            for r in rows:
                status = Status(r["status"]) if r["status"] else None
                calls_errors = {c.get("error") for c in json.loads(r["calls"] or "[]")}
                throttled = status is Status.FAILED and (
                    bool(calls_errors & THROTTLE_CODES)
                    or bool(_THROTTLE_RE.search(r["detail"] or ""))
                )
                out[
                    (
                        r["rule_id"],
                        r["resource_arn"],
                        r["account_id"],
                        r["reason"],
                        r["remediation_id"],
                    )
                ] = Prior(
                    status=status,
                    state=r["state"],
                    mode=Mode(r["mode"]),
                    updated_at=float(r["updated_at"]),
                    this_sweep=bool(r["this_sweep"]),
                    throttled=throttled,
                )
            return out

        return await self.store._run(_query)

    async def save(
        self,
        sweep_id: int,
        *,
        state: str,
        progress: Mapping[str, Any],
        error: str | None = None,
        finished: bool = False,
    ) -> None:
        now = time.time()
        await self.store._run(
            lambda c: c.execute(
                "UPDATE sweeps SET state = ?, progress = ?, error = ?, updated_at = ?,"
                " finished_at = ? WHERE id = ?",
                (
                    state,
                    json.dumps(progress, default=str),
                    error,
                    now,
                    now if finished else None,
                    sweep_id,
                ),
            )
        )

    async def get(self, sweep_id: int) -> dict[str, Any] | None:
        def _get(conn: Any) -> dict[str, Any] | None:
            row = conn.execute("SELECT * FROM sweeps WHERE id = ?", (sweep_id,)).fetchone()
            return None if row is None else _sweep_row(row)

        return await self.store._run(_get)

    async def list(self, *, limit: int = 20) -> list[dict[str, Any]]:
        def _list(conn: Any) -> list[dict[str, Any]]:
            rows = conn.execute("SELECT * FROM sweeps ORDER BY id DESC LIMIT ?", (limit,))
            return [_sweep_row(r) for r in rows.fetchall()]

        return await self.store._run(_list)


def _sweep_row(row: Any) -> dict[str, Any]:
    progress = json.loads(row["progress"] or "{}")
    return {
        **progress,
        "id": row["id"],
        "state": row["state"],
        "request": json.loads(row["request"]),
        "runs": row["runs"],
        "owner": row["owner"],
        "error": row["error"],
        "started_at": row["started_at"],
        "updated_at": row["updated_at"],
        "finished_at": row["finished_at"],
    }


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


# -- progress --------------------------------------------------------------------------------


#: The outcome columns every summary shows (the issue's list), in order.
SUMMARY_STATUSES: Final = (
    "remediated",
    "planned",
    "manual",
    "exempted",
    "refused",
    "failed",
)


@dataclass
class SweepProgress:
    """Counts of one run of a sweep; ``snapshot()`` is what the CLI and API show."""

    total: int = 0
    done: int = 0
    skipped: int = 0
    retried: int = 0
    resumed: int = 0
    not_started: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    rules: dict[str, Counter[str]] = field(default_factory=dict)
    reports: list[dict[str, Any]] = field(default_factory=list)
    reports_expected: int = 0

    def count(self, rule: str, key: str, n: int = 1) -> None:
        self.rules.setdefault(rule, Counter())[key] += n

    def snapshot(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "retried": self.retried,
            "resumed": self.resumed,
            "not_started": self.not_started,
            "statuses": dict(sorted(self.statuses.items())),
            "rules": {r: dict(sorted(c.items())) for r, c in sorted(self.rules.items())},
            "reports": list(self.reports),
            "reports_expected": self.reports_expected,
        }


# -- the sweep -------------------------------------------------------------------------------


@dataclass
class _Item:
    violation: Violation
    rule: str
    attempt: int = 1


class Sweep:
    """One sweep run over the engine. ``await sweep.run()``; ``sweep.stop()`` to interrupt.

    :param engine: the daemon's engine (its store must be open).
    :param request: what to sweep (:func:`build_request`).
    :param lacework: the API client (default: ``engine.lacework``).
    :param config: pacing (default: ``engine.config.sweep``).
    :param actor: who started it (recorded in the audit trail with its start and end).
    """

    def __init__(
        self,
        engine: Engine,
        request: SweepRequest,
        *,
        lacework: LaceworkClient | None = None,
        config: SweepConfig | None = None,
        actor: Actor | None = None,
    ) -> None:
        self.engine = engine
        self.actor = actor or Actor("lw-remediate", "sweep")
        self.request = request
        self.lacework = lacework or engine.lacework
        self.config = config or engine.config.sweep
        self.sweeps = SweepStore(engine.store)
        self.id: int | None = None
        self.run_number = 0
        self.state = "new"
        self.error: str | None = None
        self.progress = SweepProgress()
        #: Records of the actions this run ran (resumed ones included), in finishing order.
        self.records: list[ActionRecord] = []
        self.started_at = time.time()
        self._stopping = asyncio.Event()
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._lacework_pacer = Pacer(
            self.config.lacework_requests_per_minute / 60.0,
            burst=LACEWORK_BURST,
            backoff=self.config.backoff_seconds,
            backoff_max=self.config.backoff_max_seconds,
        )
        self._tasks: set[asyncio.Task[None]] = set()
        self._room = asyncio.Semaphore(MAX_PENDING)
        self._passes: dict[int, int] = {}
        self._pass_lock = asyncio.Lock()
        self._dirty = asyncio.Event()
        _install_gate(engine)

    # -- control ---------------------------------------------------------------------

    def stop(self) -> None:
        """Finish what is running, start nothing more (Ctrl-C, the admin API, shutdown)."""
        if not self._stopping.is_set():
            log.info("sweep_stopping", sweep_id=self.id)
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "run": self.run_number,
            "request": self.request.to_dict(),
            "started_at": self.started_at,
            "error": self.error,
            **self.progress.snapshot(),
        }

    # -- running ---------------------------------------------------------------------

    async def open(self) -> int:
        """Claim the sweep row (new, or the interrupted one with the same parameters)."""
        if self.id is None:
            if self.lacework is None:
                raise SweepError(
                    "sweeping needs the Lacework API: set [lacework] account (or api_url), "
                    "key_id and secret"
                )
            await self.sweeps.setup()
            self.id, self.run_number = await self.sweeps.claim(self.request)
            _LIVE_SWEEPS.add(self.id)
            self.state = RUNNING
            log.info(
                "sweep_started",
                sweep_id=self.id,
                run=self.run_number,
                **self.request.to_dict(),
            )
            await self.engine.store.audit(
                "sweep_started",
                f"sweep {self.id} (run {self.run_number}) started by {self.actor}",
                actor=self.actor.name,
                data={
                    "via": self.actor.via,
                    "sweep_id": self.id,
                    "run": self.run_number,
                    **self.request.to_dict(),
                },
            )
        return self.id

    async def run(self) -> Sweep:
        """Run (or continue) the sweep to the end, or until :meth:`stop`."""
        sweep_id = await self.open()
        heartbeat = asyncio.create_task(self._heartbeat(sweep_id))
        failure: BaseException | None = None
        state = COMPLETED
        try:
            await self._resume_unfinished(sweep_id)
            await self._read_reports(sweep_id)
            await self._drain()
        except asyncio.CancelledError as exc:  # a second Ctrl-C, or the task cancelled
            failure, state = exc, INTERRUPTED
        except BaseException as exc:  # noqa: BLE001 - recorded on the sweep row, then re-raised
            failure, state = exc, FAILED
            self.error = _one_line(str(exc) or type(exc).__name__)
        # The heartbeat goes first, so no progress write can land after the final one.
        heartbeat.cancel()
        await asyncio.gather(heartbeat, return_exceptions=True)
        await self._cancel_children()
        if state == COMPLETED and self.stopping and self.progress.done < self.progress.total:
            state = INTERRUPTED
        try:
            await self._finish(sweep_id, state)
        finally:
            _LIVE_SWEEPS.discard(sweep_id)
        if failure is not None:
            raise failure
        return self

    async def _finish(self, sweep_id: int, state: str) -> None:
        self.state = state
        self.progress.not_started = max(0, self.progress.total - self.progress.done)
        await self.sweeps.save(
            sweep_id,
            state=state,
            progress=self.progress.snapshot(),
            error=self.error,
            finished=True,
        )
        p = self.progress
        await self.engine.store.audit(
            "sweep_finished",
            f"sweep {sweep_id} (run {self.run_number}) {state}: {p.done}/{p.total} violations "
            f"done, {p.skipped} done before, {p.not_started} not started"
            + (f"; {self.error}" if self.error else ""),
            actor=self.actor.name,
            data={
                "via": self.actor.via,
                "sweep_id": sweep_id,
                "run": self.run_number,
                "state": state,
                "statuses": dict(p.statuses),
            },
        )
        log.info(
            "sweep_finished",
            sweep_id=sweep_id,
            state=state,
            total=self.progress.total,
            done=self.progress.done,
            skipped=self.progress.skipped,
            statuses=dict(self.progress.statuses),
        )

    async def _heartbeat(self, sweep_id: int) -> None:
        """Write progress to the sweep row (at most every 2 s; the API of another
        process and the stale-owner check read it)."""
        while True:
            await self._dirty.wait()
            self._dirty.clear()
            await self.sweeps.save(sweep_id, state=RUNNING, progress=self.progress.snapshot())
            await asyncio.sleep(2.0)

    async def _cancel_children(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    def _spawn(self, coro: Any) -> None:
        task: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- resuming ----------------------------------------------------------------------

    async def _resume_unfinished(self, sweep_id: int) -> None:
        rows = await self.sweeps.unfinished(sweep_id)
        if not rows:
            return
        log.info("sweep_resuming_actions", sweep_id=sweep_id, actions=len(rows))
        await asyncio.gather(*(self._resume_one(row) for row in rows))

    async def _resume_one(self, row: ActionRow) -> None:
        # The engine's crash-recovery path: verify first if the apply had started, else
        # run again from check (which re-reads live state). Gated when it was created.
        await self.engine._resume(row.record)
        stored = await self.engine.store.get_action(row.record.id or "")
        record = stored.record if stored is not None else row.record
        self.progress.resumed += 1
        self._tally([record], record.violation.rule_id)

    # -- reports -----------------------------------------------------------------------

    async def _read_reports(self, sweep_id: int) -> None:
        pairs = [(a, t) for a in self.request.accounts for t in self.request.report_types]
        self.progress.reports_expected = len(pairs)
        seen: set[tuple[str, str | None]] = set()
        for account, report_type in pairs:
            if self.stopping:
                break
            summary = await self._fetch(account, report_type)
            if summary is None:
                continue
            report_time = _report_epoch(summary)
            priors = await self.sweeps.priors(
                sweep_id,
                sorted({v.account_id for v in summary.violations} or {account}),
                report_time,
            )
            for violation in summary.violations:
                ident = (violation.key, violation.reason)
                if ident in seen:
                    continue
                seen.add(ident)
                self.progress.total += 1
                self.progress.count(violation.rule_id, "violations")
                if self._already_done(violation, priors, report_time):
                    self.progress.skipped += 1
                    self.progress.done += 1
                    self.progress.count(violation.rule_id, "skipped")
                    continue
                await self._room.acquire()
                self._spawn(self._work(_Item(violation, violation.rule_id)))
            self._dirty.set()

    async def _fetch(self, account: str, report_type: str) -> ReportSummary | None:
        assert self.lacework is not None
        note: dict[str, Any] = {"account_id": account, "report_type": report_type}
        attempt = 0
        while True:
            if not await self._lacework_pacer.acquire(self._stopping):
                return None
            attempt += 1
            try:
                report = await self.lacework.report(account, report_type)
            except LaceworkNotFound as exc:
                note.update(status="missing", error=_one_line(str(exc)))
                break
            except LaceworkAuthError:
                raise
            except LaceworkUnavailable as exc:
                if attempt > self.config.max_retries:
                    note.update(status="unavailable", error=_one_line(str(exc)))
                    break
                pause = self._lacework_pacer.throttled(exc.retry_after)
                self.progress.retried += 1
                log.warning(
                    "sweep_report_retry",
                    sweep_id=self.id,
                    account_id=account,
                    report_type=report_type,
                    attempt=attempt,
                    retry_in_s=round(pause, 2),
                    error=_one_line(str(exc)),
                )
                continue
            except LaceworkError as exc:
                note.update(status="error", error=_one_line(str(exc)))
                break
            self._lacework_pacer.succeeded()
            summary = violations_from_report(report, rules=self.request.rules)
            note.update(
                status="ok",
                report_time=summary.report_time,
                title=summary.report_type,
                violations=len(summary.violations),
                non_compliant=summary.non_compliant,
                compliant=summary.compliant,
                suppressed=summary.suppressed,
                suppressed_resources=summary.suppressed_resources,
                not_assessed=summary.not_assessed,
                dropped=len(summary.dropped),
            )
            self.progress.reports.append(note)
            log.info("sweep_report", sweep_id=self.id, **note)
            return summary
        self.progress.reports.append(note)
        log.warning("sweep_report_skipped", sweep_id=self.id, **note)
        return None

    def _remediations(self, violation: Violation) -> tuple[Remediation, ...]:
        match = self.engine.registry.index.lookup(violation.rule_id, violation.reason)
        return () if match.conflict is not None else match.remediations

    def _mode(self, rem: Remediation) -> Mode:
        return self.request.mode or self.engine.mode_for(rem.id)

    def _already_done(
        self,
        violation: Violation,
        priors: Mapping[_PriorKey, Prior],
        report_time: float | None,
    ) -> bool:
        rems = self._remediations(violation)
        ids = [r.id for r in rems] or [""]
        for rid in ids:
            prior = priors.get(
                (
                    violation.rule_id,
                    violation.resource_arn,
                    violation.account_id,
                    violation.reason or "",
                    rid,
                )
            )
            if prior is None:
                return False
            rem = self.engine.registry.get(rid)
            mode = self._mode(rem) if rem is not None else Mode.DRY_RUN
            if not settled(prior, mode, report_time=report_time):
                return False
        return True

    # -- work ----------------------------------------------------------------------------

    def _lane(self, violation: Violation) -> _Lane:
        key = (violation.account_id, violation.region or self.engine.config.aws.region)
        lane = self._lanes.get(key)
        if lane is None:
            lane = _Lane(
                Pacer(
                    self.config.rate_per_region,
                    burst=self.config.concurrency_per_region,
                    backoff=self.config.backoff_seconds,
                    backoff_max=self.config.backoff_max_seconds,
                ),
                asyncio.Semaphore(self.config.concurrency_per_region),
            )
            self._lanes[key] = lane
        return lane

    async def _pass_inbox(self, attempt: int) -> int:
        inbox_id = self._passes.get(attempt)
        if inbox_id is None:
            async with self._pass_lock:
                inbox_id = self._passes.get(attempt)
                if inbox_id is None:
                    assert self.id is not None
                    inbox_id = await self.sweeps.pass_inbox(self.id, attempt)
                    self._passes[attempt] = inbox_id
        return inbox_id

    async def _work(self, item: _Item) -> None:
        try:
            lane = self._lane(item.violation)
            while True:
                async with lane.slots:
                    if self.stopping or not await lane.pacer.acquire(self._stopping):
                        return  # not started
                    inbox_id = await self._pass_inbox(item.attempt)
                    token = _IN_SWEEP.set(self.id)
                    try:
                        records = await self.engine.handle_violation(
                            item.violation, inbox_id=inbox_id, mode=self.request.mode
                        )
                    finally:
                        _IN_SWEEP.reset(token)
                if any(is_throttled(r) for r in records):
                    pause = lane.pacer.throttled()
                    if item.attempt <= self.config.max_retries and not self.stopping:
                        self.progress.retried += 1
                        log.warning(
                            "sweep_throttled",
                            sweep_id=self.id,
                            account_id=item.violation.account_id,
                            region=item.violation.region,
                            resource_arn=item.violation.resource_arn,
                            attempt=item.attempt,
                            retry_in_s=round(pause, 2),
                        )
                        item.attempt += 1
                        continue
                else:
                    lane.pacer.succeeded()
                self._tally(records, item.rule)
                self.progress.done += 1
                return
        finally:
            self._room.release()

    def _tally(self, records: Sequence[ActionRecord], rule: str) -> None:
        for record in records:
            status = str(record.status) if record.status else "unknown"
            self.progress.statuses[status] += 1
            self.progress.count(rule, status)
            self.records.append(record)
        self._dirty.set()


# -- the sweep's gate ----------------------------------------------------------------------


def _install_gate(engine: Engine) -> None:
    """A remediation that is ``off`` in the configuration stays off in a sweep, whatever
    ``--mode`` says (the engine's gate only sees the mode it is handed)."""
    if any(getattr(g, "lw_remediate_sweep_gate", False) for g in engine.gates):
        return

    def off_stays_off(violation: Violation, rem: Remediation, mode: Mode) -> Decision | None:
        if _IN_SWEEP.get() is None or engine.config.mode_for(rem.id) is not Mode.OFF:
            return None
        return Decision(
            Status.REFUSED,
            f"remediation {rem.id} is off in the configuration (a sweep's mode does not turn it on)",
        )

    off_stays_off.lw_remediate_sweep_gate = True  # type: ignore[attr-defined]
    engine.gates.append(off_stays_off)


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
