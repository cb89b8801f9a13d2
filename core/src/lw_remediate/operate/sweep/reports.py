"""Reading a sweep's compliance reports: one request at a time through the shared
Lacework pacer, retried while the API is unavailable, each noted in the progress."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Final

import structlog

from ...config import SweepConfig
from ...ingest.lacework import (
    LaceworkAuthError,
    LaceworkClient,
    LaceworkError,
    LaceworkNotFound,
    LaceworkUnavailable,
)
from ...ingest.reports import ReportSummary, violations_from_report
from .pacing import Pacer
from .progress import SweepProgress

log = structlog.get_logger(__name__)

#: Report requests allowed back to back before the Lacework token bucket paces them.
LACEWORK_BURST: Final = 4


class ReportReader:
    """Fetches a sweep's reports; ``pacer`` is the token bucket every request shares."""

    def __init__(
        self,
        lacework: LaceworkClient | None,
        config: SweepConfig,
        progress: SweepProgress,
        rules: Sequence[str] | None,
        stopping: asyncio.Event,
    ) -> None:
        self.lacework = lacework
        self.config = config
        self.progress = progress
        self.rules = rules
        self._stopping = stopping
        self.pacer = Pacer(
            config.lacework_requests_per_minute / 60.0,
            burst=LACEWORK_BURST,
            backoff=config.backoff_seconds,
            backoff_max=config.backoff_max_seconds,
        )

    async def fetch(
        self, account: str, report_type: str, *, sweep_id: int | None
    ) -> ReportSummary | None:
        """The report's violations, or None when it is missing, unavailable after the
        retries, or the sweep stops; either way a note about it lands in the progress."""
        assert self.lacework is not None
        note: dict[str, Any] = {"account_id": account, "report_type": report_type}
        attempt = 0
        while True:
            if not await self.pacer.acquire(self._stopping):
                return None
            attempt += 1
            try:
                report = await self.lacework.report(account, report_type)
            except LaceworkNotFound as exc:
                note.update(status="missing", error=one_line(str(exc)))
                break
            except LaceworkAuthError:
                raise
            except LaceworkUnavailable as exc:
                if attempt > self.config.max_retries:
                    note.update(status="unavailable", error=one_line(str(exc)))
                    break
                pause = self.pacer.throttled(exc.retry_after)
                self.progress.retried += 1
                log.warning(
                    "sweep_report_retry",
                    sweep_id=sweep_id,
                    account_id=account,
                    report_type=report_type,
                    attempt=attempt,
                    retry_in_s=round(pause, 2),
                    error=one_line(str(exc)),
                )
                continue
            except LaceworkError as exc:
                note.update(status="error", error=one_line(str(exc)))
                break
            self.pacer.succeeded()
            summary = violations_from_report(report, rules=self.rules)
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
                drop_reasons=dict(summary.drop_reasons),
            )
            self.progress.reports.append(note)
            log.info("sweep_report", sweep_id=sweep_id, **note)
            return summary
        self.progress.reports.append(note)
        log.warning("sweep_report_skipped", sweep_id=sweep_id, **note)
        return None


def one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."
