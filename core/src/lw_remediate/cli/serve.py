"""``lw-remediate serve``: the daemon (webhooks in, remediations out)."""

from __future__ import annotations

import click
import structlog

from ..config import load_config
from ..operate.startup import run_checks
from ..runtime import Runtime
from .options import config_option

log = structlog.get_logger(__name__)


@click.command("serve")
@config_option
@click.option("--host", default=None, help="Override [server] host.")
@click.option("--port", type=int, default=None, help="Override [server] port.")
def serve_command(config_path: str | None, host: str | None, port: int | None) -> None:
    """Run the daemon: webhooks in, remediations out."""
    from ..web.server import create_app, run

    config = load_config(config_path)
    startup = run_checks(config)  # the checks `config check` runs: one line, exit 2
    for note in startup.notes:
        log.warning("startup_note", detail=note)
    app = create_app(Runtime(config, registry=startup.registry))
    run(app, host=host or config.server.host, port=port if port is not None else config.server.port)
