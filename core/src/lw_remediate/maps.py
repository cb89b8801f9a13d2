"""Loading map distributions and indexing their remediations by rule id.

Entry points in the ``lw_remediate.maps`` group are loaded one at a time. A map
that fails to import, declares an unknown hook or returns bad declarations is
logged with its distribution name and version and skipped, unless ``strict`` is
set. Rule conflicts (two remediations claiming one rule) are reported at load time
and left unused until the operator picks one.
"""

from __future__ import annotations

import importlib.metadata as md
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pluggy
import structlog

from . import hookspecs
from ._markers import ENTRY_POINT_GROUP, PROJECT_NAME
from .errors import MapLoadError
from .remediation import Remediation
from .rules import canonical_rule_id

log = structlog.get_logger("lw_remediate.maps")


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
    """Several remediations claim one rule (with overlapping reasons) and none was chosen."""

    rule_id: str
    remediation_ids: tuple[str, ...]

    def __str__(self) -> str:
        claimants = ", ".join(self.remediation_ids)
        return (
            f"rule {self.rule_id} is claimed by {claimants}; choose one under [rules] in the "
            f'config, e.g. {self.rule_id} = "{self.remediation_ids[0]}"'
        )


@dataclass(frozen=True)
class Match:
    """The result of looking a violation's rule up in the index."""

    remediations: tuple[Remediation, ...] = ()
    conflict: RuleConflict | None = None


class RuleIndex:
    """Remediations indexed by canonical rule id (O(1) lookup per violation)."""

    def __init__(
        self, remediations: Iterable[Remediation], choices: Mapping[str, str] | None = None
    ) -> None:
        chosen = {canonical_rule_id(rule): rid for rule, rid in (choices or {}).items()}
        by_rule: dict[str, list[Remediation]] = defaultdict(list)
        for rem in remediations:
            for rule in rem.rules:
                if rule in chosen and chosen[rule] != rem.id:
                    continue
                by_rule[rule].append(rem)
        self._by_rule: dict[str, tuple[Remediation, ...]] = {
            k: tuple(v) for k, v in by_rule.items()
        }
        self.conflicts: dict[str, RuleConflict] = {}
        for rule, rems in self._by_rule.items():
            clashing = _overlapping(rems)
            if clashing:
                self.conflicts[rule] = RuleConflict(rule, tuple(sorted(r.id for r in clashing)))

    def lookup(self, rule_id: str, reason: str | None = None) -> Match:
        rule = canonical_rule_id(rule_id)
        if rule in self.conflicts:
            return Match(conflict=self.conflicts[rule])
        rems = self._by_rule.get(rule, ())
        return Match(tuple(r for r in rems if r.handles(rule, reason)))

    @property
    def rules(self) -> frozenset[str]:
        return frozenset(self._by_rule)


def _overlapping(rems: Sequence[Remediation]) -> list[Remediation]:
    clashing: list[Remediation] = []
    for i, a in enumerate(rems):
        for b in rems[i + 1 :]:
            if not a.reasons or not b.reasons or set(a.reasons) & set(b.reasons):
                for r in (a, b):
                    if r not in clashing:
                        clashing.append(r)
    return clashing


@dataclass
class MapRegistry:
    """What was loaded: map distributions, their remediations and the rule index."""

    maps: list[MapInfo] = field(default_factory=list)
    remediations: dict[str, Remediation] = field(default_factory=dict)
    origin: dict[str, str] = field(default_factory=dict)
    index: RuleIndex = field(default_factory=lambda: RuleIndex(()))

    @property
    def failed(self) -> list[MapInfo]:
        return [m for m in self.maps if not m.loaded]

    def get(self, remediation_id: str) -> Remediation | None:
        return self.remediations.get(remediation_id)


def plugin_manager() -> pluggy.PluginManager:
    """A plugin manager with lw-remediate's hook specifications and no plugins."""
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


def _normalise(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


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
    allowed = {_normalise(a) for a in allow} if allow is not None else None
    candidates: list[tuple[str, str, str, Any]] = []
    if entry_points:
        for ep in sorted(md.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist
            name = dist.name if dist is not None else ep.name
            version = dist.version if dist is not None else "?"
            if allowed is not None and _normalise(name) not in allowed:
                log.info("map_skipped_not_allowed", distribution=name, version=version)
                continue
            candidates.append((name, version, f"{ep.name} = {ep.value}", ep))
    for name, obj in extra_plugins:
        candidates.append((name, "0", f"<registered {name}>", obj))

    for name, version, ep_text, target in candidates:
        try:
            plugin = target.load() if isinstance(target, md.EntryPoint) else target
            remediations = _register(pm, name, plugin)
            clash = [r.id for r in remediations if r.id in registry.remediations]
            if clash:
                raise MapLoadError(
                    f"remediation id(s) already provided by another map: {', '.join(clash)}"
                )
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}".strip()
            log.error("map_load_failed", distribution=name, version=version, error=error)
            if pm.get_plugin(name) is not None:
                pm.unregister(name=name)
            registry.maps.append(MapInfo(name, version, ep_text, error=error))
            if strict:
                raise MapLoadError(f"map {name} {version} failed to load: {error}") from exc
            continue
        for rem in remediations:
            registry.remediations[rem.id] = rem
            registry.origin[rem.id] = name
        registry.maps.append(MapInfo(name, version, ep_text, tuple(r.id for r in remediations)))
        log.info("map_loaded", distribution=name, version=version, remediations=len(remediations))

    registry.index = RuleIndex(registry.remediations.values(), rule_choices)
    for conflict in registry.index.conflicts.values():
        log.warning(
            "rule_conflict", rule_id=conflict.rule_id, remediations=list(conflict.remediation_ids)
        )
        if strict:
            raise MapLoadError(str(conflict))
    return registry


def _register(pm: pluggy.PluginManager, name: str, plugin: object) -> list[Remediation]:
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
    found: list[Remediation] = []
    for impl in pm.hook.lw_remediate_remediations.get_hookimpls():
        if impl.plugin is not plugin:
            continue
        result: Iterable[Any] = impl.function() or ()  # type: ignore[assignment]
        for item in result:
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
