"""Options and output helpers shared by every ``lw-remediate`` subcommand module."""

from __future__ import annotations

import json
from typing import Any

import click

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
