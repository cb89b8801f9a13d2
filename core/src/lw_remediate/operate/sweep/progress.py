"""Progress of one sweep run: the counts the CLI and the API show."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Final

#: The outcome columns every summary shows, in order.
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
    #: Violations no installed remediation takes (or a rule conflict holds): recorded at
    #: once, never paced or queued behind AWS work.
    unmatched: int = 0
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
            "unmatched": self.unmatched,
            "statuses": dict(sorted(self.statuses.items())),
            "rules": {r: dict(sorted(c.items())) for r, c in sorted(self.rules.items())},
            "reports": list(self.reports),
            "reports_expected": self.reports_expected,
        }
