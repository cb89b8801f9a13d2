"""Loading map distributions and indexing their remediations by rule id.

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
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from copy import deepcopy
from dataclasses import dataclass, field, replace
from importlib import import_module
from typing import Any

import pluggy
import structlog

from . import hookspecs
from ._markers import ENTRY_POINT_GROUP, PROJECT_NAME
from .activity import ActivityEvent, ActivityPolicy, TouchedResource
from .config import Config, NotifyConfig
from .errors import MapLoadError
from .model import Violation
from .notification import Notifier
from .remediation import Remediation, RuleId
from .rules import alias_of, canonical_rule_id, legacy_ids, normal_rule_id

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MapInfo:
    """One map distribution as loaded (or not)."""

    name: str
    version: str
    entry_point: str
    remediations: tuple[str, ...] = ()
    error: str | None = None

    @property
    def loaded(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class RuleConflict:
    """Several remediations claim one rule or id (with overlapping reasons), none chosen."""

    rule_id: str
    remediation_ids: tuple[str, ...]

    @property
    def config_line(self) -> str:
        """The ``[rules]`` line that resolves it (the first claimant; pick the one you want)."""
        return f'{self.rule_id} = "{self.remediation_ids[0]}"'

    def __str__(self) -> str:
        claimants = ", ".join(self.remediation_ids)
        return (
            f"rule {self.rule_id} is claimed by {claimants}; choose one under [rules] in the "
            f"config, e.g. {self.config_line}"
        )


@dataclass(frozen=True)
class Match:
    """The result of looking a violation's rule up in the index.

    ``rule_id`` is the rule the remediations see (canonical; for a new id standing for
    two legacy rules, the one a declaration says); ``detail`` says why nothing matched
    when the index can tell more than "no remediation".
    """

    remediations: tuple[Remediation, ...] = ()
    conflict: RuleConflict | None = None
    rule_id: str | None = None
    detail: str | None = None


class RuleIndex:
    """Remediations indexed by rule id (O(1) lookup per violation).

    Routing of a violation (``rule_id``, ``source_rule_id`` as sent, ``reason``):

    1. an id a remediation declares in ``rule_ids`` (:class:`~lw_remediate.RuleId`),
       the id as sent first, narrowed by reason; the remediation sees the rule the
       declaration means;
    2. the canonical rule in ``rules`` (the official equivalence maps either form);
    3. a new id that stands for two legacy rules goes to the one whose remediation
       declares the violation's reason (``Remediation.reasons``), else to a remediation
       that answers all of them (it sees the shared id itself as ``rule_id``); if none
       does, nothing runs and the detail says what to declare;
    4. a legacy id whose new id a remediation declares as such (``rules`` holding an
       id that stands for two legacy rules).
    """

    def __init__(
        self, remediations: Iterable[Remediation], choices: Mapping[str, str] | None = None
    ) -> None:
        chosen = {canonical_rule_id(rule): rid for rule, rid in (choices or {}).items()}
        by_rule: dict[str, list[Remediation]] = defaultdict(list)
        by_id: dict[str, list[tuple[RuleId, Remediation]]] = defaultdict(list)
        for rem in remediations:
            for rule in rem.rules:
                if rule in chosen and chosen[rule] != rem.id:
                    continue
                by_rule[rule].append(rem)
            for decl in rem.rule_ids:
                if decl.id in chosen and chosen[decl.id] != rem.id:
                    continue
                by_id[decl.id].append((decl, rem))
        self._by_rule: dict[str, tuple[Remediation, ...]] = {
            k: tuple(v) for k, v in by_rule.items()
        }
        self._by_id: dict[str, tuple[tuple[RuleId, Remediation], ...]] = {
            k: tuple(v) for k, v in by_id.items()
        }
        self.conflicts: dict[str, RuleConflict] = {}
        for rule, rems in self._by_rule.items():
            clashing = _overlapping(rems)
            if clashing:
                self.conflicts[rule] = RuleConflict(rule, tuple(sorted(r.id for r in clashing)))
        for rid, decls in self._by_id.items():
            clashing_ids = _overlapping_declarations(decls)
            if clashing_ids and rid not in self.conflicts:
                self.conflicts[rid] = RuleConflict(rid, clashing_ids)

    def lookup(
        self, rule_id: str, reason: str | None = None, *, source_rule_id: str | None = None
    ) -> Match:
        for rid in dict.fromkeys(normal_rule_id(x) for x in (source_rule_id, rule_id) if x):
            decls = [(d, r) for d, r in self._by_id.get(rid, ()) if d.accepts(reason)]
            if decls:
                if rid in self.conflicts:
                    return Match(conflict=self.conflicts[rid])
                decls.sort(key=lambda dr: not dr[0].reasons)  # a reason-narrowed one first
                rems = tuple(dict.fromkeys(r for _, r in decls))
                return Match(rems, rule_id=decls[0][0].rule_id)
        rule = canonical_rule_id(rule_id)
        if rule in self.conflicts:
            return Match(conflict=self.conflicts[rule])
        rems = tuple(r for r in self._by_rule.get(rule, ()) if r.takes_reason(reason))
        if rems:
            return Match(rems, rule_id=rule)
        legacies = legacy_ids(rule) if rule.startswith("lacework-global-") else ()
        if len(legacies) > 1:
            return self._shared(rule, legacies, reason)
        for new in (alias_of(rule),):
            if new is not None and new in self._by_rule:
                if new in self.conflicts:
                    return Match(conflict=self.conflicts[new])
                found = tuple(r for r in self._by_rule[new] if r.takes_reason(reason))
                if found:
                    return Match(found, rule_id=rule)
        return Match()

    def _shared(self, rule: str, legacies: Sequence[str], reason: str | None) -> Match:
        """A new id standing for several legacy rules, with no declaration of its own."""
        by_reason = [
            (legacy, rem)
            for legacy in legacies
            for rem in self._by_rule.get(legacy, ())
            if rem.reasons and reason is not None and reason in rem.reasons
        ]
        if len({legacy for legacy, _ in by_reason}) == 1:
            legacy = by_reason[0][0]
            if legacy in self.conflicts:
                return Match(conflict=self.conflicts[legacy])
            return Match(tuple(dict.fromkeys(r for _, r in by_reason)), rule_id=legacy)
        claimants = sorted({r.id for legacy in legacies for r in self._by_rule.get(legacy, ())})
        if not claimants:
            return Match()
        # A remediation that answers every rule the id stands for takes it as sent: it
        # sees the shared id as rule_id (and source_rule_id), e.g. to act on both ports.
        whole = tuple(
            rem
            for rem in self._by_rule.get(legacies[0], ())
            if all(rem in self._by_rule.get(legacy, ()) for legacy in legacies)
            and rem.takes_reason(reason)
        )
        if whole:
            held = [c for c in (self.conflicts.get(legacy) for legacy in legacies) if c]
            return Match(conflict=held[0]) if held else Match(whole, rule_id=rule)
        return Match(
            detail=(
                f"{rule} stands for {' and '.join(legacies)} and reason "
                f"{reason or '(none)'} does not say which; {', '.join(claimants)} must "
                f'declare it, e.g. rule_ids=(RuleId("{rule}", reasons=("{reason or "..."}",), '
                f'means="{legacies[0]}"),)'
            )
        )

    def route(self, violation: Violation) -> tuple[Violation, Match]:
        """Look the violation up; the violation as its remediations see it (``rule_id``
        the rule routed to) and the match."""
        match = self.lookup(
            violation.rule_id, violation.reason, source_rule_id=violation.source_rule_id
        )
        if match.rule_id and match.rule_id != violation.rule_id:
            violation = replace(violation, rule_id=match.rule_id)
        return violation, match

    def knows(self, rule_id: str) -> bool:
        """True when some remediation may answer this rule (as declared, through the
        official equivalence, or one of the legacy rules a shared new id stands for)."""
        rid = normal_rule_id(rule_id)
        canonical = canonical_rule_id(rid)
        candidates = {canonical, *legacy_ids(canonical)}
        new = alias_of(canonical)
        if new is not None:
            candidates.add(new)
        return rid in self._by_id or bool(candidates & set(self._by_rule))

    @property
    def rules(self) -> frozenset[str]:
        """Every rule and declared id a remediation answers."""
        return frozenset(self._by_rule) | frozenset(self._by_id)


def _overlapping(rems: Sequence[Remediation]) -> list[Remediation]:
    clashing: list[Remediation] = []
    for i, a in enumerate(rems):
        for b in rems[i + 1 :]:
            if not a.reasons or not b.reasons or set(a.reasons) & set(b.reasons):
                for r in (a, b):
                    if r not in clashing:
                        clashing.append(r)
    return clashing


def _overlapping_declarations(decls: Sequence[tuple[RuleId, Remediation]]) -> tuple[str, ...]:
    """Ids of remediations whose declarations of one id overlap in reasons."""
    clashing: set[str] = set()
    for i, (a, ra) in enumerate(decls):
        for b, rb in decls[i + 1 :]:
            if ra.id == rb.id:
                continue
            if not a.reasons or not b.reasons or set(a.reasons) & set(b.reasons):
                clashing |= {ra.id, rb.id}
    return tuple(sorted(clashing))


@dataclass
class MapRegistry:
    """What was loaded: map distributions, their remediations and the rule index."""

    maps: list[MapInfo] = field(default_factory=list)
    remediations: dict[str, Remediation] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    index: RuleIndex = field(default_factory=lambda: RuleIndex(()))
    #: (distribution, implementation) of each map's ``lw_remediate_touched_resources``.
    touch_hooks: list[tuple[str, Callable[..., Any]]] = field(default_factory=list)
    #: distribution -> the activity alert classes it declares (``lw-remediate maps``).
    activity_policies: dict[str, list[ActivityPolicy]] = field(default_factory=dict)

    @property
    def failed(self) -> list[MapInfo]:
        return [m for m in self.maps if not m.loaded]

    def get(self, remediation_id: str) -> Remediation | None:
        return self.remediations.get(remediation_id)

    def for_resource_type(self, resource_type: str) -> list[Remediation]:
        """The installed remediations declaring ``resource_type`` (``ec2:security-group``),
        in id order: what re-evaluating a resource of that type runs."""
        wanted = resource_type.strip().lower()
        return sorted(
            (r for r in self.remediations.values() if (r.resource_type or "").lower() == wanted),
            key=lambda r: r.id,
        )

    def touched_resources(self, event: ActivityEvent) -> list[TouchedResource]:
        """Every map's answer to ``lw_remediate_touched_resources(event)``. A map whose hook
        raises or returns something else is logged (``touched_resources_failed``) and
        skipped; the others still answer."""
        found: list[TouchedResource] = []
        for name, function in self.touch_hooks:
            try:
                items = list(function(event=event) or ())
                bad = [type(i).__name__ for i in items if not isinstance(i, TouchedResource)]
                if bad:
                    raise TypeError(f"returned {', '.join(bad)}, not TouchedResource")
            except Exception as exc:  # noqa: BLE001 - one map's bug never stops the alert
                log.error(
                    "touched_resources_failed",
                    distribution=name,
                    alert_id=event.alert_id,
                    error=f"{type(exc).__name__}: {exc}",
                )
                continue
            found.extend(items)
        return found


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
