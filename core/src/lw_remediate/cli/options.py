"""Options and output helpers shared by every ``lw-remediate`` subcommand module."""

from __future__ import annotations

import json
from typing import Any

import click

from ..config import Config, load_config
from ..plugins import MapRegistry, load_registry

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    envvar="LW_REMEDIATE_CONFIG",
    help="TOML configuration file (default: $LW_REMEDIATE_CONFIG).",
)

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def echo_json(data: Any) -> None:
    """Print ``data`` as indented JSON (datetimes and other values via ``str``)."""
    click.echo(json.dumps(data, indent=2, default=str))


def echo_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    """Print ``rows`` as a plain table of ``columns`` (cells cut at 60 characters)."""
    if not rows:
        click.echo("(none)")
        return
    widths = {c: min(60, max(len(c), *(len(str(r.get(c) or "")) for r in rows))) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo(
            "  ".join(str(r.get(c) or "")[: widths[c]].ljust(widths[c]) for c in columns).rstrip()
        )


def load_config_and_maps(config_path: str | None) -> tuple[Config, MapRegistry]:
    """The configuration and the maps it allows, its option tables validated against them."""
    config = load_config(config_path)
    return config, load_registry(config)
