"""The one composition root: everything long-lived, built from a configuration.

::

    async with Runtime(config) as rt:
        replayed = await rt.engine.replay(alerts)

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
from collections.abc import Awaitable, Callable
from types import TracebackType

import structlog

from .aws.credentials import AwsProvider
from .config import Config
from .ingest.lacework import LaceworkAuthError, LaceworkClient, LaceworkError
from .metrics import Metrics
from .model import Mode
from .notify import Notifiers
from .pipeline.engine import Engine
from .plugins import MapRegistry, load_notifiers, load_registry
from .redact import register as register_secrets
from .store import SqliteStore, Store

log = structlog.get_logger(__name__)


def lacework_client(config: Config) -> LaceworkClient | None:
    """The Lacework API client, or None when no API is configured."""
    cfg = config.lacework
    if not (cfg.base_url or cfg.key_id or cfg.resolved_secret()):
        return None
    return LaceworkClient.from_config(cfg)


class Runtime:
    """Owns the store, the Lacework client, the AWS provider, the notifiers and the
    engine built on them, and their shutdown.

    :param registry: the loaded maps (default: :func:`load_registry` of ``config``).
    :param store_path: another store file than ``[store] path``.
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
        self.store: Store = SqliteStore(
            store_path or config.store.path, synchronous=config.store.synchronous.upper()
        )
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

    async def open(self) -> Runtime:
        """Open the store (a no-op when it is open already)."""
        if not self.store.is_open:
            await self.store.open()
        return self

    async def close(self) -> None:
        """Close the store and the Lacework client; safe to call twice."""
        try:
            await self.store.close()
        finally:
            if self.lacework is not None:
                await self.lacework.close()

    async def __aenter__(self) -> Runtime:
        return await self.open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
