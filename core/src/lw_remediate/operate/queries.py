"""Reading operator input: the filters of an actions listing and the times operators
type (``24h``, ``30d``, a date), shared by the CLI, the admin API and the console."""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable
from typing import Any

from ..config import BudgetsConfig
from ..rules import canonical_rule_id
from ..safety.guard import HOUR
from ..store.base import ActionRow, Store
from .errors import BadRequest

#: How many of the newest actions a filtered listing looks through.
FILTER_WINDOW = 10000


def action_filter(
    *,
    rule: str | None,
    account: str | None,
    remediation: str | None,
    since: str | None,
) -> Callable[[ActionRow], bool] | None:
    """A predicate over stored actions for the given filters (``None``: no filter)."""
    rule, account, remediation = (v.strip() if v else None for v in (rule, account, remediation))
    after = parse_since(since).timestamp() if since and since.strip() else None
    if not (rule or account or remediation or after is not None):
        return None
    rule_ids = {rule, canonical_rule_id(rule)} if rule else set()

    def matches(row: ActionRow) -> bool:
        v = row.record.violation
        return (
            (not rule_ids or v.rule_id in rule_ids or canonical_rule_id(v.rule_id) in rule_ids)
            and (not account or v.account_id == account)
            and (not remediation or row.record.remediation_id == remediation)
            and (after is None or row.created_at >= after)
        )

    return matches


async def list_actions(
    store: Store,
    *,
    limit: int,
    status: str | None = None,
    rule: str | None = None,
    account: str | None = None,
    remediation: str | None = None,
    since: str | None = None,
) -> list[ActionRow]:
    """The newest ``limit`` stored actions matching the filters; with a filter other
    than status, the matches among the newest :data:`FILTER_WINDOW` (or ``limit``)."""
    matches = action_filter(rule=rule, account=account, remediation=remediation, since=since)
    if matches is None:
        return await store.list_actions(limit=limit, status=status)
    window = await store.list_actions(limit=max(limit, FILTER_WINDOW), status=status)
    return [r for r in window if matches(r)][:limit]


def parse_since(text: str) -> datetime.datetime:
    """``24h``, ``7d``, ``30m`` ago, or a date / date-time (UTC unless it says)."""
    return _moment(text, "since", "24h", sign=-1)


def parse_expiry(text: str) -> datetime.datetime:
    """``2026-12-31``, ``2026-12-31T18:00:00Z`` or a duration ``30d`` / ``12h`` from now."""
    return _moment(text, "expires", "30d", sign=1)


def _moment(text: str, field: str, example: str, *, sign: int) -> datetime.datetime:
    """A date or date-time (UTC unless it says), or a duration from now (``sign`` 1:
    ahead, -1: ago)."""
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if match:
        amount = int(match.group(1)) * sign
        delta = {
            "d": datetime.timedelta(days=amount),
            "h": datetime.timedelta(hours=amount),
            "m": datetime.timedelta(minutes=amount),
        }[match.group(2)]
        return datetime.datetime.now(datetime.UTC).replace(microsecond=0) + delta
    try:
        value = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{field}: {text!r} is not a date, a date-time or a duration like {example}"
        ) from None
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


async def budget_usage(store: Store, budgets: BudgetsConfig, now: float) -> list[dict[str, Any]]:
    """Each budget with its limit and what the rolling hour has used: the global one, and
    per account and per rule the busiest first (the store counts, so every instance on a
    shared store sees the same figures)."""
    usage = await store.change_usage(now - HOUR)

    def busiest(counts: dict[str, int]) -> list[dict[str, Any]]:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"key": k, "used": n} for k, n in ranked[:10]]

    return [
        {"budget": "global", "limit": budgets.global_per_hour, "used": usage.total, "top": []},
        {
            "budget": "per account",
            "limit": budgets.per_account_per_hour,
            "used": max(usage.by_account.values(), default=0),
            "top": busiest(usage.by_account),
        },
        {
            "budget": "per rule",
            "limit": budgets.per_rule_per_hour,
            "used": max(usage.by_rule.values(), default=0),
            "top": busiest(usage.by_rule),
        },
    ]
