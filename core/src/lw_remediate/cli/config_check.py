"""``lw-remediate config check``: every check ``serve`` runs before it starts."""

from __future__ import annotations

import asyncio

import click

from ..config import load_config
from ..operate.startup import run_checks, run_online_checks
from .options import config_option


@click.group("config")
def config_group() -> None:
    """Configuration commands."""


@config_group.command("check")
@config_option
@click.option(
    "--online",
    is_flag=True,
    help="Also try the PostgreSQL store, the Lacework API key, the AWS credentials and "
    "role, the Slack URL (nothing is posted or changed).",
)
def config_check_command(config_path: str | None, online: bool) -> None:
    """Run every check `serve` runs before it starts; name the bad key.

    Exit status 0: `serve` would start with this configuration (and, with --online, its
    dependencies answer); 2: the first problem, as one line on stderr.
    """
    config = load_config(config_path)
    startup = run_checks(config)
    if online:
        asyncio.run(run_online_checks(startup))
    registry = startup.registry
    assert registry is not None  # the maps check loaded it
    modes: dict[str, int] = {}
    for rid in registry.remediations:
        modes[config.mode_for(rid).value] = modes.get(config.mode_for(rid).value, 0) + 1
    summary = ", ".join(f"{n} {m}" for m, n in sorted(modes.items()))
    source = config.source or "(defaults and environment)"
    for note in startup.notes:
        click.echo(f"note: {note}", err=True)
    checked = "start-up and online checks" if online else "start-up checks"
    click.echo(
        f"{source}: OK ({checked} passed); {len(registry.remediations)} remediations ({summary})"
    )
