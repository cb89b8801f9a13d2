"""The configuration's model: one pydantic model per TOML table, and :class:`Config`.

:func:`first_error` turns a pydantic error into the one line an operator reads.
"""

from __future__ import annotations

import datetime
import re
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import pydantic

from ..errors import ConfigError
from ..model import Mode, Status
from ..rules import canonical_rule_id, normal_rule_id

#: Keys of a [remediation."<id>"] table that are not the remediation's options.
_NON_OPTION_KEYS = frozenset({"mode", "role_name"})
_ROLE_NAME_RE = re.compile(r"^(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


class _Section(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")


def _read_secret(value: str | None, path: str | None, what: str) -> str | None:
    if value:
        return value
    if path:
        try:
            return Path(path).read_text("utf-8").strip()
        except OSError as exc:
            raise ConfigError(f"{what}: cannot read {path}: {exc.strerror}") from exc
    return None


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: int = pydantic.Field(8080, ge=0, le=65535)
    webhook_token: pydantic.SecretStr | None = None
    webhook_token_file: str | None = None
    admin_token: pydantic.SecretStr | None = None
    admin_token_file: str | None = None
    max_body_bytes: int = pydantic.Field(1024 * 1024, ge=1024)
    #: Per-person tokens for the web console (``/ui``): name -> token, so the audit
    #: trail names who approved. The admin token logs in as ``admin``.
    operators: dict[str, pydantic.SecretStr] = pydantic.Field(default_factory=dict)
    #: The console's external base URL (``https://remediate.example.com``): Slack
    #: messages for an action awaiting approval link to its approval page.
    public_url: str | None = None

    @pydantic.field_validator("operators")
    @classmethod
    def _operators(cls, value: dict[str, pydantic.SecretStr]) -> dict[str, pydantic.SecretStr]:
        for name, token in value.items():
            if not re.fullmatch(r"[\w.@+-]{1,64}", name):
                raise ValueError(f"{name!r}: an operator name is 1-64 letters, digits or ._@+-")
            if len(token.get_secret_value()) < 16:
                raise ValueError(f"{name}: use at least 16 random characters for a token")
        return value

    @pydantic.field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https?://[^\s/?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"{value!r} is not an http(s) base URL")
        return value.rstrip("/") if value else value

    def resolved_webhook_token(self) -> str | None:
        raw = self.webhook_token.get_secret_value() if self.webhook_token else None
        return _read_secret(raw, self.webhook_token_file, "server.webhook_token_file")

    def resolved_admin_token(self) -> str | None:
        raw = self.admin_token.get_secret_value() if self.admin_token else None
        return _read_secret(raw, self.admin_token_file, "server.admin_token_file")


class LaceworkConfig(_Section):
    account: str | None = None
    subaccount: str | None = None
    api_url: str | None = None
    key_id: str | None = None
    secret: pydantic.SecretStr | None = None
    secret_file: str | None = None
    #: Act on resources listed in EventBridge / Alerts API payloads without re-reading
    #: them from the API. Off: anyone who learns the webhook URL could name resources.
    trust_payload_resources: bool = False
    max_attempts: int = pydantic.Field(8, ge=1)
    request_timeout_seconds: float = pydantic.Field(30, gt=0)

    @property
    def base_url(self) -> str | None:
        if self.api_url:
            return self.api_url.rstrip("/")
        if self.account:
            host = self.account if "." in self.account else f"{self.account}.lacework.net"
            return f"https://{host}"
        return None

    def resolved_secret(self) -> str | None:
        raw = self.secret.get_secret_value() if self.secret else None
        return _read_secret(raw, self.secret_file, "lacework.secret_file")


class AwsConfig(_Section):
    region: str = "us-east-1"
    endpoint_url: str | None = None
    role_name: str | None = None
    external_id: str | None = None
    accounts: list[str] = pydantic.Field(default_factory=list)
    #: Narrow each assumed-role session to the remediation's declared policy.
    session_policy: bool = True

    @pydantic.field_validator("accounts")
    @classmethod
    def _accounts(cls, value: list[str]) -> list[str]:
        for account in value:
            if not (account.isdigit() and len(account) == 12):
                raise ValueError(f"{account!r} is not a 12-digit AWS account id")
        return value


NOT_A_POSTGRES_URL = "must be a postgresql:// URL (use [store] path for SQLite)"


def _is_postgres_url(text: str) -> bool:
    return text.startswith(("postgresql://", "postgres://"))


class StoreConfig(_Section):
    """``[store]``: SQLite (``path``, the embedded default) or, with ``url`` (or
    ``url_file``), the shared PostgreSQL store several instances run on
    (``LW_REMEDIATE_STORE_URL``)."""

    path: str = "lw-remediate.sqlite3"
    #: ``postgresql://user:password@host:5432/db?sslmode=verify-full``; when set, the
    #: store is PostgreSQL and ``path`` only places the local kill-switch file.
    url: pydantic.SecretStr | None = None
    #: A file holding the URL (a systemd credential, a mounted secret); ``url`` wins.
    url_file: str | None = None
    #: CA bundle the PostgreSQL server's certificate is verified against (TLS on,
    #: host name checked); without it the URL's ``sslmode`` decides.
    ssl_root_cert: str | None = None
    pool_min: int = pydantic.Field(1, ge=0, le=100)
    pool_max: int = pydantic.Field(10, ge=1, le=100)
    #: How long an instance's claim on an inbox row or an action outlives its last
    #: renewal (a live instance renews every third of it); a dead instance's work is
    #: taken over by another after this long.
    lease_seconds: float = pydantic.Field(60, ge=1, le=3600)
    #: SQLite durability of each commit. "full" survives power loss; "normal" (WAL)
    #: survives a crash of the daemon or a SIGKILL but may lose the last commits on
    #: power loss, for roughly twice the ingest throughput (bench/ingest.py).
    synchronous: Literal["full", "normal"] = "full"

    @pydantic.field_validator("url")
    @classmethod
    def _url(cls, value: pydantic.SecretStr | None) -> pydantic.SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not _is_postgres_url(value.get_secret_value()):
            raise ValueError(NOT_A_POSTGRES_URL)
        return value

    @property
    def postgres(self) -> bool:
        """The store is PostgreSQL (``url`` or ``url_file`` set), not SQLite."""
        return self.url is not None or bool(self.url_file)

    @property
    def resolved_url(self) -> str | None:
        """The PostgreSQL URL (read from ``url_file`` when ``url`` is unset); None for
        SQLite. Raises ConfigError for a file that cannot be read or is no such URL."""
        if self.url is not None:
            return self.url.get_secret_value()
        url = _read_secret(None, self.url_file, "store.url_file")
        if url is not None and not _is_postgres_url(url):
            raise ConfigError(f"store.url_file: {self.url_file}: {NOT_A_POSTGRES_URL}")
        return url

    def url_secrets(self) -> list[str]:
        """The URL and its password, masked wherever they could be printed."""
        try:
            url = self.resolved_url
        except ConfigError:  # an unreadable file is reported where it is used
            return []
        if not url:
            return []
        password = urllib.parse.urlsplit(url).password
        return [url, *([password] if password else [])]


class SlackConfig(_Section):
    """``[notify.slack]``: the built-in Slack incoming-webhook notifier."""

    webhook_url: pydantic.SecretStr | None = None
    webhook_url_file: str | None = None
    #: Budget for one message, retry included.
    timeout_seconds: float = pydantic.Field(8, gt=0, le=60)
    #: Only outcomes with these statuses are sent (all when unset). Other kinds of
    #: notification (approval requested, kill switch, dead alert, ...) are always sent.
    statuses: list[Status] | None = None

    @property
    def configured(self) -> bool:
        return bool(self.webhook_url or self.webhook_url_file)

    def resolved_url(self) -> str | None:
        raw = self.webhook_url.get_secret_value() if self.webhook_url else None
        return _read_secret(raw, self.webhook_url_file, "notify.slack.webhook_url_file")


class NotifyConfig(pydantic.BaseModel):
    """``[notify]``: one table per channel. ``slack`` is built in and validated here;
    any other table is kept as is for the plugin that implements that channel
    (``lw_remediate_notifiers``)."""

    model_config = pydantic.ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, dict[str, Any]] = pydantic.Field(init=False)

    slack: SlackConfig = pydantic.Field(default_factory=SlackConfig)

    def channels(self) -> dict[str, dict[str, Any]]:
        """The channel tables given in the configuration, as the notifier hook receives them."""
        return self.model_dump(exclude_unset=True)


class MapsConfig(_Section):
    #: Only these map distributions are loaded (all installed maps when unset).
    allow: list[str] | None = None


class RemediationDefaults(_Section):
    default_mode: Mode = Mode.DRY_RUN
    concurrency: int = pydantic.Field(8, ge=1, le=256)
    timeout_seconds: float = pydantic.Field(300, gt=0)
    enrich_max_attempts: int = pydantic.Field(10, ge=1)
    #: First delay before retrying an alert that could not be enriched; doubles per attempt.
    enrich_retry_seconds: float = pydantic.Field(2.0, gt=0, le=3600)


class SafetyConfig(_Section):
    """``[safety]``: the kill switch, approvals, the flap guard and exemption tagging."""

    #: A file whose presence pauses every ``apply`` (``lw-remediate kill-switch on``
    #: creates it). Default: ``<store path without suffix>.kill-switch``.
    kill_switch_file: str | None = None
    #: An action awaiting approval that is not approved within this time expires
    #: (ends ``refused``); approving it later does nothing.
    approval_ttl_seconds: float = pydantic.Field(86400, gt=0)
    #: Changes allowed to one resource for one rule within ``flap_window_seconds``;
    #: the next violation is refused as ``flapping`` until an operator clears it.
    flap_max_changes: int = pydantic.Field(3, ge=1)
    flap_window_seconds: float = pydantic.Field(86400, gt=0)
    #: Remediation ids (or ``"*"``) whose exempted resources get the exemption tag,
    #: so a Lacework suppression rule on that tag stops the alert at its source.
    tag_exempted_resources: list[str] = pydantic.Field(default_factory=list)
    exemption_tag_key: str = pydantic.Field("lw-remediate:exempted", min_length=1, max_length=128)
    exemption_tag_value: str = pydantic.Field("true", max_length=256)

    def resolved_kill_switch_file(self, store_path: str) -> str:
        if self.kill_switch_file:
            return self.kill_switch_file
        return str(Path(store_path).with_suffix(".kill-switch"))


class BudgetsConfig(_Section):
    """``[budgets]``: changes (actions that reached ``apply``) allowed per rolling hour.
    Unset: no limit. The change over a limit ends ``refused``."""

    per_rule_per_hour: int | None = pydantic.Field(None, ge=0)
    per_account_per_hour: int | None = pydantic.Field(None, ge=0)
    global_per_hour: int | None = pydantic.Field(None, ge=0)


class TagMatch(_Section):
    """A resource tag an exemption matches; ``value`` unset matches any value."""

    key: str = pydantic.Field(min_length=1)
    value: str | None = None


class ExemptionConfig(_Section):
    """One exemption (``[[exemptions]]`` or ``lw-remediate exemptions add``).

    Every criterion given must match (at least one is required); ``tag`` is read
    live from the resource. ``expires`` unset: never expires.
    """

    id: str | None = pydantic.Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    arn: str | None = pydantic.Field(None, min_length=1)
    account: str | None = None
    rule: str | None = pydantic.Field(None, min_length=1)
    remediation: str | None = pydantic.Field(None, min_length=1)
    tag: TagMatch | None = None
    owner: str = pydantic.Field(min_length=1)
    reason: str = pydantic.Field(min_length=1)
    expires: datetime.datetime | None = None

    @pydantic.field_validator("account")
    @classmethod
    def _account(cls, value: str | None) -> str | None:
        if value is not None and not (value.isdigit() and len(value) == 12):
            raise ValueError(f"{value!r} is not a 12-digit AWS account id")
        return value

    @pydantic.field_validator("expires", mode="before")
    @classmethod
    def _date(cls, value: Any) -> Any:
        if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
            return datetime.datetime.combine(value, datetime.time.min, datetime.UTC)
        return value

    @pydantic.field_validator("expires")
    @classmethod
    def _utc(cls, value: datetime.datetime | None) -> datetime.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=datetime.UTC)
        return value

    @pydantic.model_validator(mode="after")
    def _some_criterion(self) -> ExemptionConfig:
        if not (self.arn or self.account or self.rule or self.remediation or self.tag):
            raise ValueError("give at least one of arn, account, rule, remediation, tag")
        return self


