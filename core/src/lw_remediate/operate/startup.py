"""The start-up checks: everything ``serve`` verifies before it binds its port, as one list.

``lw-remediate serve`` runs :data:`CHECKS` and refuses to start on the first failure
(one line, exit status 2); ``lw-remediate config check`` runs the very same list, so a
passing check predicts a passing start (as Alertmanager's ``amtool check-config``
runs the server's loader). ``config check --online`` also runs :data:`ONLINE_CHECKS`:
the PostgreSQL store (connect, schema version), the Lacework API key, the AWS
credentials and role, the Slack URL (without posting).

Each check names the configuration key it is about, when it fails and the message it
fails with; ``docs/operating.md`` shows :func:`checks_table`, and a test holds the two
together and makes every check fail with its documented message.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yarl

from ..aws.credentials import AwsProvider
from ..aws_errors import aws_error_code
from ..config import Config
from ..errors import ConfigError, MapLoadError, StoreUnavailable
from ..ingest.lacework import LaceworkAuthError, LaceworkClient, LaceworkError
from ..notify.slack import SlackNotifier
from ..pipeline.runner import describe_error
from ..plugins import MapRegistry, load_registry
from ..store.postgres import schema_status

#: Shortest webhook or admin token accepted.
MIN_TOKEN_LENGTH = 16


@dataclass
class Startup:
    """What the checks share: the configuration, the maps once loaded, notes to show."""

    config: Config
    registry: MapRegistry | None = None
    #: Things worth saying that do not stop the start (``config check`` prints them,
    #: ``serve`` logs them).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Check:
    """One start-up check. ``run`` raises :class:`ConfigError` with ``message``'s wording."""

    key: str
    fails_when: str
    #: The failure message as documented; ``<...>`` stands for a value.
    message: str
    run: Callable[[Startup], None]


@dataclass(frozen=True)
class OnlineCheck:
    """A check that talks to a dependency (``config check --online``); async."""

    key: str
    fails_when: str
    message: str
    run: Callable[[Startup], Awaitable[None]]


# -- offline checks ------------------------------------------------------------------------


def _secret_files(s: Startup) -> None:
    # Reading each secret raises ConfigError("<key>_file: cannot read <path>: <reason>").
    s.config.server.resolved_webhook_token()
    s.config.server.resolved_admin_token()
    s.config.lacework.resolved_secret()
    s.config.notify.slack.resolved_url()
    _ = s.config.store.resolved_url  # reads store.url_file


def _webhook_token(s: Startup) -> None:
    token = s.config.server.resolved_webhook_token()
    if not token:
        raise ConfigError(
            "server.webhook_token: required to serve (set server.webhook_token_file or "
            "server.webhook_token)"
        )
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"server.webhook_token: {len(token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH} random characters (openssl rand -hex 32)"
        )


def _admin_token(s: Startup) -> None:
    token = s.config.server.resolved_admin_token()
    if not token:
        return
    if len(token) < MIN_TOKEN_LENGTH:
        raise ConfigError(
            f"server.admin_token: {len(token)} characters; use at least "
            f"{MIN_TOKEN_LENGTH} random characters (openssl rand -hex 32)"
        )
    if token == s.config.server.resolved_webhook_token():
        raise ConfigError("server.admin_token: must differ from server.webhook_token")


def _lacework(s: Startup) -> None:
    cfg = s.config.lacework
    if not (cfg.base_url or cfg.key_id or cfg.secret or cfg.secret_file):
        s.notes.append(
            "no [lacework] API key configured: alerts cannot be enriched and end dead "
            "(unless lacework.trust_payload_resources and the payload lists resources)"
        )
        return
    # The client the daemon builds; it names the first missing key. Opens nothing.
    LaceworkClient.from_config(cfg)


def _maps(s: Startup) -> None:
    try:
        s.registry = load_registry(s.config)
    except MapLoadError as exc:
        raise ConfigError(f"strict_maps: {exc}") from None
    if not s.registry.remediations:
        s.notes.append("no remediations installed (pip install lw-map-s3 lw-map-cis-iam)")


def _slack(s: Startup) -> None:
    slack = s.config.notify.slack
    if not slack.configured:
        if slack.model_fields_set - {"webhook_url", "webhook_url_file"}:
            raise ConfigError(
                "notify.slack: no webhook_url or webhook_url_file (remove the table to "
                "turn Slack off)"
            )
        return
    url = slack.resolved_url()
    if not url:
        raise ConfigError("notify.slack.webhook_url: empty")
    SlackNotifier(url)  # raises "notify.slack.webhook_url: not an https:// URL"


def _writable_dir(key: str, path: str) -> None:
    """Raise naming ``path`` unless a file can be created in its directory (made if missing)."""
    target = Path(path).absolute()
    directory = target.parent
    existing = directory
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{key}: cannot write {path}: {existing} is not a directory")
    if target.exists() and not os.access(target, os.R_OK | os.W_OK):
        raise ConfigError(f"{key}: cannot write {path}: Permission denied")
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".lw-remediate-check-"):
            pass
    except OSError as exc:
        raise ConfigError(
            f"{key}: cannot write {path}: {exc.strerror or type(exc).__name__} "
            f"(in {existing}; the directory must be writable by the daemon's user)"
        ) from None


