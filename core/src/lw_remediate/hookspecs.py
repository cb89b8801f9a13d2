"""Hook specifications: the one place where lw-remediate's hooks are declared.

Hooks are synchronous and return data; the core awaits the coroutines inside that
data. Every hook here is documented in ``docs/hooks.md`` (a test enforces it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    from .notification import Notifier
    from .remediation import Remediation


# -- Registration hooks: called once at start-up, return declarations -----------------


@hookspec
def lw_remediate_remediations() -> Iterable[Remediation]:  # type: ignore[empty-body]
    """Register remediations.

    :return: the :class:`~lw_remediate.Remediation` objects this map provides. Each id
        must be unique across all installed maps.
    """


@hookspec
def lw_remediate_notifiers(config: Mapping[str, Any]) -> Iterable[Notifier]:  # type: ignore[empty-body]
    """Register notification channels.

    Called once at start-up, after the configuration is loaded.

    :param config: the whole ``[notify]`` table: channel name -> that channel's settings
        (``{"slack": {"webhook_url": ...}, "teams": {...}}``). Read only your own
        channel's table; it may be absent.
    :return: :class:`~lw_remediate.Notifier` objects for the channels this plugin
        recognises *and* that are configured (nothing when its table is missing). A
        notifier's ``name`` should be its channel's table name.
    """