def exemption_problem(ex: ExemptionConfig, known: Mapping[str, Any]) -> str | None:
    """Why an exemption could never match with the installed remediations (``known``:
    id -> remediation), as ``<key>: <reason>``; None when it can."""
    rem = known.get(ex.remediation) if ex.remediation else None
    if ex.remediation and rem is None:
        return f"remediation: no installed remediation {ex.remediation!r}"
    if not ex.rule:
        return None
    if rem is not None and not _claims(rem, ex.rule):
        return (
            f"rule: {ex.remediation} does not handle {ex.rule!r}; the exemption could never match"
        )
    if rem is None and not any(_claims(other, ex.rule) for other in known.values()):
        return (
            f"rule: no installed remediation handles {ex.rule!r}; the exemption could never match"
        )
    return None


def _claims(remediation: Any, rule: str) -> bool:
    """``remediation`` is for ``rule``: one of its rules (either id form) or an id it
    declares (``rule_ids``)."""
    if canonical_rule_id(rule) in {canonical_rule_id(r) for r in remediation.rules}:
        return True
    declared = {getattr(d, "id", d) for d in getattr(remediation, "rule_ids", ())}
    return normal_rule_id(rule) in declared


class SweepConfig(_Section):
    """``[sweep]``: remediating what the latest compliance reports list (``lw-remediate sweep``)."""

    #: Report types fetched per account when none is given (``--report-type``).
    report_types: list[str] = pydantic.Field(default_factory=lambda: ["AWS_CIS_S3"], min_length=1)
    #: Actions at once in one account and region.
    concurrency_per_region: int = pydantic.Field(4, ge=1, le=256)
    #: Actions started per second in one account and region (0: unpaced).
    rate_per_region: float = pydantic.Field(10.0, ge=0)
    #: Report requests per minute to the Lacework API (it allows about 480 per hour).
    lacework_requests_per_minute: float = pydantic.Field(8.0, gt=0)
    #: Retries of a report request or an action that was throttled.
    max_retries: int = pydantic.Field(3, ge=0, le=20)
    #: First back-off after throttling; doubles per retry, up to ``backoff_max_seconds``.
    backoff_seconds: float = pydantic.Field(1.0, gt=0, le=600)
    backoff_max_seconds: float = pydantic.Field(60.0, gt=0, le=3600)
    #: Seconds between progress lines when the output is not a terminal.
    progress_seconds: float = pydantic.Field(10.0, gt=0, le=3600)

    @pydantic.field_validator("report_types", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):  # LW_REMEDIATE_SWEEP_REPORT_TYPES=AWS_CIS_S3,AWS_CIS_14
            return [v.strip() for v in value.split(",") if v.strip()]
        return value