def _store(s: Startup) -> None:
    if not s.config.store.postgres and s.config.store.path != ":memory:":
        _writable_dir("store.path", s.config.store.path)


def _kill_switch(s: Startup) -> None:
    path = s.config.safety.resolved_kill_switch_file(s.config.store.path)
    _writable_dir("safety.kill_switch_file", path)


#: Run in this order by ``serve`` (before it binds) and by ``config check``.
CHECKS: tuple[Check, ...] = (
    Check(
        "remediation, rules, exemptions",
        "a map fails to load with `strict_maps`, or a per-remediation table, `[rules]` "
        "entry or exemption names something no installed map provides",
        'remediation."<id>".<option>: <reason>',
        _maps,
    ),
    Check(
        "*_file",
        "a secret file (`server.webhook_token_file`, `server.admin_token_file`, "
        "`lacework.secret_file`, `notify.slack.webhook_url_file`, `store.url_file`) cannot "
        "be read",
        "<key>_file: cannot read <path>: <reason>",
        _secret_files,
    ),
    Check(
        "server.webhook_token",
        "no webhook token (`server.webhook_token: required to serve`), or one shorter "
        "than 16 characters",
        "server.webhook_token: <n> characters; use at least 16 random characters (...)",
        _webhook_token,
    ),
    Check(
        "server.admin_token",
        "set, and shorter than 16 characters or equal to the webhook token",
        "server.admin_token: must differ from server.webhook_token",
        _admin_token,
    ),
    Check(
        "lacework",
        "part of the API key is configured (account, key id, secret: all or none)",
        "lacework.<key>: required (...)",
        _lacework,
    ),
    Check(
        "notify.slack",
        "a `[notify.slack]` table without a URL, or a URL that is not `https://` (`http://` "
        "only on a loopback host)",
        "notify.slack.webhook_url: not an https:// URL",
        _slack,
    ),
    Check(
        "store.path",
        "SQLite (no `store.url` or `store.url_file`): no file can be created in the "
        "store's directory",
        "store.path: cannot write <path>: <reason> (...)",
        _store,
    ),
    Check(
        "safety.kill_switch_file",
        "no file can be created in the kill switch's directory",
        "safety.kill_switch_file: cannot write <path>: <reason> (...)",
        _kill_switch,
    ),
)


def run_checks(config: Config) -> Startup:
    """Run :data:`CHECKS` in order; the first failure raises :class:`ConfigError`."""
    state = Startup(config)
    for check in CHECKS:
        check.run(state)
    return state


# -- online checks -------------------------------------------------------------------------


async def _online_lacework(s: Startup) -> None:
    cfg = s.config.lacework
    if not (cfg.base_url and cfg.key_id and cfg.resolved_secret()):
        return
    client = LaceworkClient.from_config(cfg, max_attempts=2)
    try:
        await client.verify()
    except LaceworkAuthError as exc:
        raise ConfigError(f"lacework: {exc}") from None
    except LaceworkError as exc:
        raise ConfigError(f"lacework: cannot reach the API: {exc}") from None
    finally:
        await client.close()


async def _assume(aws: AwsProvider, account: str, role: str) -> None:
    arn = aws.role_arn(account, role)
    try:
        session = await aws.session_for(account, None, label="check", role_name=role)
    except Exception as exc:  # noqa: BLE001 - reported as the check's one line
        hint = (
            ": the role does not exist in that account, or its trust policy does not name "
            "this principal"
            if aws_error_code(exc) == "AccessDenied"
            else ""
        )
        raise ConfigError(
            f"aws.role_name: cannot assume {arn}{hint} ({describe_error(exc)})"
        ) from None
    # The role reads itself (preflight needs that too); AWS refuses AssumeRole on a
    # role that does not exist, some stand-ins do not, GetRole tells.
    try:
        async with session.client("iam") as iam:
            await iam.get_role(RoleName=role.rsplit("/", 1)[-1])
    except Exception as exc:  # noqa: BLE001 - only a definite "no such role" counts
        if aws_error_code(exc) == "NoSuchEntity":
            raise ConfigError(f"aws.role_name: role {arn} not found in account {account}") from None


async def _online_aws(s: Startup) -> None:
    async with AwsProvider(s.config.aws) as aws:
        await _online_aws_with(s, aws)


async def _online_aws_with(s: Startup, aws: AwsProvider) -> None:
    try:
        caller = await aws.caller_account()
    except Exception as exc:  # noqa: BLE001 - reported as the check's one line
        raise ConfigError(
            f"aws: the default credentials do not work: {describe_error(exc)}"
        ) from None
    roles = {s.config.aws.role_name} if s.config.aws.role_name else set()
    if s.registry is not None:
        roles |= {r for rid in s.registry.remediations if (r := s.config.role_for(rid))}
    for account in s.config.aws.accounts or [caller]:
        for role in sorted(roles):
            await _assume(aws, account, role)


