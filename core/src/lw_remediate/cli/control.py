"""CLI commands for the operator controls: approve, reject, undo, the kill switch,
exemptions, flapping resources, the inbox and the audit trail.

They run :class:`~lw_remediate.operate.control.Control` against the configured store (the
SQLite file a running daemon also uses; WAL mode and compare-and-set decisions make
that safe). Unknown ids and bad values exit 2; a refused operation exits 1.
"""

from __future__ import annotations

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .options import config_option, echo_json, json_option

if TYPE_CHECKING:
    from ..operate.control import Actor, Control

T = TypeVar("T")


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in this environment
        return "cli"


by_option = click.option(
    "--by",
    default=_default_actor,
    show_default="the login name",
    help="Who is doing this (recorded in the audit trail).",
)


def _actor(name: str) -> Actor:
    from ..operate.control import Actor, BadRequest

    try:
        return Actor(name, "cli")
    except BadRequest as exc:
        raise click.BadParameter(str(exc), param_hint="--by") from None


def run_control(config_path: str | None, fn: Callable[[Control], Awaitable[T]]) -> T:
    """Run ``fn`` with a Control on the configured runtime (store, AWS, Lacework), then close it."""
    from ..config import load_config
    from ..operate.control import BadRequest, Control, NotFound
    from ..runtime import Runtime

    runtime = Runtime(load_config(config_path))

    async def go() -> T:
        async with runtime as rt:
            return await fn(Control(rt.engine))

    try:
        return asyncio.run(go())
    except (NotFound, BadRequest) as exc:
        raise click.UsageError(str(exc)) from None


def _one_line(record: Any) -> str:
    status = str(record.status) if record.status else record.state
    return f"action {record.id}: {status}: {record.detail}"


def _finish(record: Any, as_json: bool) -> None:
    from ..model import Status

    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(_one_line(record))
    if record.status in (Status.FAILED, Status.REFUSED):
        raise SystemExit(1)


# -- approvals and undo --------------------------------------------------------------------


@click.command("approve")
@click.argument("action_id")
@by_option
@json_option
@config_option
def approve_command(action_id: str, by: str, as_json: bool, config_path: str | None) -> None:
    """Approve an action awaiting approval: check again, then apply it now."""
    actor = _actor(by)
    record = run_control(config_path, lambda c: c.approve(action_id, actor))
    _finish(record, as_json)


@click.command("reject")
@click.argument("action_id")
@click.option("--reason", default="", help="Why (recorded with the decision).")
@by_option
@json_option
@config_option
def reject_command(
    action_id: str, reason: str, by: str, as_json: bool, config_path: str | None
) -> None:
    """Reject an action awaiting approval; it ends refused and nothing changes."""
    actor = _actor(by)
    record = run_control(config_path, lambda c: c.reject(action_id, actor, reason))
    if as_json:
        echo_json(record.to_dict())
    else:
        click.echo(_one_line(record))


@click.command("undo")
@click.argument("action_id")
@by_option
@json_option
@config_option
def undo_command(action_id: str, by: str, as_json: bool, config_path: str | None) -> None:
    """Restore what an action changed, unless the resource changed since."""
    actor = _actor(by)
    record = run_control(config_path, lambda c: c.undo(action_id, actor))
    _finish(record, as_json)


# -- the kill switch -----------------------------------------------------------------------


@click.group("kill-switch")
def kill_switch_group() -> None:
    """Pause (on) or resume (off) every change; alerts are still accepted and planned."""


@kill_switch_group.command("on")
@click.option("--reason", default="", help="Why (shown in status and notifications).")
@by_option
@config_option
def kill_switch_on(reason: str, by: str, config_path: str | None) -> None:
    """Turn the kill switch on: no remediation applies anything until it is off."""
    actor = _actor(by)
    state = run_control(config_path, lambda c: c.kill_switch_on(actor, reason))
    click.echo(state.describe())


