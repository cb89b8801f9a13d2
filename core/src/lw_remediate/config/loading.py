"""Loading the configuration: the TOML file, then the environment over it, validated.

Precedence (highest first): ``LW_REMEDIATE_<SECTION>_<KEY>`` environment variables,
the Lacework CLI's variables (``LW_ACCOUNT``, ``LW_API_KEY``, ``LW_API_SECRET``,
``LW_SUBACCOUNT``) for the ``[lacework]`` table, the TOML file, the defaults.
Secrets may also come from files (``*_file`` keys).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from typing import Any

import pydantic

from ..errors import ConfigError
from ..redact import register as register_secrets
from .models import Config, RemediationDefaults, first_error

ENV_CONFIG = "LW_REMEDIATE_CONFIG"
ENV_PREFIX = "LW_REMEDIATE_"


_MODE_SECTION_KEYS = set(RemediationDefaults.model_fields)


def _split_remediation_table(data: dict[str, Any]) -> None:
    table = data.get("remediation")
    if not isinstance(table, dict):
        return
    per = {k: v for k, v in table.items() if k not in _MODE_SECTION_KEYS}
    for key, value in per.items():
        if not isinstance(value, dict):
            raise ConfigError(
                f"remediation.{key}: unknown key (per-remediation settings go in a table)"
            )
    data["remediation"] = {k: v for k, v in table.items() if k in _MODE_SECTION_KEYS}
    data["remediations"] = per


def _env_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> dict[tuple[str, ...], str]:
    """Apply the environment to ``data``; return which key each variable set."""
    origins: dict[tuple[str, ...], str] = {}
    lw = data.setdefault("lacework", {})
    for env, key in (
        ("LW_ACCOUNT", "account"),
        ("LW_SUBACCOUNT", "subaccount"),
        ("LW_API_KEY", "key_id"),
        ("LW_API_SECRET", "secret"),
    ):
        if environ.get(env):
            lw[key] = environ[env]
            origins[("lacework", key)] = env
    sections = {
        "SERVER": "server",
        "LACEWORK": "lacework",
        "AWS": "aws",
        "STORE": "store",
        "REMEDIATION": "remediation",
        "SWEEP": "sweep",
        "MAPS": "maps",
        "SAFETY": "safety",
        "BUDGETS": "budgets",
    }
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name == ENV_CONFIG:
            continue
        rest = name[len(ENV_PREFIX) :]
        if rest == "STRICT_MAPS":
            data["strict_maps"] = value.lower() in {"1", "true", "yes", "on"}
            origins[("strict_maps",)] = name
            continue
        section, _, key = rest.partition("_")
        if section in sections and key:
            target = data.setdefault(sections[section], {})
            key = key.lower()
            if key in {"accounts", "allow", "tag_exempted_resources"}:
                target[key] = [v.strip() for v in value.split(",") if v.strip()]
            else:
                target[key] = value
            origins[(sections[section], key)] = name
    return origins


def load_config(
    path: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Config:
    """Load and validate the configuration; raise :class:`ConfigError` naming the bad key."""
    environ = os.environ if environ is None else environ
    path = path or environ.get(ENV_CONFIG)
    data: dict[str, Any] = {}
    if path:
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except OSError as exc:
            raise ConfigError(f"{path}: {exc.strerror}") from None
    _split_remediation_table(data)
    origins = _env_overrides(data, environ)
    try:
        config = Config.model_validate(data)
    except pydantic.ValidationError as exc:
        raise ConfigError(first_error(exc, origins=origins)) from None
    config.source = str(path) if path else None
    register_secrets(config.secret_values())
    return config
