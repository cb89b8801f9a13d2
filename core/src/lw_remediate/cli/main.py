"""The ``lw-remediate`` command line: the group, its entry point, and the commands it registers.

Each command group lives in its own module (:mod:`.serve`, :mod:`.replay`, :mod:`.maps`,
:mod:`.policy`, :mod:`.config_check`, :mod:`.history`, :mod:`.preflight`, :mod:`.control`,
:mod:`.sweep`, :mod:`.store`, :mod:`.new_map`, :mod:`.demo`); :mod:`.options` holds what they
share. Every listing command takes ``--json``. Bad arguments or configuration print one
line on stderr and exit with status 2; no traceback reaches the operator.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

import click

from ..errors import ConfigError, LwRemediateError, StartupError
from ..logs import configure_logging
from ..plugins import load_maps
from ..redact import RedactingStream
from .config_check import config_group
from .control import control_commands
from .history import history_command
from .maps import maps_command
from .new_map import new_map_command
from .policy import policy_command
from .preflight import preflight_command
from .replay import replay_command
from .serve import serve_command
from .store import store_group
from .sweep import sweep_command


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--log-level",
    default=None,
    show_default="info for serve, warning for the other commands",
    type=click.Choice(["debug", "info", "warning", "error"]),
)
@click.version_option(package_name="lw-remediate", prog_name="lw-remediate")
@click.pass_context
def cli(ctx: click.Context, log_level: str | None) -> None:
    """Fix the AWS misconfigurations behind Lacework compliance alerts."""
    # Everything the CLI prints goes through redaction by value: the secrets of the
    # configuration a command loads are masked in its output, whatever prints them.
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, RedactingStream):
            setattr(sys, name, RedactingStream(stream))
    # The daemon's journal shows its start line and every action at the default level;
    # a one-shot command's stderr only what went wrong.
    if log_level is None:
        log_level = "info" if ctx.invoked_subcommand == "serve" else "warning"
    configure_logging(level=log_level)


@cli.command("demo")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120, show_default=True)
def demo_command(timeout: float) -> None:
    """Run the daemon end to end against a simulated cloud (moto) and a fake Lacework."""
    # Kept here: .demo (aiohttp.web, the scenarios) loads only when the demo runs.
    try:
        import moto  # noqa: F401
    except ImportError:
        raise click.UsageError("the demo needs moto: pip install 'lw-remediate[testing]'") from None
    from .demo import run_demo

    registry = load_maps()
    code = asyncio.run(run_demo(registry, timeout=timeout))
    if code:
        sys.exit(code)


for _command in (
    serve_command,
    replay_command,
    history_command,
    maps_command,
    policy_command,
    config_group,
    preflight_command,
    sweep_command,
    store_group,
    new_map_command,
    *control_commands(),  # approve, reject, undo, kill-switch, exemptions, flapping, audit, inbox
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: one-line errors, exit status 2 for bad input."""
    try:
        cli.main(
            args=list(argv) if argv is not None else None,
            prog_name="lw-remediate",
            standalone_mode=False,
        )
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("lw-remediate: aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx and exc.ctx.parent else ""
        click.echo(f"lw-remediate: error: {exc.format_message()}{hint}", err=True)
        sys.exit(2)
    except click.ClickException as exc:
        click.echo(f"lw-remediate: error: {exc.format_message()}", err=True)
        sys.exit(2)
    except ConfigError as exc:
        click.echo(f"lw-remediate: config error: {exc}", err=True)
        sys.exit(2)
    except StartupError as exc:
        click.echo(f"lw-remediate: cannot start: {exc}", err=True)
        sys.exit(2)
    except LwRemediateError as exc:
        click.echo(f"lw-remediate: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    sys.exit(0)