class Config(_Section):
    """The whole configuration. ``remediations`` holds per-remediation tables raw:
    ``mode`` plus options, validated against each remediation's options model once the
    maps are loaded (:meth:`validate_remediations`)."""

    strict_maps: bool = False
    server: ServerConfig = pydantic.Field(default_factory=ServerConfig)
    lacework: LaceworkConfig = pydantic.Field(default_factory=LaceworkConfig)
    aws: AwsConfig = pydantic.Field(default_factory=AwsConfig)
    store: StoreConfig = pydantic.Field(default_factory=StoreConfig)
    notify: NotifyConfig = pydantic.Field(default_factory=NotifyConfig)
    maps: MapsConfig = pydantic.Field(default_factory=MapsConfig)
    remediation: RemediationDefaults = pydantic.Field(default_factory=RemediationDefaults)
    sweep: SweepConfig = pydantic.Field(default_factory=SweepConfig)
    remediations: dict[str, dict[str, Any]] = pydantic.Field(default_factory=dict)
    safety: SafetyConfig = pydantic.Field(default_factory=SafetyConfig)
    budgets: BudgetsConfig = pydantic.Field(default_factory=BudgetsConfig)
    exemptions: list[ExemptionConfig] = pydantic.Field(default_factory=list)
    rules: dict[str, str] = pydantic.Field(default_factory=dict)
    source: str | None = None

    def secret_values(self) -> list[str]:
        """Every configured secret that can be read: webhook and admin tokens, the
        Lacework key id and secret, the Slack webhook URL, the store URL and its
        password (for redaction by value)."""
        getters = (
            self.server.resolved_webhook_token,
            self.server.resolved_admin_token,
            self.lacework.resolved_secret,
            lambda: self.lacework.key_id,
            self.notify.slack.resolved_url,
        )
        values: list[str] = list(self.store.url_secrets())
        values += [t.get_secret_value() for t in self.server.operators.values()]
        for get in getters:
            try:
                value = get()
            except ConfigError:  # an unreadable secret file is reported where it is used
                continue
            if value:
                values.append(value)
        return values

    def mode_for(self, remediation_id: str) -> Mode:
        raw = self.remediations.get(remediation_id, {}).get("mode")
        return Mode(raw) if raw else self.remediation.default_mode

    def options_for(self, remediation_id: str) -> dict[str, Any]:
        table = self.remediations.get(remediation_id, {})
        return {k: v for k, v in table.items() if k not in _NON_OPTION_KEYS}

    def role_for(self, remediation_id: str) -> str | None:
        """The role assumed for this remediation: its own ``role_name`` (e.g. a separate
        role for privilege-sensitive remediations) or ``[aws] role_name``."""
        own = self.remediations.get(remediation_id, {}).get("role_name")
        return str(own) if own else self.aws.role_name

    def validate_remediations(self, known: Mapping[str, Any]) -> None:
        """Check per-remediation tables against the loaded remediations; raise ConfigError."""
        for rid, table in self.remediations.items():
            where = f'remediation."{rid}"'
            rem = known.get(rid)
            if rem is None:
                raise ConfigError(f"{where}: no installed remediation has this id")
            mode = table.get("mode")
            role = table.get("role_name")
            if role is not None and not (isinstance(role, str) and _ROLE_NAME_RE.match(role)):
                raise ConfigError(
                    f"{where}.role_name: {role!r} is not an IAM role name (optionally with a path)"
                )
            if mode is not None and mode not in {m.value for m in Mode}:
                raise ConfigError(
                    f"{where}.mode: {mode!r} is not one of {', '.join(m.value for m in Mode)}"
                )
            try:
                rem.parse_options(self.options_for(rid))
            except pydantic.ValidationError as exc:
                raise ConfigError(first_error(exc, prefix=where)) from None
        for rule, rid in self.rules.items():
            if rid not in known:
                raise ConfigError(f"rules.{rule}: no installed remediation {rid!r}")
        for i, ex in enumerate(self.exemptions):
            problem = exemption_problem(ex, known)
            if problem:
                raise ConfigError(f"exemptions[{i}].{problem}")
        for rid in self.safety.tag_exempted_resources:
            if rid != "*" and rid not in known:
                raise ConfigError(
                    f"safety.tag_exempted_resources: no installed remediation {rid!r}"
                )


def first_error(
    exc: pydantic.ValidationError,
    *,
    prefix: str = "",
    origins: Mapping[tuple[str, ...], str] | None = None,
) -> str:
    """``<key>: <reason>`` for the first error; ``origins`` names the environment
    variable a key came from (key path -> variable name)."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    key = ".".join(p for p in (prefix, loc) if p)
    # pydantic's wording for a key the schema does not have
    message = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    path = tuple(str(p) for p in err["loc"])
    variable = next((name for k, name in (origins or {}).items() if path[: len(k)] == k), None)
    if variable:
        message += f" (from the environment variable {variable})"
    return f"{key}: {message}"
