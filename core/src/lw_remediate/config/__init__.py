"""Configuration: one TOML file plus environment overrides, validated with pydantic.

:mod:`.models` holds the model (one pydantic model per table, :class:`Config`),
:mod:`.loading` reads the file and the environment (:func:`load_config`). Import both
from here.
"""

from __future__ import annotations

from .loading import ENV_CONFIG, ENV_PREFIX, load_config
from .models import (
    AwsConfig,
    BudgetsConfig,
    Config,
    ExemptionConfig,
    LaceworkConfig,
    MapsConfig,
    NotifyConfig,
    RemediationDefaults,
    SafetyConfig,
    ServerConfig,
    SlackConfig,
    StoreConfig,
    SweepConfig,
    TagMatch,
    exemption_problem,
    first_error,
)

__all__ = [
    "ENV_CONFIG",
    "ENV_PREFIX",
    "AwsConfig",
    "BudgetsConfig",
    "Config",
    "ExemptionConfig",
    "LaceworkConfig",
    "MapsConfig",
    "NotifyConfig",
    "RemediationDefaults",
    "SafetyConfig",
    "ServerConfig",
    "SlackConfig",
    "StoreConfig",
    "SweepConfig",
    "TagMatch",
    "exemption_problem",
    "first_error",
    "load_config",
]
