"""The safety envelope: approvals, exemptions, budgets, the kill switch, the flap guard.

See docs/operating.md for what an operator sees; :class:`Safety` is what the engine
consults before and during every action.
"""

from __future__ import annotations

from .exemptions import Exemption, config_exemptions, core_policy, exemption_policy
from .guard import SYSTEM_ACTOR, Safety, Verdict
from .killswitch import KillSwitch, KillSwitchState

__all__ = [
    "SYSTEM_ACTOR",
    "Exemption",
    "KillSwitch",
    "KillSwitchState",
    "Safety",
    "Verdict",
    "config_exemptions",
    "core_policy",
    "exemption_policy",
]
