"""``lw-remediate maps``: the installed map distributions, their remediations, rule ids
and the mode the configuration gives each."""

from __future__ import annotations

from typing import Any

import click

from ..plugins import MapRegistry
from ..rules import alias_of, shares_new_id
from .options import config_option, echo_json, json_option, load_config_and_maps


def remediation_summary(registry: MapRegistry, rid: str) -> dict[str, Any]:
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


def _rule_text(rule: dict[str, Any]) -> str:
    """``AWS_CIS_4_1 (lacework-global-68, also AWS_CIS_4_2)``: both forms of a rule."""
    if not rule["alias"]:
        return str(rule["rule_id"])
    shared = f", also {', '.join(rule['alias_also_for'])}" if rule["alias_also_for"] else ""
    return f"{rule['rule_id']} ({rule['alias']}{shared})"


def _flag(summary: dict[str, Any]) -> str:
    if not summary["auto_remediable"]:
        return "manual"
    return "manual (opt-in auto)" if summary["manual_by_default"] else "auto"


@click.command("maps")
@json_option
@config_option
def maps_command(as_json: bool, config_path: str | None) -> None:
    """List installed map distributions, their remediations and rule ids.

    CAPABILITY is what a remediation can do (auto, manual, manual unless an option
    allows auto); MODE is what the configuration (--config) makes it do.
    """
    config, registry = load_config_and_maps(config_path)
    data: dict[str, Any] = {
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
    if as_json:
        echo_json(data)
        return
    for m in data["maps"]:
        click.echo(f"{m['name']} {m['version']}")
        click.echo(f"  {'REMEDIATION':<42} {'CAPABILITY':<22} {'MODE':<8} RULES")
        for r in m["remediations"]:
            rules = ", ".join(_rule_text(x) for x in r["rules"])
            extra = " [privilege-sensitive]" if r["privilege_sensitive"] else ""
            click.echo(f"  {r['id']:<42} {_flag(r):<22} {r['mode']:<8} {rules}{extra}")
            for d in r["rule_ids"]:
                only = f" when reason is {' or '.join(d['reasons'])}" if d["reasons"] else ""
                click.echo(f"  {'':<42} {'':<22} {'':<8} {d['id']}{only} -> {d['means']}")
        if m["activity"]:
            click.echo(f"  {'ACTIVITY ALERT':<42} {'RESPONSE':<22} POLICY IDS / CLOUDTRAIL APIS")
        for a in m["activity"]:
            ids = ", ".join(a["policy_ids"]) or "(no public id)"
            apis = f" [{', '.join(a['apis'])}]" if a["apis"] else ""
            click.echo(f"  {a['event_class']:<42} {a['response']:<22} {ids}{apis}")
    for m in data["failed"]:
        click.echo(f"FAILED {m['name']} {m['version']}: {m['error']}")
    for c in data["conflicts"]:
        click.echo(f"CONFLICT {c['detail']}")
    if not data["maps"] and not data["failed"]:
        click.echo("no maps installed (pip install lw-map-s3 lw-map-cis-iam)")