@kill_switch_group.command("off")
@by_option
@config_option
def kill_switch_off(by: str, config_path: str | None) -> None:
    """Turn the kill switch off. Paused actions stay awaiting approval."""
    actor = _actor(by)

    async def go(c: Control) -> tuple[Any, list[str]]:
        return await c.kill_switch_off(actor), await c.paused_actions()

    state, paused = run_control(config_path, go)
    click.echo(state.describe())
    if paused:
        click.echo(
            f"{len(paused)} action(s) were paused and wait for approval: {', '.join(paused)} "
            "(lw-remediate approve ID)"
        )


@kill_switch_group.command("status")
@json_option
@config_option
def kill_switch_status(as_json: bool, config_path: str | None) -> None:
    """Show whether the kill switch is on, since when, by whom."""

    async def go(c: Control) -> tuple[Any, list[str]]:
        return await c.kill_switch_state(), await c.paused_actions()

    state, paused = run_control(config_path, go)
    if as_json:
        echo_json({**state.to_dict(), "paused": paused})
    else:
        click.echo(state.describe())
        if paused:
            click.echo(f"paused actions awaiting approval: {', '.join(paused)}")


# -- exemptions ----------------------------------------------------------------------------


@click.group("exemptions")
def exemptions_group() -> None:
    """List, add and remove exemptions (violations left alone on purpose)."""


@exemptions_group.command("list")
@json_option
@config_option
def exemptions_list(as_json: bool, config_path: str | None) -> None:
    """Every exemption: from the configuration and added at run time; expired ones flagged."""
    rows = run_control(config_path, lambda c: c.list_exemptions())
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("(no exemptions)")
    for r in rows:
        criteria = ", ".join(
            f"{k} {r[k]}" for k in ("arn", "account", "rule", "remediation") if r.get(k)
        )
        if r.get("tag"):
            criteria += (
                ", " if criteria else ""
            ) + f"tag {r['tag']['key']}={r['tag'].get('value') or '*'}"
        state = "EXPIRED" if r["expired"] else "active"
        expires = r.get("expires") or "never"
        click.echo(
            f"{r['id']}  [{r['source']}, {state}, expires {expires}]  {criteria}  "
            f"owner {r['owner']}: {r['reason']}"
        )


