"""Composition root: build the engine (store, AWS, Lacework, notifiers) from config."""

from __future__ import annotations

from .aws.credentials import AwsProvider
from .config import Config
from .errors import ConfigError
from .ingest.lacework import LaceworkClient
from .metrics import Metrics
from .model import Mode
from .notify import Notifiers
from .pipeline.engine import Engine
from .plugins import MapRegistry, load_maps, load_notifiers
from .store import SqliteStore


def load_registry(config: Config) -> MapRegistry:
    """Load the maps the config allows and validate the per-remediation tables."""
    registry = load_maps(
        allow=config.maps.allow, strict=config.strict_maps, rule_choices=config.rules
    )
    config.validate_remediations(registry.remediations)
    return registry


def lacework_client(config: Config) -> LaceworkClient | None:
    cfg = config.lacework
    if not (cfg.base_url or cfg.key_id or cfg.resolved_secret()):
        return None
    return LaceworkClient.from_config(cfg)


def build_engine(
    config: Config,
    registry: MapRegistry,
    *,
    store_path: str | None = None,
    mode_override: Mode | None = None,
    trust_payload_resources: bool | None = None,
) -> Engine:
    """An engine wired to the configured store, AWS, Lacework API and notifiers."""
    return Engine(
        config=config,
        registry=registry,
        store=SqliteStore(
            store_path or config.store.path, synchronous=config.store.synchronous.upper()
        ),
        aws=AwsProvider(config.aws),
        lacework=lacework_client(config),
        notifiers=Notifiers(
            load_notifiers(config.notify, allow=config.maps.allow, strict=config.strict_maps)
        ),
        metrics=Metrics(),
        mode_override=mode_override,
        trust_payload_resources=(
            config.lacework.trust_payload_resources
            if trust_payload_resources is None
            else trust_payload_resources
        ),
    )


def require_webhook_token(config: Config) -> str:
    token = config.server.resolved_webhook_token()
    if not token:
        raise ConfigError(
            "server.webhook_token (or server.webhook_token_file) is required to serve"
        )
    if len(token) < 16:
        raise ConfigError("server.webhook_token: use at least 16 random characters")
    return token
