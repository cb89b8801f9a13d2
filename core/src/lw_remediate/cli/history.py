"""``lw-remediate history``: recent actions from the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from ..config import load_config
from ..model import Status
from ..operate.control import BadRequest, action_dict
from ..operate.queries import list_actions, parse_since
from ..runtime import Runtime
from .options import config_option, echo_json, echo_table, json_option


@click.command("history")
@json_option
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--rule", default=None, help="Only this rule (either id form).")
@click.option("--account", default=None, help="Only this AWS account id.")
@click.option("--remediation", default=None, help="Only this remediation id.")
@click.option("--since", default=None, help="Only actions created since: 24h, 7d or a date.")
@config_option
def history_command(
    as_json: bool,
    limit: int,
    status: str | None,
    rule: str | None,
    account: str | None,
    remediation: str | None,
    since: str | None,
    config_path: str | None,
) -> None:
    """Show recent actions from the audit trail (newest first).

    The filters are those of the admin API's GET /admin/actions and the web console's
    actions page; with one other than --status, the matches among the newest 10,000.
    """
    if since is not None:
        try:
            parse_since(since)
        except BadRequest as exc:
            raise click.BadParameter(str(exc), param_hint="--since") from None
    runtime = Runtime(load_config(config_path))

    async def go() -> list[dict[str, Any]]:
        async with runtime as rt:
            rows = await list_actions(
                rt.store,
                limit=limit,
                status=status,
                rule=rule,
                account=account,
                remediation=remediation,
                since=since,
            )
        # The admin API's shape (GET /admin/actions): one schema for one thing.
        return [action_dict(row) for row in rows]

    rows = asyncio.run(go())
    if as_json:
        echo_json(rows)
    else:
        echo_table(
            rows, ["updated_at", "action_id", "status", "remediation_id", "resource_arn", "detail"]
        )
