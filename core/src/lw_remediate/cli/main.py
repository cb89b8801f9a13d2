"""The ``lw-remediate`` command line.

Every listing command takes ``--json``. Bad arguments or configuration print one
line on stderr and exit with status 2; no traceback reaches the operator.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import click
import structlog

from ..config import Config, load_config
from ..errors import ConfigError, LwRemediateError, StartupError
from ..logs import configure_logging
from ..model import Mode, Status
from ..operate.control import action_dict
from ..operate.startup import run_checks, run_online_checks
from ..plugins import MapRegistry, load_maps, load_registry
from ..policy import IamPolicy
from ..redact import RedactingStream
from ..rules import alias_of, shares_new_id
from ..runtime import Runtime
from .control import control_commands
from .new_map import new_map_command
from .options import config_option, echo_json, json_option
from .store import store_group
from .sweep import sweep_command

log = structlog.get_logger(__name__)


def _load(config_path: str | None) -> tuple[Config, MapRegistry]:
    """The configuration and the maps it allows, its option tables validated against them."""
    config = load_config(config_path)
    return config, load_registry(config)


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


def remediation_summary(registry: MapRegistry, rid: str) -> dict[str, Any]:
    rem = registry.remediations[rid]
    return {
        "id": rem.id,
        "title": rem.title,
        "rules": [
            {"rule_id": r, "alias": alias_of(r), "alias_also_for": list(shares_new_id(r))}
            for r in rem.rules
        ],
        "rule_ids": [
            {"id": d.id, "reasons": list(d.reasons), "means": d.rule_id} for d in rem.rule_ids
        ],
        "reasons": list(rem.reasons),
        "resource_type": rem.resource_type,
        "auto_remediable": rem.auto_remediable,
        "manual_by_default": rem.manual_by_default,
        "privilege_sensitive": rem.privilege_sensitive,
        "reversible": rem.revert is not None,
        "actions": sorted(rem.policy_for(revert=True).actions),
    }


def _rule_text(rule: dict[str, Any]) -> str:
    """``AWS_CIS_4_1 (lacework-global-68, also AWS_CIS_4_2)``: both forms of a rule."""
    if not rule["alias"]:
        return str(rule["rule_id"])
    shared = f", also {', '.join(rule['alias_also_for'])}" if rule["alias_also_for"] else ""
    return f"{rule['rule_id']} ({rule['alias']}{shared})"


def _flag(summary: dict[str, Any]) -> str:
    if not summary["auto_remediable"]:
        return "manual"
    return "manual (opt-in auto)" if summary["manual_by_default"] else "auto"


@cli.command("maps")
@json_option
@config_option
def maps_command(as_json: bool, config_path: str | None) -> None:
    """List installed map distributions, their remediations and rule ids.

    CAPABILITY is what a remediation can do (auto, manual, manual unless an option
    allows auto); MODE is what the configuration (--config) makes it do.
    """
    config, registry = _load(config_path)
    data: dict[str, Any] = {
        "maps": [
            {
                "name": m.name,
                "version": m.version,
                "entry_point": m.entry_point,
                "remediations": [
                    {**remediation_summary(registry, r), "mode": config.mode_for(r).value}
                    for r in m.remediations
                ],
            }
            for m in registry.maps
            if m.loaded
        ],
        "failed": [
            {"name": m.name, "version": m.version, "entry_point": m.entry_point, "error": m.error}
            for m in registry.failed
        ],
        "conflicts": [
            {"rule_id": c.rule_id, "remediations": list(c.remediation_ids), "detail": str(c)}
            for c in registry.index.conflicts.values()
        ],
    }
    if as_json:
        echo_json(data)
        return
    for m in data["maps"]:
        click.echo(f"{m['name']} {m['version']}")
        click.echo(f"  {'REMEDIATION':<42} {'CAPABILITY':<22} {'MODE':<8} RULES")
        for r in m["remediations"]:
            rules = ", ".join(_rule_text(x) for x in r["rules"])
            extra = " [privilege-sensitive]" if r["privilege_sensitive"] else ""
            click.echo(f"  {r['id']:<42} {_flag(r):<22} {r['mode']:<8} {rules}{extra}")
            for d in r["rule_ids"]:
                only = f" when reason is {' or '.join(d['reasons'])}" if d["reasons"] else ""
                click.echo(f"  {'':<42} {'':<22} {'':<8} {d['id']}{only} -> {d['means']}")
    for m in data["failed"]:
        click.echo(f"FAILED {m['name']} {m['version']}: {m['error']}")
    for c in data["conflicts"]:
        click.echo(f"CONFLICT {c['detail']}")
    if not data["maps"] and not data["failed"]:
        click.echo("no maps installed (pip install lw-map-s3 lw-map-cis-iam)")


def merged_policy(
    registry: MapRegistry,
    config: Config,
    *,
    enabled_only: bool,
    revert: bool,
    role_name: str | None = None,
) -> dict[str, IamPolicy]:
    """Merged least-privilege policy per map set (``s3``, ``cis_iam``, ...)."""
    by_set: dict[str, list[IamPolicy]] = {}
    for rid, rem in sorted(registry.remediations.items()):
        if enabled_only and config.mode_for(rid).value == "off":
            continue
        options = rem.parse_options(config.options_for(rid))
        by_set.setdefault(rem.set_name, []).append(rem.policy_for(options, revert=revert))
    from ..safety import config_exemptions, core_policy

    core = core_policy(config, config_exemptions(config.exemptions))
    if core:  # tag exemptions / exemption tagging in the configuration
        by_set.setdefault("core", []).append(core)
    if role_name:  # preflight (and config check --online) read the role itself
        by_set.setdefault("core", []).append(
            IamPolicy.allow(
                ["iam:GetRole", "iam:SimulatePrincipalPolicy"],
                [f"arn:{{partition}}:iam::{{account}}:role/{role_name}"],
            )
        )
    return {name: IamPolicy.merge(policies) for name, policies in by_set.items()}


#: IAM's limit on a managed policy document, counted without white space.
MANAGED_POLICY_MAX_CHARS = 6144


def _policy_documents(name: str, policy: IamPolicy) -> list[tuple[str, str, dict[str, Any]]]:
    """The map set's policy as CloudFormation documents, split into as many managed
    policies (``<Set>Policy``, ``<Set>Policy2``, …) as IAM's size limit needs."""
    doc = policy.render(account="${AWS::AccountId}", partition="${AWS::Partition}")
    for st in doc["Statement"]:
        st["Resource"] = _cfn_sub(st["Resource"])
        if "Condition" in st:
            st["Condition"] = _cfn_sub(st["Condition"])
    chunks: list[list[dict[str, Any]]] = [[]]
    for statement in doc["Statement"]:
        candidate = {"Version": doc["Version"], "Statement": [*chunks[-1], statement]}
        if chunks[-1] and _size(candidate) > MANAGED_POLICY_MAX_CHARS:
            chunks.append([])
        chunks[-1].append(statement)
    documents = []
    for index, statements in enumerate(chunks, start=1):
        part = {"Version": doc["Version"], "Statement": statements}
        if _size(part) > MANAGED_POLICY_MAX_CHARS:
            raise ConfigError(
                f"one statement of the {name} map set's policy is over IAM's "
                f"{MANAGED_POLICY_MAX_CHARS}-character managed-policy limit"
            )
        suffix = "" if index == 1 else str(index)
        description = f"lw-remediate least-privilege policy for the {name} map set"
        if len(chunks) > 1:
            description += f" (part {index} of {len(chunks)})"
        documents.append((f"{_cfn_name(name)}Policy{suffix}", description, part))
    return documents


