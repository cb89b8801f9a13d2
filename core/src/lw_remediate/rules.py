"""Rule ids: the legacy <-> ``lacework-global-N`` alias table and reason normalisation.

Maps declare one canonical id per rule (the legacy id where one exists); the core
maps whatever Lacework sends onto it, case-insensitively.
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
def _reverse() -> Mapping[str, str]:
    return {new.lower(): legacy for legacy, new in rule_aliases().items()}


@functools.cache
def _legacy_by_upper() -> Mapping[str, str]:
    return {legacy.upper(): legacy for legacy in rule_aliases()}


def canonical_rule_id(rule_id: str) -> str:
    """The canonical form of a rule id.

    ``lacework-global-97`` -> ``LW_S3_16``; ``lw_s3_16`` -> ``LW_S3_16``; a
    ``lacework-global-N`` id without a legacy equivalent stays (lower-cased);
    any other id is upper-cased (legacy ids are upper case).
    """
    rid = rule_id.strip()
    if _GLOBAL_RE.match(rid):
        return _reverse().get(rid.lower(), rid.lower())
    return _legacy_by_upper().get(rid.upper(), rid.upper())


def alias_of(rule_id: str) -> str | None:
    """The other name of a rule (legacy <-> new), or None when it has none."""
    canonical = canonical_rule_id(rule_id)
    if canonical.startswith("lacework-global-"):
        return None
    new = rule_aliases().get(canonical)
    if new is None:
        return None
    return new if canonical.upper() == rule_id.strip().upper() else canonical


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
        canonical = canonical_rule_id(rule_id)
        candidates += [rule_id.strip(), canonical]
        new = rule_aliases().get(canonical)
        if new:
            candidates.append(new)
    for prefix in sorted(candidates, key=len, reverse=True):
        if text.lower().startswith(prefix.lower() + "_"):
            return text[len(prefix) + 1 :]
    match = re.match(r"^(lacework-global-\d+|[A-Z0-9]+(?:_[A-Z0-9]+)*_\d+)_(.+)$", text)
    if match:
        return match.group(2)
    return text
