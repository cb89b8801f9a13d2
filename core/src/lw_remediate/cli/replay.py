"""``lw-remediate replay``: payload files through the pipeline once, without the server."""

from __future__ import annotations

import asyncio
import json

import click

from ..config import load_config
from ..errors import LwRemediateError
from ..model import Mode
from ..runtime import Runtime
from .options import config_option, echo_json, echo_table, json_option


@click.command("replay")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@json_option
@click.option(
    "--mode",
    type=click.Choice([m.value for m in Mode]),
    default=None,
    help="Override every remediation's mode for this run.",
)
@click.option(
    "--again",
    is_flag=True,
    help="Run alerts whose event id is already in the store once more (new actions).",
)
@config_option
def replay_command(
    files: tuple[str, ...], as_json: bool, mode: str | None, again: bool, config_path: str | None
) -> None:
    """Run payload files through the pipeline once, without the HTTP server.

    An alert already in the store (replayed before, or received by the daemon) is not
    run again, and its earlier result is not shown as this run's: it is named on stderr.
    ``--again`` runs it once more. Exit status 1 when every alert was already seen.
    """
    from ..ingest.alerts import PayloadError, parse_payload

    config = load_config(config_path)
    alerts = []
    for name in files:
        try:
            with open(name, encoding="utf-8") as fh:
                body = json.load(fh)
        except OSError as exc:
            raise click.BadParameter(f"{name}: {exc.strerror}", param_hint="FILES") from None
        except ValueError:
            raise click.BadParameter(f"{name}: not JSON", param_hint="FILES") from None
        try:
            alerts.extend(parse_payload(body))
        except PayloadError as exc:
            raise click.BadParameter(f"{name}: {exc}", param_hint="FILES") from None
    runtime = Runtime(
        config, mode_override=Mode(mode) if mode else None, trust_payload_resources=True
    )

    from ..pipeline.enrich import EnrichmentPending
    from ..pipeline.replay import Replayed, replay

    async def go() -> Replayed:
        async with runtime as rt:
            return await replay(rt.engine, alerts, again=again)

    try:
        replayed = asyncio.run(go())
    except EnrichmentPending as exc:
        raise LwRemediateError(f"cannot enrich: {exc}") from None
    for seen in replayed.already_seen:
        click.echo(f"lw-remediate: {seen.describe()}", err=True)
    rows = [r.summary() for r in replayed.records]
    if as_json:
        echo_json(rows)
    else:
        echo_table(rows, ["rule_id", "resource_arn", "remediation_id", "mode", "status", "detail"])
    if replayed.already_seen and not replayed.ran:
        raise LwRemediateError("nothing replayed: every alert was already in the store")
