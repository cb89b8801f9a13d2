"""``lw-remediate history``: recent actions from the audit trail."""

from __future__ import annotations

import asyncio
from typing import Any

import click

from ..config import load_config
from ..model import Status
from ..operate.control import action_dict
from ..runtime import Runtime
from .options import config_option, echo_json, echo_table, json_option


@click.command("history")
@json_option
@click.option("--limit", type=click.IntRange(1, 100000), default=50, show_default=True)
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@config_option
def history_command(as_json: bool, limit: int, status: str | None, config_path: str | None) -> None:
    """Show recent actions from the audit trail (newest first)."""
    runtime = Runtime(load_config(config_path))

    async def go() -> list[dict[str, Any]]:
        async with runtime as rt:
            rows = await rt.store.list_actions(limit=limit, status=status)
        # The admin API's shape (GET /admin/actions): one schema for one thing.
        return [action_dict(row) for row in rows]

    rows = asyncio.run(go())
    if as_json:
        echo_json(rows)
    else:
        echo_table(
            rows, ["updated_at", "action_id", "status", "remediation_id", "resource_arn", "detail"]
        )
