"""``lw-remediate preflight``: can the role do what each enabled remediation declares?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from .control import run_control
from .options import config_option, echo_json, json_option

if TYPE_CHECKING:
    from ..operate.control import Control


@click.command("preflight")
@click.option(
    "--account",
    "accounts",
    multiple=True,
    help="Check this account (repeatable; default: [aws] accounts).",
)
@json_option
@config_option
def preflight_command(accounts: tuple[str, ...], as_json: bool, config_path: str | None) -> None:
    """Check that the role can do what each enabled remediation declares, per account.

    Exits 1 when something is missing or could not be checked.
    """
    for account in accounts:
        if not (account.isdigit() and len(account) == 12):
            raise click.BadParameter(
                f"{account!r} is not a 12-digit AWS account id", param_hint="--account"
            )

    async def go(c: Control) -> Any:
        from ..operate.preflight import run_preflight
        from ..safety import core_policy

        engine = c.engine
        policy = core_policy(engine.config, await engine.safety.exemptions())
        return await run_preflight(
            engine.config, engine.registry, engine.aws, accounts=accounts, core_policy=policy
        )

    results = run_control(config_path, go)
    from ..operate.preflight import render_text

    if as_json:
        echo_json([r.to_dict() for r in results])
    else:
        for line in render_text(results):
            click.echo(line)
    if not all(r.ok for r in results):
        raise SystemExit(1)
