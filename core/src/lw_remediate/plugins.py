"""Loading map distributions and notifiers (the registry and rule index: :mod:`.registry`).

Entry points in the ``lw_remediate.maps`` group are loaded one at a time. A map
that fails to import, declares an unknown hook or returns bad declarations is
logged with its distribution name and version and skipped, unless ``strict`` is
set. Rule conflicts (two remediations claiming one rule) are reported at load time
and left unused until the operator picks one.

Notifiers come through the same loader (:func:`load_notifiers`): the built-in ones
first, then the same entry points, each plugin isolated the same way.
"""

from __future__ import annotations

import functools
import importlib.metadata as md
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass
from importlib import import_module
from typing import Any

import pluggy
import structlog

from . import hookspecs
from ._markers import ENTRY_POINT_GROUP, PROJECT_NAME
from .activity import ActivityPolicy
from .config import Config, NotifyConfig
from .errors import MapLoadError
from .notification import Notifier
from .registry import MapInfo, MapRegistry, Match, RuleConflict, RuleIndex
from .remediation import Remediation

log = structlog.get_logger(__name__)

# The registry's types, importable from here as before the split.
__all__ = [
    "MapInfo",
    "MapRegistry",
    "Match",
    "RuleConflict",
    "RuleIndex",
    "load_maps",
    "load_notifiers",
    "load_registry",
    "plugin_manager",
]


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with lw-remediate's hook specifications and no plugins."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


@dataclass(frozen=True)
class _Candidate:
    """A plugin to load: an entry point, a built-in module or an object given by a caller."""

    name: str
    version: str
    entry_point: str
    load: Callable[[], object]


def _candidates(
    *,
    allow: Iterable[str] | None,
    extra_plugins: Sequence[tuple[str, object]],
    entry_points: bool,
    log_skipped: bool = True,
) -> list[_Candidate]:
    """Entry points of the ``lw_remediate.maps`` group (sorted, allow-listed), then extras."""
    allowed = {_normalise(a) for a in allow} if allow is not None else None
    candidates: list[_Candidate] = []
    if entry_points:
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            name = dist.name if dist is not None else ep.name
            version = dist.version if dist is not None else "?"
            if allowed is not None and _normalise(name) not in allowed:
                if log_skipped:
                    log.info("map_skipped_not_allowed", distribution=name, version=version)
                continue
            candidates.append(_Candidate(name, version, f"{ep.name} = {ep.value}", ep.load))
    for name, obj in extra_plugins:
        candidates.append(
            _Candidate(name, "0", f"<registered {name}>", functools.partial(_same, obj))
        )
    return candidates


def _same(obj: object) -> object:
    return obj


def _load_isolated(
    pm: pluggy.PluginManager,
    candidates: Iterable[_Candidate],
    use: Callable[[_Candidate, object], None],
    *,
    strict: bool,
    event: str,
    on_failure: Callable[[_Candidate, str], None] | None = None,
) -> None:
    """Load each candidate and hand it to ``use``, one at a time, isolating failures.

    ``use`` registers the plugin and collects what its hooks return; it raises to
    reject the plugin. A candidate that fails to import, register or pass ``use`` is
    unregistered, logged as ``event`` with its distribution and version, reported to
    ``on_failure`` and skipped; with ``strict`` the first failure raises
    :class:`MapLoadError` instead.
    """
    for cand in candidates:
        plugin: object = None
        try:
            plugin = cand.load()
            use(cand, plugin)
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".strip()
            log.error(event, distribution=cand.name, version=cand.version, error=error)
            if plugin is not None and pm.get_plugin(cand.name) is plugin:
                pm.unregister(name=cand.name)
            if on_failure is not None:
                on_failure(cand, error)
            if strict:
                raise MapLoadError(
                    f"map {cand.name} {cand.version} failed to load: {error}"
                ) from exc


