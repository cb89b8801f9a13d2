"""Rule ids: the official legacy <-> ``lacework-global-N`` equivalence and reason suffixes.

The table (``data/rule_aliases.toml``) is only the official equivalence data, for every
AWS rule Lacework lists; which remediation answers an id is the maps' declaration
(``Remediation.rules`` and ``Remediation.rule_ids``, routed by
:class:`lw_remediate.registry.RuleIndex`). Ids match case-insensitively.
"""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Mapping
from importlib import resources

_GLOBAL_RE = re.compile(r"^lacework-global-(\d+)$", re.IGNORECASE)


@functools.cache
def rule_aliases() -> Mapping[str, str]:
    """Legacy id -> ``lacework-global-N`` id, loaded from the bundled data file."""
    text = resources.files("lw_remediate").joinpath("data/rule_aliases.toml").read_text("utf-8")
    table: dict[str, str] = tomllib.loads(text)["aliases"]
    return table


@functools.cache
def _legacy_by_new() -> Mapping[str, tuple[str, ...]]:
    table: dict[str, list[str]] = {}
    for legacy, new in rule_aliases().items():
        table.setdefault(new.lower(), []).append(legacy)
    return {new: tuple(legacies) for new, legacies in table.items()}


@functools.cache
def _legacy_by_upper() -> Mapping[str, str]:
    return {legacy.upper(): legacy for legacy in rule_aliases()}


def normal_rule_id(rule_id: str) -> str:
    """A rule id in its normal spelling: ``lacework-global-N`` lower case, others upper."""
    rid = rule_id.strip()
    if _GLOBAL_RE.match(rid):
        return rid.lower()
    return _legacy_by_upper().get(rid.upper(), rid.upper())


def legacy_ids(rule_id: str) -> tuple[str, ...]:
    """The legacy rules a ``lacework-global-N`` id stands for (two for -68, -79, -148,
    -196..-198, -231); ``(rule_id,)`` for a legacy id; ``()`` for a new id without one."""
    rid = normal_rule_id(rule_id)
    if _GLOBAL_RE.match(rid):
        return _legacy_by_new().get(rid, ())
    return (rid,)


def canonical_rule_id(rule_id: str) -> str:
    """The canonical form of a rule id.

    ``lacework-global-97`` -> ``LW_S3_16``; ``lw_s3_16`` -> ``LW_S3_16``; a
    ``lacework-global-N`` id without a legacy equivalent stays (lower-cased), and so does
    one that stands for two legacy rules (``lacework-global-68``: AWS_CIS_4_1 and 4_2),
    until a map's declaration tells them apart (:class:`~lw_remediate.RuleId`);
    any other id is upper-cased (legacy ids are upper case).
    """
    rid = normal_rule_id(rule_id)
    legacies = legacy_ids(rid) if _GLOBAL_RE.match(rid) else ()
    return legacies[0] if len(legacies) == 1 else rid


def rule_forms(rule_id: str) -> frozenset[str]:
    """Every name of a rule: its normal spelling, its new id, the legacy ids it stands for."""
    rid = normal_rule_id(rule_id)
    forms = {rid, *legacy_ids(rid)}
    new = rule_aliases().get(rid)
    if new is not None:
        forms.add(new.lower())
    return frozenset(forms)


def alias_of(rule_id: str) -> str | None:
    """The other name of a rule (legacy <-> new), or None when it has none (or, for a new
    id that stands for two legacy rules, no single one)."""
    rid = normal_rule_id(rule_id)
    if _GLOBAL_RE.match(rid):
        legacies = legacy_ids(rid)
        return legacies[0] if len(legacies) == 1 else None
    new = rule_aliases().get(rid)
    return new.lower() if new is not None else None


def shares_new_id(rule_id: str) -> tuple[str, ...]:
    """The other legacy rules a legacy rule's ``lacework-global-N`` id also stands for."""
    new = alias_of(rule_id)
    if new is None or not _GLOBAL_RE.match(new):
        return ()
    return tuple(r for r in legacy_ids(new) if r != normal_rule_id(rule_id))


def reason_suffix(reason: str | None, rule_id: str | None = None) -> str | None:
    """The bare reason suffix: ``LW_S3_1_ReadAccessGranted`` -> ``ReadAccessGranted``.

    Reports may already carry the bare suffix; new-style events prefix the
    ``lacework-global-N`` id instead of the legacy one. Both prefixes are stripped.
    """
    if not reason:
        return None
    text = reason.strip()
    candidates: list[str] = []
    if rule_id:
        candidates += [rule_id.strip(), *rule_forms(rule_id)]
    for prefix in sorted(candidates, key=len, reverse=True):
        if text.lower().startswith(prefix.lower() + "_"):
            return text[len(prefix) + 1 :]
    match = re.match(r"^(lacework-global-\d+|[A-Z0-9]+(?:_[A-Z0-9]+)*_\d+)_(.+)$", text)
    if match:
        return match.group(2)
    return text
