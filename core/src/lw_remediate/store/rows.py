"""Row converters shared by the store backends.

A row is anything indexed by column name (``sqlite3.Row``, an asyncpg ``Record``);
both backends keep the same columns, so one reader per row type serves both.
"""

from __future__ import annotations

import json
import uuid
from typing import Any, Protocol

from ..model import ActionRecord, Mode, Plan, RecordedCall, Status, Verification, Violation
from ..redact import redact, redact_value
from .base import ActionRow, AuditEvent, ExemptionRow, FlapRow, InboxRow, SweepPriorRow


class Row(Protocol):
    def __getitem__(self, key: str, /) -> Any: ...


def dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str)


def loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def stored_body(body: Any) -> tuple[bytes, str]:
    """What the inbox keeps of a body: bytes as received (or the JSON text/value
    encoded as UTF-8) and the encoding JSON detects in them."""
    if isinstance(body, bytes | bytearray):
        raw = bytes(body)
    elif isinstance(body, str):
        raw = body.encode("utf-8", "surrogatepass")
    else:
        raw = json.dumps(body).encode("utf-8")
    return raw, json.detect_encoding(raw)


def read_body(value: bytes | str, encoding: str | None) -> tuple[bytes, str]:
    """A stored body back: version-2 rows are bytes with their encoding; version-1 rows
    are text (a UTF-8 BOM included when the body had one)."""
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogatepass")
        return raw, json.detect_encoding(raw)
    return bytes(value), encoding or json.detect_encoding(bytes(value))


def inbox_row(row: Row) -> InboxRow:
    raw, encoding = read_body(row["body"], row["body_encoding"])
    return InboxRow(
        id=row["id"],
        delivery_key=row["delivery_key"],
        shape=row["shape"],
        event_id=row["event_id"],
        raw=raw,
        encoding=encoding,
        state=row["state"],
        attempts=row["attempts"],
        received_at=row["received_at"],
        next_attempt_at=row["next_attempt_at"],
        last_error=row["last_error"],
    )


def action_record(row: Row) -> ActionRecord:
    plan = loads(row["plan"])
    return ActionRecord(
        remediation_id=row["remediation_id"],
        violation=Violation.from_dict(json.loads(row["violation"])),
        mode=Mode(row["mode"]),
        status=Status(row["status"]) if row["status"] else None,
        detail=row["detail"],
        plan=Plan.from_dict(plan) if plan else None,
        before_image=loads(row["before_image"]),
        after_image=loads(row["after_image"]),
        verification=Verification(row["verification"]) if row["verification"] else None,
        calls=[RecordedCall(**c) for c in json.loads(row["calls"])],
        error=row["error"],
        id=row["id"],
        state=row["state"],
    )


def action_row(row: Row) -> ActionRow:
    return ActionRow(
        record=action_record(row),
        violation_id=row["violation_id"],
        inbox_id=row["inbox_id"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        approver=row["approver"],
    )


def saved_action(record: ActionRecord) -> tuple[Any, ...]:
    """The values ``save_action`` writes: mode, state, status, detail, plan,
    before_image, after_image, verification, calls, error (secrets redacted)."""
    return (
        str(record.mode),
        record.state,
        str(record.status) if record.status else None,
        redact(record.detail),
        dumps(record.plan.to_dict() if record.plan else None),
        dumps(record.before_image),
        dumps(record.after_image),
        str(record.verification) if record.verification else None,
        json.dumps(redact_value([c.to_dict() for c in record.calls])),
        redact(record.error) if record.error else None,
    )


def new_action_id() -> str:
    return uuid.uuid4().hex[:12]


def new_violation(inbox_id: int | None, v: Violation, now: float) -> tuple[Any, ...]:
    """The values ``add_violation`` inserts: inbox_id, rule_id, source_rule_id,
    resource_arn, account_id, region, reason, resource_type, alert_id, created_at."""
    return (
        inbox_id,
        v.rule_id,
        v.source_rule_id,
        v.resource_arn,
        v.account_id,
        v.region,
        v.reason,
        v.resource_type,
        v.alert_id,
        now,
    )


def violation_key(inbox_id: int | None, v: Violation) -> tuple[Any, ...]:
    """What identifies a stored violation: inbox_id, rule_id, resource_arn, account_id,
    reason ('' for none)."""
    return (inbox_id, v.rule_id, v.resource_arn, v.account_id, v.reason or "")


def new_action(record: ActionRecord) -> tuple[Any, ...]:
    """The values ``create_action`` inserts after the ids: remediation_id, rule_id,
    resource_arn, account_id, mode, state, status, detail, violation."""
    return (
        record.remediation_id,
        record.violation.rule_id,
        record.violation.resource_arn,
        record.violation.account_id,
        str(record.mode),
        record.state,
        str(record.status) if record.status else None,
        record.detail,
        json.dumps(record.violation.to_dict()),
    )


def audit_event(row: Row) -> AuditEvent:
    return AuditEvent(
        row["at"],
        row["action_id"],
        row["actor"],
        row["kind"],
        row["detail"],
        json.loads(row["data"]),
    )


def audit_values(detail: str, data: dict[str, Any] | None) -> tuple[str, str]:
    return redact(detail), redact(json.dumps(data or {}, default=str))


def flap_row(row: Row) -> FlapRow:
    return FlapRow(
        id=row["id"],
        rule_id=row["rule_id"],
        account_id=row["account_id"],
        resource_arn=row["resource_arn"],
        flagged_at=row["flagged_at"],
        changes=row["changes"],
        cleared_at=row["cleared_at"],
        cleared_by=row["cleared_by"],
    )


def exemption_row(row: Row) -> ExemptionRow:
    return ExemptionRow(
        row["id"],
        json.loads(row["spec"]),
        row["created_at"],
        row["created_by"],
        row["removed_at"],
        row["removed_by"],
    )


def prior_row(row: Row) -> SweepPriorRow:
    return SweepPriorRow(
        rule_id=row["rule_id"],
        resource_arn=row["resource_arn"],
        account_id=row["account_id"],
        reason=row["reason"],
        remediation_id=row["remediation_id"],
        status=Status(row["status"]) if row["status"] else None,
        state=row["state"],
        mode=Mode(row["mode"]),
        updated_at=float(row["updated_at"]),
        this_sweep=bool(row["this_sweep"]),
        detail=row["detail"] or "",
        call_errors=frozenset(
            c["error"] for c in json.loads(row["calls"] or "[]") if c.get("error")
        ),
    )


def sweep_row(row: Row) -> dict[str, Any]:
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
