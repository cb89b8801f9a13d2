"""``lw-remediate sweep``: fix the backlog the latest compliance reports list.

Progress goes to stderr: a bar redrawn in place on a terminal, a plain line every
``[sweep] progress_seconds`` otherwise. The summary table (or ``--json``) goes to
stdout. Ctrl-C (or SIGTERM) once: running actions finish and are recorded, no new one
starts; twice: running actions are abandoned too (their records say how far they got,
and the next run finishes them). Exit status: 0 done, 1 done with failed actions or
unreadable reports (or the sweep could not run), 2 bad arguments or configuration,
130 interrupted.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import click

from ..config import load_config
from ..model import ActionRecord
from ..operate.control import Actor, BadRequest
from ..operate.sweep import (
    COMPLETED,
    INTERRUPTED,
    KNOWN_REPORT_TYPES,
    SUMMARY_STATUSES,
    Sweep,
    SweepError,
    SweepRequest,
)
from ..runtime import Runtime
from .control import by_option
from .options import config_option

#: Column titles of the summary table, by status (the six of SUMMARY_STATUSES come first).
_TITLES = {
    "remediated": "REMEDIATED",
    "planned": "PLANNED",
    "manual": "MANUAL",
    "exempted": "EXEMPTED",
    "refused": "REFUSED",
    "failed": "FAILED",
    "awaiting_approval": "APPROVAL",
    "resolved": "RESOLVED",
    "unverified": "UNVERIFIED",
    "no_remediation": "NO_REMEDIATION",
    "reverted": "REVERTED",
    "unknown": "UNKNOWN",
    "skipped": "DONE_BEFORE",
}


def _split(values: Sequence[str]) -> list[str]:
    """``--account A --account B`` and ``--account A,B`` alike."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("sweep")
@click.option(
    "--account",
    "accounts",
    multiple=True,
    metavar="ID",
    help="AWS account to sweep (repeat, or comma-separate).",
)
@click.option(
    "--all-accounts", is_flag=True, help="Sweep every account of the [aws] accounts allow-list."
)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="R",
    help="Only these rules (legacy or lacework-global-N ids; repeat).",
)
@click.option(
    "--mode",
    type=click.Choice(["dry-run", "approve", "auto"]),
    default=None,
    help="Mode of every remediation for this sweep (default: each one's configured mode; "
    "a remediation that is off stays off).",
)
@click.option(
    "--report-type",
    "report_types",
    multiple=True,
    metavar="TYPE",
    help="Report type to read (repeat; default [sweep] report_types): "
    + ", ".join(KNOWN_REPORT_TYPES[:4])
    + ", ...",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output on stdout.")
@by_option
@config_option
def sweep_command(
    accounts: tuple[str, ...],
    all_accounts: bool,
    rules: tuple[str, ...],
    mode: str | None,
    report_types: tuple[str, ...],
    as_json: bool,
    by: str,
    config_path: str | None,
) -> None:
    """Remediate every violation the latest compliance reports list.

    Reads GET /api/v2/Reports for each account and report type, skips compliant and
    suppressed recommendations, and runs each violation through the daemon's gate and
    dispatcher (modes, exemptions, budgets, locks, audit trail). Re-running the same
    command after an interruption continues the sweep without repeating finished work.
    """
    from ..operate.sweep import build_request
    from ..runtime import Runtime

    config = load_config(config_path)
    runtime = Runtime(config)
    registry = runtime.registry
    try:
        request = build_request(
            config,
            registry,
            accounts=_split(accounts),
            all_accounts=all_accounts,
            rules=_split(rules),
            mode=mode,
            report_types=_split(report_types),
        )
    except SweepError as exc:
        raise click.UsageError(str(exc)) from None
    try:
        actor = Actor(by, "cli")
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None
    if runtime.lacework is None:
        raise click.UsageError(
            "sweeping needs the Lacework API: set [lacework] account (or api_url), key_id "
            "and secret (or LW_ACCOUNT, LW_API_KEY, LW_API_SECRET)"
        )
    stream = sys.stderr
    view = ProgressView(stream, tty=stream.isatty(), interval=config.sweep.progress_seconds)
    sweep, aborted = asyncio.run(_run(runtime, request, view, actor))
    snapshot = sweep.snapshot()
    if as_json:
        click.echo(
            json.dumps(
                {"sweep": snapshot, "actions": [action_json(r) for r in sweep.records]},
                indent=2,
                default=str,
            )
        )
    else:
        for line in summary_lines(snapshot):
            click.echo(line)
    # sys.exit, not ctx.exit: main() runs click with standalone_mode=False, where an
    # Exit is returned rather than raised.
    if aborted or sweep.state == INTERRUPTED:
        sys.exit(130)
    failed = snapshot["statuses"].get("failed", 0)
    unreadable = [r for r in snapshot["reports"] if r.get("status") not in ("ok", "missing")]
    unusable = sum(int(r.get("dropped") or 0) for r in snapshot["reports"])
    if sweep.state != COMPLETED or failed or unreadable or unusable:
        sys.exit(1)


async def _run(
    runtime: Runtime, request: SweepRequest, view: ProgressView, actor: Actor
) -> tuple[Sweep, bool]:
    """Run the sweep with signal handling and a progress view; close what was opened."""
    async with runtime:
        return await _run_open(runtime, request, view, actor)


async def _run_open(
    runtime: Runtime, request: SweepRequest, view: ProgressView, actor: Actor
) -> tuple[Sweep, bool]:
    sweep = Sweep(runtime.engine, request, actor=actor)
    loop = asyncio.get_running_loop()
    runner = asyncio.create_task(sweep.run())
    presses = 0

    def interrupt() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            sweep.stop()
            view.note(
                "stopping: running actions finish and are recorded, no new one starts "
                "(Ctrl-C again to abandon them)"
            )
        else:
            runner.cancel()

    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, interrupt)
            handled.append(sig)
        except (NotImplementedError, RuntimeError):  # not the main thread (tests) or Windows
            pass
    painter = asyncio.create_task(view.follow(sweep))
    aborted = False
    try:
        await runner
    except asyncio.CancelledError:
        if not runner.cancelled():
            raise
        aborted = True
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        painter.cancel()
        await asyncio.gather(painter, return_exceptions=True)
        view.close(sweep)
    return sweep, aborted