def load_registry(config: Config) -> MapRegistry:
    """Load the maps the config allows and validate the per-remediation tables.

    Every command that reads the configuration goes through here, so an invalid
    option table fails the same way everywhere: one :class:`ConfigError` naming the key.
    """
    registry = load_maps(
        allow=config.maps.allow, strict=config.strict_maps, rule_choices=config.rules
    )
    config.validate_remediations(registry.remediations)
    return registry


def load_maps(
    *,
    allow: Iterable[str] | None = None,
    strict: bool = False,
    rule_choices: Mapping[str, str] | None = None,
    extra_plugins: Sequence[tuple[str, object]] = (),
    entry_points: bool = True,
) -> MapRegistry:
    """Load installed maps (entry points), then ``extra_plugins`` (name, object) pairs.

    :param allow: if given, only these distribution names are loaded.
    :param strict: raise :class:`MapLoadError` on the first map that fails.
    :param rule_choices: operator's pick per conflicting rule (rule id -> remediation id).
    """
    pm = plugin_manager()
    registry = MapRegistry()

    def use(cand: _Candidate, plugin: object) -> None:
        remediations = _register(pm, cand.name, plugin)
        clash = [r.id for r in remediations if r.id in registry.remediations]
        if clash:
            raise MapLoadError(
                f"remediation id(s) already provided by another map: {', '.join(clash)}"
            )
        policies = list(_call_own(pm, "lw_remediate_activity_policies", plugin))
        bad = [type(p).__name__ for p in policies if not isinstance(p, ActivityPolicy)]
        if bad:
            raise MapLoadError(
                f"lw_remediate_activity_policies returned {', '.join(bad)}, not ActivityPolicy"
            )
        for rem in remediations:
            registry.remediations[rem.id] = rem
            registry.origin[rem.id] = cand.name
        if policies:
            registry.activity_policies[cand.name] = policies
        registry.touch_hooks += [
            (cand.name, impl.function)
            for impl in pm.hook.lw_remediate_touched_resources.get_hookimpls()
            if impl.plugin is plugin
        ]
        registry.maps.append(
            MapInfo(cand.name, cand.version, cand.entry_point, tuple(r.id for r in remediations))
        )
        log.info(
            "map_loaded",
            distribution=cand.name,
            version=cand.version,
            remediations=len(remediations),
        )

    def failed(cand: _Candidate, error: str) -> None:
        registry.maps.append(MapInfo(cand.name, cand.version, cand.entry_point, error=error))

    _load_isolated(
        pm,
        _candidates(allow=allow, extra_plugins=extra_plugins, entry_points=entry_points),
        use,
        strict=strict,
        event="map_load_failed",
        on_failure=failed,
    )

    registry.index = RuleIndex(registry.remediations.values(), rule_choices)
    for conflict in registry.index.conflicts.values():
        log.warning(
            "rule_conflict",
            rule_id=conflict.rule_id,
            remediations=list(conflict.remediation_ids),
            resolve=f"[rules] {conflict.config_line}",
        )
        if strict:
            raise MapLoadError(str(conflict))
    return registry


def _register_checked(pm: pluggy.PluginManager, name: str, plugin: object) -> None:
    """Register ``plugin``; reject it when it implements a hook that does not exist."""
    pm.register(plugin, name=name)
    unknown = [
        attr
        for attr in dir(plugin)
        if attr.startswith(f"{PROJECT_NAME}_")
        and pm.parse_hookimpl_opts(plugin, attr) is not None
        and getattr(getattr(pm.hook, attr, None), "spec", None) is None
    ]
    if unknown:
        raise MapLoadError(f"unknown hook(s): {', '.join(unknown)}")


def _call_own(pm: pluggy.PluginManager, hook: str, plugin: object, **kwargs: Any) -> Iterator[Any]:
    """Call ``plugin``'s implementations of ``hook`` only (not the other plugins'), each
    with the subset of ``kwargs`` it accepts, and yield the items they return."""
    for impl in getattr(pm.hook, hook).get_hookimpls():
        if impl.plugin is not plugin:
            continue
        result: Iterable[Any] = impl.function(*(kwargs[a] for a in impl.argnames)) or ()
        yield from result


