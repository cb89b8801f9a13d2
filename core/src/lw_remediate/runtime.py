"""The one composition root: everything long-lived, built from a configuration.

::

    async with Runtime(config) as rt:
        await rt.engine.handle_violation(violation)

Building a :class:`Runtime` is synchronous and opens nothing: it loads the maps the
configuration allows, validates every per-remediation table against them (a bad key
is a :class:`~lw_remediate.errors.ConfigError` naming it), and wires the store, the
AWS provider, the Lacework client, the notifiers and the engine. Entering it opens the
store; leaving it closes the store and the Lacework client's HTTP session, whatever
happened inside. ``serve``, ``replay``, ``sweep``, ``history``, the operator controls
and the demo all run through it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import structlog

from .aws.credentials import AwsProvider
from .config import Config
from .errors import ConfigError
from .ingest.lacework import LaceworkAuthError, LaceworkClient, LaceworkError
from .metrics import Metrics
from .model import Mode
from .notify import Notifiers
from .pipeline.engine import Engine
from .plugins import MapRegistry, load_notifiers, load_registry
from .redact import register as register_secrets
from .store import PostgresStore, SqliteStore, Store

log = structlog.get_logger(__name__)


def lacework_client(config: Config) -> LaceworkClient | None:
    """The Lacework API client, or None when no API is configured."""
    cfg = config.lacework
    if not (cfg.base_url or cfg.key_id or cfg.resolved_secret()):
        return None
    return LaceworkClient.from_config(cfg)


#: Sections a reload does not change (the running values stay until a restart).
_RESTART_SECTIONS = ("server", "store", "lacework")


@dataclass(frozen=True)
class Reloaded:
    """What a configuration reload changed."""

    source: str | None
    #: Top-level sections that differ (``remediations``, ``safety``, ...).
    changed: list[str]
    #: ``<remediation id>: <old mode> -> <new mode>`` for each mode that changed.
    modes: list[str]
    #: Changed settings that keep their running value until a restart.
    restart_needed: list[str]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "changed": self.changed,
            "modes": self.modes,
            "restart_needed": self.restart_needed,
            "notes": self.notes,
        }

    def describe(self) -> str:
        what = ", ".join(self.changed) if self.changed else "nothing changed"
        text = f"configuration reloaded from {self.source or '(environment)'}: {what}"
        if self.modes:
            text += "; modes " + "; ".join(self.modes)
        if self.restart_needed:
            text += f"; needs a restart to apply: {', '.join(self.restart_needed)}"
        return text


def make_store(config: Config, store_path: str | None = None) -> Store:
    """The configured store: PostgreSQL when ``[store] url`` is set (and no other SQLite
    file is asked for), else the SQLite file."""
    cfg = config.store
    url = cfg.resolved_url
    if url and store_path is None:
        return PostgresStore(
            url,
            ssl_root_cert=cfg.ssl_root_cert,
            pool_min=cfg.pool_min,
            pool_max=max(cfg.pool_max, cfg.pool_min),
            lease_seconds=cfg.lease_seconds,
            lock_connections=config.remediation.concurrency,
        )
    return SqliteStore(store_path or cfg.path, synchronous=cfg.synchronous.upper())


class Runtime:
    """Owns the store, the Lacework client, the AWS provider, the notifiers and the
    engine built on them, and their shutdown.

    :param registry: the loaded maps (default: :func:`load_registry` of ``config``).
    :param store_path: another SQLite store file than ``[store] path`` / ``url``.
    :param mode_override: one mode for every remediation (``replay --mode``).
    :param trust_payload_resources: use the resources a payload lists without asking
        the Lacework API (default: ``[lacework] trust_payload_resources``).
    """

    def __init__(
        self,
        config: Config,
        *,
        registry: MapRegistry | None = None,
        store_path: str | None = None,
        mode_override: Mode | None = None,
        trust_payload_resources: bool | None = None,
    ) -> None:
        self.config = config
        register_secrets(config.secret_values())
        self.registry = registry if registry is not None else load_registry(config)
        self.store: Store = make_store(config, store_path)
        self.aws = AwsProvider(config.aws)
        self.lacework = lacework_client(config)
        self.metrics = Metrics()
        self.notifiers = Notifiers(
            load_notifiers(config.notify, allow=config.maps.allow, strict=config.strict_maps),
            metrics=self.metrics,
        )
        self.engine = Engine(
            config=config,
            registry=self.registry,
            store=self.store,
            aws=self.aws,
            lacework=self.lacework,
            notifiers=self.notifiers,
            metrics=self.metrics,
            mode_override=mode_override,
            trust_payload_resources=(
                config.lacework.trust_payload_resources
                if trust_payload_resources is None
                else trust_payload_resources
            ),
        )

    async def verify_lacework(
        self,
        *,
        first_delay: float = 2.0,
        max_delay: float = 300.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Get a Lacework API token, trying again with backoff until one is issued.

        Each result is the ``lacework`` dependency's state (``/readyz``, ``/metrics``):
        a rejected key is fatal (readiness fails until it is fixed), an outage is not
        (alerts are kept in the inbox meanwhile). Returns once the key works; the
        daemon keeps serving all along.
        """
        if self.lacework is None:
            return
        delay = first_delay
        while True:
            try:
                await self.lacework.verify()
            except LaceworkAuthError as exc:
                self.metrics.dependency_failed("lacework", str(exc), fatal=True)
                error = str(exc)
            except LaceworkError as exc:
                self.metrics.dependency_failed("lacework", str(exc))
                error = str(exc)
            else:
                self.metrics.dependency_ok("lacework")
                log.info("lacework_verified")
                return
            log.warning("lacework_unverified", error=error, retry_in=delay)
            await sleep(delay)
            delay = min(delay * 2, max_delay)

    async def reload(self, *, by: str, via: str) -> Reloaded:
        """Read the configuration file again and use it, as ``serve`` would start with it.

        The new file goes through the start-up checks first: when it fails them the
        running configuration stays, the reason is logged and audited, and
        :class:`ConfigError` says why. Otherwise modes, options, rules, exemptions,
        budgets, safety, AWS and notification settings apply to every action from now
        on; ``[server]``, ``[store]``, ``[lacework]`` and ``[remediation] concurrency``
        keep their running values until a restart (the answer lists them). Audited as
        ``config_reloaded`` / ``config_reload_failed`` with ``by``.
        """
        from .config import load_config
        from .operate.startup import run_checks

        source = self.config.source
        try:
            new = load_config(source) if source else load_config(environ=os.environ)
            startup = run_checks(new)
        except ConfigError as exc:
            log.warning("config_reload_failed", error=str(exc), by=by, via=via, source=source)
            await self.engine.safety.audit(
                "config_reload_failed",
                f"{exc}; the running configuration is kept",
                actor=by,
                data={"via": via, "source": source},
            )
            raise
        assert startup.registry is not None  # the maps check loaded it
        old = self.config
        kept = {s: getattr(old, s) for s in _RESTART_SECTIONS}
        restart = [s for s in _RESTART_SECTIONS if getattr(new, s) != kept[s]]
        if new.remediation.concurrency != old.remediation.concurrency:
            restart.append("remediation.concurrency")
        remediation = new.remediation.model_copy(
            update={"concurrency": old.remediation.concurrency}
        )
        new = new.model_copy(update={**kept, "remediation": remediation})
        changed = [
            name
            for name in Config.model_fields
            if name != "source" and getattr(new, name) != getattr(old, name)
        ]
        modes = [
            f"{rid}: {old.mode_for(rid).value} -> {new.mode_for(rid).value}"
            for rid in sorted(startup.registry.remediations)
            if rid not in self.registry.remediations or old.mode_for(rid) != new.mode_for(rid)
        ]
        self.config = new
        self.registry = startup.registry
        self.aws.reconfigure(new.aws)
        self.notifiers.notifiers = load_notifiers(
            new.notify, allow=new.maps.allow, strict=new.strict_maps
        )
        self.engine.reconfigure(new, startup.registry)
        register_secrets(new.secret_values())
        result = Reloaded(source, changed, modes, restart, startup.notes)
        log.info("config_reloaded", by=by, via=via, **result.to_dict())
        await self.engine.safety.audit(
            "config_reloaded", result.describe(), actor=by, data={"via": via, **result.to_dict()}
        )
        return result

    async def open(self) -> Runtime:
        """Open the store (a no-op when it is open already)."""
        if not self.store.is_open:
            await self.store.open()
        return self

    async def close(self) -> None:
        """Close the store, the Lacework client and the pooled AWS clients; safe to call twice."""
        try:
            await self.store.close()
        finally:
            try:
                if self.lacework is not None:
                    await self.lacework.close()
            finally:
                await self.aws.close()

    async def __aenter__(self) -> Runtime:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
