"""Violations from a compliance report (``GET /api/v2/Reports?format=json``), for sweeps."""

from __future__ import annotations

import fnmatch
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import structlog

from ..model import Violation
from ..rules import canonical_rule_id, reason_suffix, rule_forms
from .fields import Drops, aws_account, lookup, objects, parse_arn, rule_text, scalar_text
from .targets import Unusable, partition_of, region_text, resolve

log = structlog.get_logger(__name__)

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
    a bare id without a region, ...) and ``drop_reasons`` the number of rows per reason
    (every row: they sum to ``len(dropped)``).
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
    drop_reasons: Mapping[str, int] = field(default_factory=dict)

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
            "drop_reasons": dict(self.drop_reasons),
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
    report's ``accountId``); a row whose resource names a different account is dropped.
    Rows without a resource are account-level targets (region-level with a ``region``);
    bare account ids, bare EC2 ids and AWS-owned ARNs are resolved as
    :mod:`lw_remediate.ingest.targets` says. Reasons with or without the ``REC_ID_`` prefix become the bare suffix; a resource
    with several reasons gives one violation per reason, like EventBridge rows.
    """
    reports = [report]
    data = lookup(report, "data")
    if lookup(report, "recommendations") is None and data is not None:
        reports = objects(data)
    wanted = {f for r in rules for f in rule_forms(r)} if rules is not None else None

    violations: list[Violation] = []
    drops = Drops()
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
        partition = _partition(one)
        for rec in objects(lookup(one, "recommendations")):
            rule = rule_text(lookup(rec, "REC_ID"))
            counts["recommendations"] += 1
            if wanted is not None and (rule is None or not rule_forms(rule) & wanted):
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
                drops.add(None, None, "NonCompliant recommendation without REC_ID")
                continue
            suppressions = [
                s for s in (scalar_text(x) for x in _as_list(lookup(rec, "SUPPRESSIONS"))) if s
            ]
            rec_account = aws_account(lookup(rec, "ACCOUNT_ID"))
            for row in objects(lookup(rec, "VIOLATIONS")):
                resource = lookup(row, "resource")
                region = region_text(lookup(row, "region"))
                try:
                    target = resolve(
                        resource,
                        account=rec_account,
                        default_account=report_account,
                        region=region,
                        partition=partition,
                    )
                except Unusable as exc:
                    drops.add(rule, scalar_text(resource), str(exc))
                    continue
                if _suppressed(target.resource_arn, suppressions, scalar_text(resource)):
                    counts["suppressed_resources"] += 1
                    continue
                reasons: list[str | None] = [
                    r for r in (scalar_text(x) for x in _as_list(lookup(row, "reasons"))) if r
                ]
                for reason in reasons or [None]:
                    violation = Violation(
                        rule_id=canonical_rule_id(rule),
                        resource_arn=target.resource_arn,
                        account_id=target.account_id,
                        region=target.region,
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
        dropped=drops.lines(),
        drop_reasons=drops.counts(),
        **counts,
    )
    if drops:
        log.warning(
            "report_violations_dropped",
            report_type=summary.report_type,
            account_id=summary.account_id,
            dropped=len(drops),
            reasons=drops.counts(),
        )
    return summary


def _partition(report: Mapping[str, Any]) -> str:
    """The partition of the report's ARNs (for rows that name none), ``aws`` by default."""
    for rec in objects(lookup(report, "recommendations")):
        for row in objects(lookup(rec, "VIOLATIONS")):
            arn = parse_arn(lookup(row, "resource"))
            if arn is not None and arn.account != "aws":
                return arn.partition
            region = region_text(lookup(row, "region"))
            if region is not None:
                return partition_of(region)
    return "aws"


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list):
        return value
    return [] if value is None else [value]


def _suppressed(arn: str, suppressions: list[str], original: str | None = None) -> bool:
    """True when a SUPPRESSIONS entry names this resource (ARN, resource part, bare name,
    or the resource as the row gave it: a bare id, an account id)."""
    if not suppressions:
        return False
    parsed = parse_arn(arn)
    forms = {arn} | ({original} if original else set())
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
