"""The safety envelope: approvals, exemptions, budgets, the kill switch, the flap guard.

See docs/operating.md for what an operator sees; :class:`Safety` is what the engine
consults before and during every action.
"""

from __future__ import annotations

from .decision import Candidate, Decision, Gate
from .exemptions import Exemption, config_exemptions, core_policy, exemption_policy
from .gates import account_allowed, mode_on, run_gates, standard_gates
from .guard import SYSTEM_ACTOR, Safety
from .killswitch import KillSwitch, KillSwitchState

__all__ = [
    "SYSTEM_ACTOR",
    "Candidate",
    "Decision",
    "Exemption",
    "Gate",
    "KillSwitch",
    "KillSwitchState",
    "Safety",
    "account_allowed",
    "config_exemptions",
    "core_policy",
    "exemption_policy",
    "mode_on",
    "run_gates",
    "standard_gates",
]
