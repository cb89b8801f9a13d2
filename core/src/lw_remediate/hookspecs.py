"""Hook specifications: the one place where lw-remediate's hooks are declared.

Hooks are synchronous and return data; the core awaits the coroutines inside that
data. Every hook here is documented in ``docs/hooks.md`` (a test enforces it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    from .activity import ActivityEvent, ActivityPolicy, TouchedResource
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


@hookspec
def lw_remediate_activity_policies() -> Iterable[ActivityPolicy]:  # type: ignore[empty-body]
    """Declare the classes of cloud-activity alert this map answers (for listings).

    :return: :class:`~lw_remediate.ActivityPolicy` objects: each event class with its
        Lacework policy ids (when public), CloudTrail API names and response kind.
        ``lw-remediate maps`` lists them; what actually runs is decided per alert by
        ``lw_remediate_touched_resources``.
    """


# -- Per-alert hooks: called for each cloud-activity alert -----------------------------


@hookspec
def lw_remediate_touched_resources(event: ActivityEvent) -> Iterable[TouchedResource]:  # type: ignore[empty-body]
    """Say which resources a cloud-activity alert touched, and how to answer each.

    Called once per activity alert (a CloudTrail-based alert such as a security group
    change or ``StopLogging``), after the core parsed its details, unless the loop
    protection already ended it (the daemon's own change coming back). Return nothing
    for an event this map does not answer. Runs synchronously: read only ``event``,
    never AWS.

    :param event: the :class:`~lw_remediate.ActivityEvent` (actor, API calls, region,
        source IPs, resource ids).
    :return: :class:`~lw_remediate.TouchedResource` objects. With no
        ``remediation_ids`` the core re-evaluates the resource with every installed
        remediation of its ``resource_type``; with ``remediation_ids`` it runs exactly
        those. Either way through the one pipeline, the event recorded as the cause.
    """
