"""What is installed: the maps, their remediations, the mode each runs in and the IAM
policy each needs. One implementation behind ``lw-remediate maps`` and the console's
maps page."""

from __future__ import annotations

from typing import Any

from ..config import Config
from ..plugins import MapRegistry
from ..rules import alias_of, shares_new_id


def remediation_summary(registry: MapRegistry, rid: str) -> dict[str, Any]:
    """One remediation: its rules (both id forms), what it can do, the actions it uses."""
    rem = registry.remediations[rid]
    return {
        "id": rem.id,
        "title": rem.title,
        "rules": [
            {"rule_id": r, "alias": alias_of(r), "alias_also_for": list(shares_new_id(r))}
            for r in rem.rules
        ],
        "rule_ids": [
            {"id": d.id, "reasons": list(d.reasons), "means": d.rule_id} for d in rem.rule_ids
        ],
        "reasons": list(rem.reasons),
        "resource_type": rem.resource_type,
        "auto_remediable": rem.auto_remediable,
        "manual_by_default": rem.manual_by_default,
        "privilege_sensitive": rem.privilege_sensitive,
        "reversible": rem.revert is not None,
        "actions": sorted(rem.policy_for(revert=True).actions),
    }


def capability(summary: dict[str, Any]) -> str:
    """What a remediation can do: ``auto``, ``manual`` or ``manual (opt-in auto)``."""
    if not summary["auto_remediable"]:
        return "manual"
    return "manual (opt-in auto)" if summary["manual_by_default"] else "auto"


def rule_text(rule: dict[str, Any]) -> str:
    """``AWS_CIS_4_1 (lacework-global-68, also AWS_CIS_4_2)``: both forms of a rule."""
    if not rule["alias"]:
        return str(rule["rule_id"])
    shared = f", also {', '.join(rule['alias_also_for'])}" if rule["alias_also_for"] else ""
    return f"{rule['rule_id']} ({rule['alias']}{shared})"


def maps_report(config: Config, registry: MapRegistry) -> dict[str, Any]:
    """The installed map distributions with their remediations and configured modes
    and the activity alerts each responds to, the maps that failed to load and the
    unresolved rule conflicts."""
    return {
        "maps": [
            {
                "name": m.name,
                "version": m.version,
                "entry_point": m.entry_point,
                "remediations": [
                    {**remediation_summary(registry, r), "mode": config.mode_for(r).value}
                    for r in m.remediations
                ],
                "activity": [p.to_dict() for p in registry.activity_policies.get(m.name, [])],
            }
            for m in registry.maps
            if m.loaded
        ],
        "failed": [
            {"name": m.name, "version": m.version, "entry_point": m.entry_point, "error": m.error}
            for m in registry.failed
        ],
        "conflicts": [
            {"rule_id": c.rule_id, "remediations": list(c.remediation_ids), "detail": str(c)}
            for c in registry.index.conflicts.values()
        ],
    }


def remediation_policy(
    config: Config,
    registry: MapRegistry,
    rid: str,
    *,
    revert: bool = True,
    account: str = "*",
    partition: str = "aws",
) -> dict[str, Any]:
    """The IAM policy document one remediation needs with its configured options
    (``revert``: with the actions only undo needs)."""
    rem = registry.remediations[rid]
    options = rem.parse_options(config.options_for(rid))
    return rem.policy_for(options, revert=revert).render(account=account, partition=partition)