def _tag(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    key, sep, tag_value = value.partition("=")
    if not key:
        raise click.BadParameter("use KEY or KEY=VALUE", param_hint="--tag")
    return {"key": key, "value": tag_value} if sep else {"key": key}


@exemptions_group.command("add")
@click.option("--arn", help="Resource ARN pattern (* and ?).")
@click.option("--account", help="12-digit AWS account id.")
@click.option("--rule", help="Rule id (legacy or lacework-global-N).")
@click.option("--remediation", help="Remediation id.")
@click.option("--tag", help="Resource tag KEY=VALUE (or KEY for any value), read live.")
@click.option("--owner", required=True, help="Who owns the exemption.")
@click.option("--reason", required=True, help="Why the violation is accepted.")
@click.option("--expires", help="A date, a date-time (UTC) or a duration such as 30d.")
@click.option("--id", "exemption_id", help="A name for it (default: generated).")
@by_option
@json_option
@config_option
def exemptions_add(
    arn: str | None,
    account: str | None,
    rule: str | None,
    remediation: str | None,
    tag: str | None,
    owner: str,
    reason: str,
    expires: str | None,
    exemption_id: str | None,
    by: str,
    as_json: bool,
    config_path: str | None,
) -> None:
    """Add an exemption; it applies at once, also in a running daemon."""
    from ..operate.control import BadRequest, parse_expiry

    actor = _actor(by)
    spec: dict[str, Any] = {
        "id": exemption_id,
        "arn": arn,
        "account": account,
        "rule": rule,
        "remediation": remediation,
        "tag": _tag(tag),
        "owner": owner,
        "reason": reason,
    }
    if expires:
        try:
            spec["expires"] = parse_expiry(expires)
        except BadRequest as exc:
            raise click.BadParameter(str(exc), param_hint="--expires") from None
    spec = {k: v for k, v in spec.items() if v is not None}
    added = run_control(config_path, lambda c: c.add_exemption(spec, actor))
    if as_json:
        echo_json(added)
    else:
        click.echo(f"added exemption {added['id']}")
    for warning in added.get("warnings", ()):
        click.echo(f"lw-remediate: note: {warning}", err=True)


@exemptions_group.command("remove")
@click.argument("exemption_id")
@by_option
@config_option
def exemptions_remove(exemption_id: str, by: str, config_path: str | None) -> None:
    """Remove an exemption added at run time (configuration ones: edit the file)."""
    actor = _actor(by)
    run_control(config_path, lambda c: c.remove_exemption(exemption_id, actor))
    click.echo(f"removed exemption {exemption_id}")


# -- flapping resources --------------------------------------------------------------------


@click.group("flapping")
def flapping_group() -> None:
    """Resources left alone because their fix keeps being undone."""


@flapping_group.command("list")
@json_option
@config_option
def flapping_list(as_json: bool, config_path: str | None) -> None:
    """Resources flagged as flapping and not cleared yet."""
    rows = run_control(config_path, lambda c: c.list_flapping())
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("(no flapping resources)")
    for r in rows:
        click.echo(
            f"{r['resource_arn']}  {r['rule_id']}  account {r['account_id']}  "
            f"flagged {r['flagged_at']} after {r['changes']} changes"
        )


@flapping_group.command("clear")
@click.argument("resource_arn")
@click.option("--rule", help="Only this rule (default: every rule flagged for the resource).")
@by_option
@config_option
def flapping_clear(resource_arn: str, rule: str | None, by: str, config_path: str | None) -> None:
    """Let the daemon remediate a flapping resource again."""
    actor = _actor(by)
    rows = run_control(config_path, lambda c: c.clear_flapping(resource_arn, rule, actor))
    for r in rows:
        click.echo(f"cleared {r['resource_arn']} ({r['rule_id']})")


# -- the audit trail -----------------------------------------------------------------------


@click.command("audit")
@click.option("--action", "action_id", help="Only the decisions about this action.")
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@config_option
def audit_command(
    action_id: str | None, limit: int, as_json: bool, config_path: str | None
) -> None:
    """Show the audit trail: every decision, who or what made it, and when (newest first)."""
    rows = run_control(config_path, lambda c: c.audit_events(action_id=action_id, limit=limit))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("(no audit events)")
    for r in rows:
        action = f" {r['action_id']}" if r["action_id"] else ""
        click.echo(f"{r['at']}  {r['actor']:<14} {r['kind']:<20}{action}  {r['detail']}")


# -- inbox ---------------------------------------------------------------------------------


@click.group("inbox")
def inbox_group() -> None:
    """Accepted alerts: list them (e.g. the dead ones) and queue dead ones again."""


@inbox_group.command("list")
@click.option("--state", type=click.Choice(["queued", "processing", "done", "dead"]), default=None)
@click.option("--limit", type=click.IntRange(1, 10000), default=50, show_default=True)
@json_option
@config_option
def inbox_list_command(
    state: str | None, limit: int, as_json: bool, config_path: str | None
) -> None:
    """List inbox entries, newest first (``--state dead``: alerts that could not be enriched)."""
    rows = run_control(config_path, lambda c: c.list_inbox(state=state, limit=limit))
    if as_json:
        echo_json(rows)
        return
    if not rows:
        click.echo("(no inbox entries)")
    for r in rows:
        error = f"  {r['last_error']}" if r["last_error"] else ""
        click.echo(
            f"{r['inbox_id']:>6}  {r['state']:<10} {r['shape']:<11} event {r['event_id']:<12} attempts {r['attempts']}{error}"
        )


@inbox_group.command("retry")
@click.argument("inbox_id", type=int)
@by_option
@config_option
def inbox_retry_command(inbox_id: int, by: str, config_path: str | None) -> None:
    """Queue a dead alert again, with a fresh attempt count (fix the cause first)."""
    row = run_control(config_path, lambda c: c.retry_inbox(inbox_id, _actor(by)))
    click.echo(f"inbox entry {row['inbox_id']} (event {row['event_id']}) is {row['state']} again")


def control_commands() -> list[click.Command]:
    """The commands ``lw-remediate`` registers from this module."""
    return [
        approve_command,
        reject_command,
        undo_command,
        kill_switch_group,
        exemptions_group,
        flapping_group,
        audit_command,
        inbox_group,
    ]
