"""The registry of loaded maps and the rule index that routes a violation to them.

:class:`RuleIndex` looks a violation's rule up (declared ids, the official equivalence
of legacy and ``lacework-global-*`` ids, a shared new id narrowed by reason) and holds the
rule conflicts found when it was built; :class:`MapRegistry` is what
:func:`lw_remediate.plugins.load_maps` returns: the map distributions, their
remediations, the index and the maps' cloud-activity hooks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from .activity import ActivityEvent, ActivityPolicy, TouchedResource
from .model import Violation
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