def _register(pm: pluggy.PluginManager, name: str, plugin: object) -> list[Remediation]:
    _register_checked(pm, name, plugin)
    found: list[Remediation] = []
    for item in _call_own(pm, "lw_remediate_remediations", plugin):
        if not isinstance(item, Remediation):
            raise MapLoadError(
                f"lw_remediate_remediations returned {type(item).__name__}, not Remediation"
            )
        found.append(item)
    ids = [r.id for r in found]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise MapLoadError(f"duplicate remediation id(s): {', '.join(dupes)}")
    return found


# -- Notifiers --------------------------------------------------------------------------


def _core_version() -> str:
    try:
        return md.version("lw-remediate")
    except md.PackageNotFoundError:  # pragma: no cover - running from a bare source tree
        return "?"


def load_notifiers(
    config_notify: Mapping[str, Any] | NotifyConfig,
    *,
    extra_plugins: Sequence[tuple[str, object]] = (),
    allow: Iterable[str] | None = None,
    strict: bool = False,
    entry_points: bool = True,
) -> list[Notifier]:
    """Build the configured notifiers through the ``lw_remediate_notifiers`` hook.

    The built-in notifiers (:data:`lw_remediate.notify.builtin.BUILTIN_NOTIFIERS`) are
    registered first, then installed plugins (the ``lw_remediate.maps`` entry points,
    honouring ``allow``), then ``extra_plugins`` (name, object) pairs. Each plugin is
    loaded and called on its own: one that fails to import, raises (e.g. on bad
    settings), or returns something that is not a :class:`Notifier` is logged as
    ``notifier_load_failed`` and skipped, unless ``strict``. A configured channel
    table that yields no notifier is logged as ``notify_channel_unclaimed``.

    :param config_notify: the ``[notify]`` table (channel name -> settings), or the
        validated :class:`~lw_remediate.config.NotifyConfig`.
    """
    from .notify.builtin import BUILTIN_NOTIFIERS

    tables: Mapping[str, Any] = (
        config_notify.channels() if isinstance(config_notify, NotifyConfig) else config_notify
    )
    pm = plugin_manager()
    notifiers: list[Notifier] = []
    core_version = _core_version()
    candidates = [
        _Candidate(
            module, core_version, f"<built-in {module}>", functools.partial(import_module, module)
        )
        for module in BUILTIN_NOTIFIERS
    ]
    candidates += _candidates(
        allow=allow, extra_plugins=extra_plugins, entry_points=entry_points, log_skipped=False
    )

    def use(cand: _Candidate, plugin: object) -> None:
        _register_checked(pm, cand.name, plugin)
        found: list[Notifier] = []
        # Each plugin gets its own copy: one cannot change what the next one reads.
        for item in _call_own(pm, "lw_remediate_notifiers", plugin, config=deepcopy(tables)):
            if not isinstance(item, Notifier) or not inspect.iscoroutinefunction(item.notify):
                raise MapLoadError(
                    f"lw_remediate_notifiers returned {type(item).__name__}, not a Notifier "
                    "(a 'name' and an 'async def notify(notification)')"
                )
            found.append(item)
        taken = {n.name for n in notifiers}
        clash = sorted({n.name for n in found} & taken)
        if clash:
            raise MapLoadError(f"notifier name(s) already provided: {', '.join(clash)}")
        notifiers.extend(found)
        if found:
            log.info(
                "notifier_loaded",
                distribution=cand.name,
                version=cand.version,
                notifiers=[n.name for n in found],
            )

    _load_isolated(pm, candidates, use, strict=strict, event="notifier_load_failed")
    # Built-in channels (``slack``) are validated by the config model and report their
    # own problems; their table is there, empty, whenever the model was dumped whole.
    builtin_channels = set(NotifyConfig.model_fields)
    for channel in sorted(set(tables) - builtin_channels - {n.name for n in notifiers}):
        log.warning(
            "notify_channel_unclaimed",
            channel=channel,
            detail=f"[notify.{channel}] produced no notifier: no installed plugin handles it, "
            "or its settings are incomplete",
        )
    return notifiers