def _size(document: Mapping[str, Any]) -> int:
    return len(json.dumps(document, separators=(",", ":")))


def cloudformation(policies: dict[str, IamPolicy], *, role_name: str) -> dict[str, Any]:
    documents = [
        item
        for name, policy in sorted(policies.items())
        for item in _policy_documents(name, policy)
    ]
    resources: dict[str, Any] = {
        "RemediationRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": role_name,
                "Description": "Assumed by lw-remediate to fix Lacework compliance violations",
                "MaxSessionDuration": 3600,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"AWS": {"Ref": "TrustedPrincipalArn"}},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "ManagedPolicyArns": [{"Ref": logical} for logical, _, _ in documents],
            },
        }
    }
    for logical, description, doc in documents:
        resources[logical] = {
            "Type": "AWS::IAM::ManagedPolicy",
            "Properties": {
                "Description": description,
                "PolicyDocument": doc,
            },
        }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "lw-remediate remediation role (generated by `lw-remediate policy`)",
        "Parameters": {
            "TrustedPrincipalArn": {
                "Type": "String",
                "Description": "ARN of the principal the lw-remediate daemon runs as",
            }
        },
        "Resources": resources,
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["RemediationRole", "Arn"]}}},
    }


def _cfn_sub(value: Any) -> Any:
    """Wrap every string holding a ``${AWS::...}`` substitution in ``Fn::Sub``."""
    if isinstance(value, str):
        return {"Fn::Sub": value} if "${" in value else value
    if isinstance(value, list):
        return [_cfn_sub(v) for v in value]
    if isinstance(value, dict):
        return {k: _cfn_sub(v) for k, v in value.items()}
    return value


