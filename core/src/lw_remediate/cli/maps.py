"""``lw-remediate maps``: the installed map distributions, their remediations, rule ids
and the mode the configuration gives each (the data: :mod:`lw_remediate.operate.catalog`,
which the web console's maps page shows too)."""

from __future__ import annotations

import click

from ..operate.catalog import capability, maps_report, rule_text
from .options import config_option, echo_json, json_option, load_config_and_maps


@click.command("maps")
@json_option
@config_option
def maps_command(as_json: bool, config_path: str | None) -> None:
    """List installed map distributions, their remediations and rule ids.

    CAPABILITY is what a remediation can do (auto, manual, manual unless an option
    allows auto); MODE is what the configuration (--config) makes it do.
    """
    config, registry = load_config_and_maps(config_path)
    data = maps_report(config, registry)
    if as_json:
        echo_json(data)
        return
    for m in data["maps"]:
        click.echo(f"{m['name']} {m['version']}")
        click.echo(f"  {'REMEDIATION':<42} {'CAPABILITY':<22} {'MODE':<8} RULES")
        for r in m["remediations"]:
            rules = ", ".join(rule_text(x) for x in r["rules"])
            extra = " [privilege-sensitive]" if r["privilege_sensitive"] else ""
            click.echo(f"  {r['id']:<42} {capability(r):<22} {r['mode']:<8} {rules}{extra}")
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
