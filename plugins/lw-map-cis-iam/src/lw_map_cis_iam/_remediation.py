"""A :class:`~lw_remediate.Remediation` whose undo policy depends on the options.

The core's ``revert_policy`` is a fixed policy, but some undo actions here are scoped to
a resource the operator names (the require-MFA group, the support role, the per-user
group prefix). ``revert_option_policy`` computes those from the options, and
``policy_for(options, revert=True)`` (used by ``lw-remediate policy`` and the test
kit) includes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lw_remediate import IamPolicy, Remediation, RemediationOptions


@dataclass(frozen=True)
class IamRemediation(Remediation):
    """``Remediation`` plus ``revert_option_policy``: undo actions that depend on options."""

    revert_option_policy: Callable[[Any], IamPolicy] | None = None

    def policy_for(
        self, options: RemediationOptions | None = None, *, revert: bool = False
    ) -> IamPolicy:
        policy = super().policy_for(options, revert=revert)
        if revert and self.revert_option_policy is not None:
            chosen = options if options is not None else self.default_options()
            policy = policy + self.revert_option_policy(chosen)
        return policy