async def _online_store(s: Startup) -> None:
    cfg = s.config.store
    url = cfg.resolved_url
    if not url:
        return  # SQLite: the offline check already tried its directory
    try:
        version, latest = await schema_status(url, ssl_root_cert=cfg.ssl_root_cert)
    except StoreUnavailable as exc:
        raise ConfigError(f"store.url: {exc}") from None
    if version > latest:
        raise ConfigError(
            f"store.url: the database is at schema version {version}, newer than this "
            f"lw-remediate (version {latest}); upgrade lw-remediate"
        )
    if version < latest:
        s.notes.append(
            f"store.url: the database is at schema version {version}; serve (or "
            f"lw-remediate store migrate) applies migrations {version + 1} to {latest}"
        )


#: Slack answers an incoming webhook's empty message with 400 and one of these: the
#: URL is a live webhook, and nothing was posted.
_SLACK_EMPTY_MESSAGE = ("no_text", "invalid_payload", "missing_text_or_fallback_or_attachments")


async def _online_slack(s: Startup) -> None:
    slack = s.config.notify.slack
    url = slack.resolved_url() if slack.configured else None
    if not url:
        return
    host = yarl.URL(url).host
    timeout = aiohttp.ClientTimeout(total=slack.timeout_seconds)
    try:
        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json={}, timeout=timeout, allow_redirects=False) as resp,
        ):
            body = (await resp.text(errors="replace")).strip()[:100]
            status = resp.status
    except TimeoutError:
        raise ConfigError(f"notify.slack.webhook_url: {host} did not answer in time") from None
    except aiohttp.ClientError as exc:
        raise ConfigError(
            f"notify.slack.webhook_url: cannot reach {host} ({type(exc).__name__})"
        ) from None
    if 200 <= status < 300 or (status == 400 and body in _SLACK_EMPTY_MESSAGE):
        return
    raise ConfigError(
        f"notify.slack.webhook_url: {host} refused the webhook: HTTP {status}"
        + (f" {body}" if body and url not in body else "")
    )


ONLINE_CHECKS: tuple[OnlineCheck, ...] = (
    OnlineCheck(
        "store.url",
        "PostgreSQL (`store.url` set): the database cannot be reached or logged into, or "
        "its schema is newer than this release (an older one is a note: start migrates it)",
        "store.url: cannot connect: <reason>",
        _online_store,
    ),
    OnlineCheck(
        "lacework",
        "the API does not issue a token for the key (rejected, or unreachable)",
        "lacework: Lacework rejected the API key <key id>: <reason> (...)",
        _online_lacework,
    ),
    OnlineCheck(
        "aws",
        "the default credentials do not work, or a role cannot be assumed in an account",
        "aws.role_name: role <arn> not found in account <account>",
        _online_aws,
    ),
    OnlineCheck(
        "notify.slack",
        "the URL does not answer like a Slack webhook (an empty message is sent, which "
        "Slack refuses without posting)",
        "notify.slack.webhook_url: <host> refused the webhook: HTTP <status> <answer>",
        _online_slack,
    ),
)


async def run_online_checks(state: Startup) -> None:
    """Run :data:`ONLINE_CHECKS` in order; the first failure raises :class:`ConfigError`."""
    for check in ONLINE_CHECKS:
        await check.run(state)


#: What ``serve`` checks after the list, while it starts (not predictable by a check).
SERVE_ONLY: tuple[tuple[str, str, str], ...] = (
    (
        "store.path",
        "the SQLite store cannot be opened (not a SQLite file, locked, ...)",
        "cannot start: store.path: cannot open <path>: <reason>",
    ),
    (
        "store.url",
        "the PostgreSQL store cannot be opened (unreachable, refused, a newer schema)",
        "cannot start: PostgreSQL store: <reason>",
    ),
    (
        "server.host, server.port",
        "the address cannot be bound (in use, not an address of this host, privileged port)",
        "cannot start: cannot listen on <host>:<port>: <reason>",
    ),
)


def checks_table() -> str:
    """The Markdown table of every start-up check, as ``docs/operating.md`` shows it."""
    rows = ["| run by | key | fails when | message |", "| --- | --- | --- | --- |"]
    for check in CHECKS:
        rows.append(
            f"| `serve`, `config check` | `{check.key}` | {check.fails_when} | `{check.message}` |"
        )
    for online in ONLINE_CHECKS:
        rows.append(
            f"| `config check --online` | `{online.key}` | {online.fails_when} | `{online.message}` |"
        )
    for key, fails_when, message in SERVE_ONLY:
        rows.append(f"| `serve` only | `{key}` | {fails_when} | `{message}` |")
    return "\n".join(rows) + "\n"