def _cfn_name(set_name: str) -> str:
    return "".join(part.capitalize() for part in set_name.replace("-", "_").split("_"))


@cli.command("policy")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "cloudformation"]),
    default="json",
    show_default=True,
)
@click.option(
    "--account", default="*", show_default=True, help="Account id for resource ARNs (json)."
)
@click.option("--partition", default="aws", show_default=True)
@click.option("--enabled-only", is_flag=True, help="Only remediations whose mode is not 'off'.")
@click.option("--no-revert", is_flag=True, help="Leave out the actions only undo needs.")
@click.option("--role-name", default="lw-remediate", show_default=True)
@config_option
def policy_command(
    fmt: str,
    account: str,
    partition: str,
    enabled_only: bool,
    no_revert: bool,
    role_name: str,
    config_path: str | None,
) -> None:
    """Print the merged least-privilege IAM policy of the installed remediations."""
    config, registry = _load(config_path)
    if account != "*" and not (account.isdigit() and len(account) == 12):
        raise click.BadParameter(
            f"{account!r} is not a 12-digit AWS account id", param_hint="--account"
        )
    policies = merged_policy(
        registry, config, enabled_only=enabled_only, revert=not no_revert, role_name=role_name
    )
    if fmt == "cloudformation":
        echo_json(cloudformation(policies, role_name=role_name))
        return
    merged = IamPolicy.merge(policies.values())
    echo_json(merged.render(account=account, partition=partition))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {c: min(60, max(len(c), *(len(str(r.get(c) or "")) for r in rows))) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo(
            "  ".join(str(r.get(c) or "")[: widths[c]].ljust(widths[c]) for c in columns).rstrip()
        )


@cli.command("serve")
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


@cli.command("replay")
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
        _table(rows, ["rule_id", "resource_arn", "remediation_id", "mode", "status", "detail"])
    if replayed.already_seen and not replayed.ran:
        raise LwRemediateError("nothing replayed: every alert was already in the store")


@cli.command("history")
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
        _table(
            rows, ["updated_at", "action_id", "status", "remediation_id", "resource_arn", "detail"]
        )


@cli.group("config")
def config_group() -> None:
    """Configuration commands."""


@config_group.command("check")
@config_option
@click.option(
    "--online",
    is_flag=True,
    help="Also try the Lacework API key, the AWS credentials and role, the Slack URL "
    "(nothing is posted or changed).",
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


@cli.command("demo")
@click.option("--timeout", type=click.FloatRange(1, 3600), default=120, show_default=True)
def demo_command(timeout: float) -> None:
    """Run the daemon end to end against a simulated cloud (moto) and a fake Lacework."""
    try:
        import moto  # noqa: F401
    except ImportError:
        raise click.UsageError("the demo needs moto: pip install 'lw-remediate[testing]'") from None
    from .demo import run_demo

    registry = load_maps()
    code = asyncio.run(run_demo(registry, timeout=timeout))
    if code:
        sys.exit(code)


cli.add_command(sweep_command)
cli.add_command(new_map_command)
cli.add_command(store_group)


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


# Operator controls: approve, reject, undo, kill-switch, exemptions, flapping, audit, preflight.
for _command in control_commands():
    cli.add_command(_command)
