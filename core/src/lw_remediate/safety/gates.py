"""The gates: one explicit, ordered list of the stages that decide whether an action
runs at all, before it makes any AWS call of its own.

Like the stages of Alertmanager's notification pipeline, each gate looks at one
:class:`Candidate` (violation x remediation x mode) and lets it through (None) or ends
it with a :class:`Decision`; the first decision wins and is recorded as the action's
outcome. :func:`standard_gates` is the list, in this order:

1. :func:`account_allowed`: the ``[aws] accounts`` allow-list (refused);
2. :func:`mode_on`: the remediation's mode is ``off`` (refused);
3. :meth:`Safety.exemption_gate`: exemptions by ARN, account or live tags (exempted;
   refused, failing closed, when the tags cannot be read);
4. :meth:`Safety.flap_gate`: a resource something keeps undoing (refused).

Gates added at run time come after these (a sweep adds one: a remediation that is
``off`` in the configuration stays off whatever the sweep's mode).

The kill switch and the budgets are not gates: :meth:`Safety.before_apply` checks
them after ``check`` and ``plan``, right before the write, because the budget is
reserved atomically with it and the kill switch must hold at that moment.
"""

from __future__ import annotations

import inspect

from ..config import Config
from ..model import Mode, Status
from .decision import Candidate, Decision, Gate
from .guard import Safety


def account_allowed(config: Config) -> Gate:
    """Refuse accounts outside a non-empty ``[aws] accounts`` allow-list."""

    def gate(c: Candidate) -> Decision | None:
        accounts = config.aws.accounts
        if accounts and c.violation.account_id not in accounts:
            return Decision(
                Status.REFUSED, f"account {c.violation.account_id} is not in [aws] accounts"
            )
        return None

    return gate


def mode_on(c: Candidate) -> Decision | None:
    """Refuse a remediation whose mode is ``off``."""
    if c.mode is Mode.OFF:
        return Decision(Status.REFUSED, f"remediation {c.remediation.id} is off")
    return None


def standard_gates(config: Config, safety: Safety) -> list[Gate]:
    """The gates every action passes, in order."""
    return [account_allowed(config), mode_on, safety.exemption_gate, safety.flap_gate]


async def run_gates(gates: list[Gate], candidate: Candidate) -> Decision | None:
    """The first gate's decision, or None when every gate lets the candidate through."""
    for gate in gates:
        decision = gate(candidate)
        if inspect.isawaitable(decision):
            decision = await decision
        if decision is not None:
            return decision
    return None