class ProgressView:
    """Sweep progress on a stream: a bar on a terminal, plain periodic lines otherwise."""

    def __init__(self, stream: TextIO, *, tty: bool, interval: float) -> None:
        self.stream = stream
        self.tty = tty
        self.interval = interval
        self._last = ""
        self._drawn = False

    async def follow(self, sweep: Sweep) -> None:
        """Repaint until cancelled: every 0.2 s on a terminal, every ``interval`` otherwise."""
        while True:
            if sweep.id is not None:
                self.show(sweep)
            await asyncio.sleep(0.2 if self.tty or sweep.id is None else self.interval)

    def show(self, sweep: Sweep) -> None:
        snap = sweep.snapshot()
        if self.tty:
            self.stream.write("\r" + bar_line(snap) + "\x1b[K")
            self._drawn = True
        else:
            line = plain_line(snap)
            if line != self._last:
                self.stream.write(line + "\n")
                self._last = line
        self.stream.flush()

    def note(self, text: str) -> None:
        if self.tty and self._drawn:
            self.stream.write("\n")
            self._drawn = False
        self.stream.write(f"lw-remediate: {text}\n")
        self.stream.flush()

    def close(self, sweep: Sweep) -> None:
        if sweep.id is None:
            return
        self.show(sweep)
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _counts(snap: dict[str, Any]) -> str:
    statuses: dict[str, int] = snap["statuses"]
    parts = [f"{k.replace('_', ' ')} {v}" for k, v in statuses.items() if v]
    if snap["skipped"]:
        parts.append(f"done before {snap['skipped']}")
    if snap["retried"]:
        parts.append(f"retries {snap['retried']}")
    return ", ".join(parts) or "nothing finished yet"


def plain_line(snap: dict[str, Any]) -> str:
    """``sweep 3 running: 37/120 violations done (remediated 30, ...); reports 2/2``."""
    reports = f"reports {len(snap['reports'])}/{snap['reports_expected']}"
    return (
        f"sweep {snap['id']} {snap['state']}: {snap['done']}/{snap['total']} violations done "
        f"({_counts(snap)}); {reports}"
    )


def bar_line(snap: dict[str, Any], width: int = 24) -> str:
    """``sweep 3 [#########---------] 37/120 remediated 30, ...``."""
    total, done = snap["total"], snap["done"]
    filled = width if total and done >= total else (width * done // total if total else 0)
    reading = len(snap["reports"]) < snap["reports_expected"]
    suffix = (
        f"  reading reports {len(snap['reports'])}/{snap['reports_expected']}" if reading else ""
    )
    return (
        f"sweep {snap['id']} [{'#' * filled}{'-' * (width - filled)}] {done}/{total}  "
        f"{_counts(snap)}{suffix}"
    )


def action_json(record: ActionRecord) -> dict[str, Any]:
    return record.summary()


def summary_lines(snap: dict[str, Any]) -> list[str]:
    """The final table (one row per rule, then TOTAL) and what the reports said."""
    rules: dict[str, dict[str, int]] = snap["rules"]
    present = {k for counts in rules.values() for k, v in counts.items() if v}
    keys = list(SUMMARY_STATUSES) + [
        k for k in _TITLES if k not in SUMMARY_STATUSES and k != "skipped" and k in present
    ]
    keys.append("skipped")
    header = ["RULE", "VIOLATIONS", *(_TITLES.get(k, k.upper()) for k in keys)]
    rows = [
        [rule, str(counts.get("violations", 0)), *(str(counts.get(k, 0)) for k in keys)]
        for rule, counts in rules.items()
    ]
    totals = ["TOTAL", str(sum(c.get("violations", 0) for c in rules.values()))]
    totals += [str(sum(c.get(k, 0) for c in rules.values())) for k in keys]
    table = [header, *rows, totals] if rows else [header, totals]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r)
        ).rstrip()
        for r in table
    ]
    seconds = max(0.0, time.time() - float(snap.get("started_at") or time.time()))
    accounts = len(snap["request"]["accounts"])
    lines.append(
        f"sweep {snap['id']} {snap['state']} (run {snap['run']}) in {seconds:.1f}s: "
        f"{snap['total']} violations in {accounts} account(s), "
        f"{len(snap['reports'])}/{snap['reports_expected']} reports read; "
        f"{snap['skipped']} done before, {snap['not_started']} not started"
        + (
            f", {snap['unmatched']} with no remediation installed (not paced)"
            if snap.get("unmatched")
            else ""
        )
        + (f", {snap['resumed']} interrupted actions finished" if snap["resumed"] else "")
    )
    for report in snap["reports"]:
        if report.get("status") != "ok":
            lines.append(
                f"report {report['report_type']} for {report['account_id']}: "
                f"{report.get('status')}: {report.get('error', '')}"
            )
        elif report.get("dropped"):
            reasons = "; ".join(
                f"{n} {why}" for why, n in (report.get("drop_reasons") or {}).items()
            )
            lines.append(
                f"report {report['report_type']} for {report['account_id']}: "
                f"{report['dropped']} row(s) not usable: {reasons}"
            )
    if snap.get("error"):
        lines.append(f"error: {snap['error']}")
    return lines
