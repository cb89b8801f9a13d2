"""Violations from a compliance report (``GET /api/v2/Reports?format=json``), for sweeps."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from ..model import Violation
from ..rules import canonical_rule_id, reason_suffix
from .fields import aws_account, lookup, objects, one_line, parse_arn, rule_text, scalar_text

log = structlog.get_logger(__name__)

_MESSAGE_LIMIT = 200

_STATUS_NON_COMPLIANT = "noncompliant"
_STATUS_COMPLIANT = "compliant"
_STATUS_SUPPRESSED = "suppressed"
_STATUS_NOT_ASSESSED = frozenset({"couldnotassess", "requiresmanualassessment"})


@dataclass(frozen=True)
class ReportSummary:
    """What a compliance report holds to act on, and what was skipped.

    ``violations``: one per NonCompliant (resource, reason) that is not suppressed.
    Counts are of recommendations unless named ``*_resources``; ``dropped`` has one line
    per violation row that could not become a :class:`Violation` (no 12-digit account,
    not an ARN, ...).
    """

    violations: tuple[Violation, ...]
    report_type: str | None = None
    account_id: str | None = None
    report_time: str | None = None
    recommendations: int = 0
    non_compliant: int = 0
    compliant: int = 0
    suppressed: int = 0
    not_assessed: int = 0
    other_status: int = 0
    filtered_out: int = 0
    suppressed_resources: int = 0
    dropped: tuple[str, ...] = ()

    @property
    def skipped(self) -> int:
        """Recommendations not acted on (compliant, suppressed, not assessed, other)."""
        return self.compliant + self.suppressed + self.not_assessed + self.other_status

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_type": self.report_type,
            "account_id": self.account_id,
            "report_time": self.report_time,
            "recommendations": self.recommendations,
            "non_compliant": self.non_compliant,
            "compliant": self.compliant,
            "suppressed": self.suppressed,
            "not_assessed": self.not_assessed,
            "other_status": self.other_status,
            "filtered_out": self.filtered_out,
            "suppressed_resources": self.suppressed_resources,
            "violations": [v.to_dict() for v in self.violations],
            "dropped": list(self.dropped),
        }


def violations_from_report(
    report: Mapping[str, Any], *, rules: Collection[str] | None = None
) -> ReportSummary:
    """The violations in a compliance report (``data[0]``, or the whole ``{"data": [...]}``).

    Only ``NonCompliant`` recommendations count; ``Compliant``, ``Suppressed``,
    ``CouldNotAssess`` and ``RequiresManualAssessment`` are skipped and counted.
    ``rules`` (any alias form) limits the recommendations looked at. A violation whose
    resource is listed in the recommendation's ``SUPPRESSIONS`` (as an ARN, the ARN's
    resource part, or the bare name; ``*``/``?`` patterns and ``ALL_RESOURCES`` too) is
    skipped. The account is the recommendation's ``ACCOUNT_ID`` (else the ARN's, else the
    report's ``accountId``); a row whose ARN names a different account is dropped.
    Reasons with or without the ``REC_ID_`` prefix become the bare suffix; a resource
    with several reasons gives one violation per reason, like EventBridge rows.
    """
    reports = [report]
    data = lookup(report, "data")
    if lookup(report, "recommendations") is None and data is not None:
        reports = objects(data)
    wanted = {canonical_rule_id(r) for r in rules} if rules is not None else None

    violations: list[Violation] = []
    dropped: list[str] = []
    seen: set[tuple[str, str | None]] = set()
    counts = dict.fromkeys(
        (
            "recommendations",
            "non_compliant",
            "compliant",
            "suppressed",
            "not_assessed",
            "other_status",
            "filtered_out",
            "suppressed_resources",
        ),
        0,
    )
    for one in reports:
        report_account = aws_account(lookup(one, "accountId"))
        for rec in objects(lookup(one, "recommendations")):
            rule = rule_text(lookup(rec, "REC_ID"))
            counts["recommendations"] += 1
            if wanted is not None and (rule is None or canonical_rule_id(rule) not in wanted):
                counts["filtered_out"] += 1
                continue
            status = (scalar_text(lookup(rec, "STATUS")) or "").lower()
            if status == _STATUS_COMPLIANT:
                counts["compliant"] += 1
                continue
            if status == _STATUS_SUPPRESSED:
                counts["suppressed"] += 1
                continue
            if status in _STATUS_NOT_ASSESSED:
                counts["not_assessed"] += 1
                continue
            if status != _STATUS_NON_COMPLIANT:
                counts["other_status"] += 1
                continue
            counts["non_compliant"] += 1
            if rule is None:
                dropped.append("NonCompliant recommendation without REC_ID")
                continue
            suppressions = [
                s for s in (scalar_text(x) for x in _as_list(lookup(rec, "SUPPRESSIONS"))) if s
            ]
            rec_account = aws_account(lookup(rec, "ACCOUNT_ID"))
            for row in objects(lookup(rec, "VIOLATIONS")):
                resource = scalar_text(lookup(row, "resource"))
                arn = parse_arn(resource)
                if arn is None:
                    dropped.append(_report_note(rule, resource, "resource is not an ARN"))
                    continue
                if _suppressed(str(arn), suppressions):
                    counts["suppressed_resources"] += 1
                    continue
                arn_account = aws_account(arn.account)
                if arn.account and arn_account is None:
                    dropped.append(
                        _report_note(rule, resource, "ARN account is not a 12-digit account id")
                    )
                    continue
                if rec_account and arn_account and rec_account != arn_account:
                    dropped.append(
                        _report_note(rule, resource, "ACCOUNT_ID disagrees with the ARN")
                    )
                    continue
                account = rec_account or arn_account or report_account
                if account is None:
                    dropped.append(_report_note(rule, resource, "no 12-digit account id"))
                    continue
                region = scalar_text(lookup(row, "region")) or arn.region or None
                reasons: list[str | None] = [
                    r for r in (scalar_text(x) for x in _as_list(lookup(row, "reasons"))) if r
                ]
                for reason in reasons or [None]:
                    violation = Violation(
                        rule_id=canonical_rule_id(rule),
                        resource_arn=str(arn),
                        account_id=account,
                        region=region,
                        reason=reason_suffix(reason, rule),
                        resource_type=None,
                        source_rule_id=rule,
                        alert_id=None,
                    )
                    if (violation.key, violation.reason) not in seen:
                        seen.add((violation.key, violation.reason))
                        violations.append(violation)
    first = reports[0] if reports else {}
    summary = ReportSummary(
        violations=tuple(violations),
        report_type=scalar_text(lookup(first, "reportType")),
        account_id=scalar_text(lookup(first, "accountId")),
        report_time=scalar_text(lookup(first, "reportTime")),
        dropped=tuple(dropped),
        **counts,
    )
    if dropped:
        log.warning(
            "report_violations_dropped",
            report_type=summary.report_type,
            account_id=summary.account_id,
            dropped=len(dropped),
            reasons=dropped[:10],
        )
    return summary


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _suppressed(arn: str, suppressions: list[str]) -> bool:
    """True when a SUPPRESSIONS entry names this resource (ARN, resource part or bare name)."""
    if not suppressions:
        return False
    parsed = parse_arn(arn)
    forms = {arn}
    if parsed is not None:
        forms |= {parsed.resource, parsed.resource_name}
    for entry in suppressions:
        if entry.upper() in ("ALL_RESOURCES", "*"):
            return True
        candidates = {entry}
        entry_arn = parse_arn(entry) if entry.startswith("arn:") else None
        if entry_arn is not None:
            candidates.add(str(entry_arn))
        for candidate in candidates:
            if candidate in forms:
                return True
            if any(ch in candidate for ch in "*?") and any(
                fnmatch.fnmatchcase(form, candidate) for form in forms
            ):
                return True
    return False


def _report_note(rule: str, resource: str | None, why: str) -> str:
    return _line(f"{rule} {resource if resource is not None else '<no resource>'}: {why}")


def _line(text: str) -> str:
    return one_line(text, _MESSAGE_LIMIT)
