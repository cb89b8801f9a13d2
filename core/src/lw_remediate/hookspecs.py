"""Hook specifications: the one place where lw-remediate's hooks are declared.

Hooks are synchronous and return data; the core awaits the coroutines inside that
data. Every hook here is documented in ``docs/hooks.md`` (a test enforces it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from ._markers import hookspec

if TYPE_CHECKING:
    from .remediation import Remediation


# -- Registration hooks: called once at start-up, return declarations -----------------


@hookspec
def lw_remediate_remediations() -> Iterable[Remediation]:  # type: ignore[empty-body]
    """Register remediations.

    :return: the :class:`~lw_remediate.Remediation` objects this map provides. Each id
        must be unique across all installed maps.
    """
