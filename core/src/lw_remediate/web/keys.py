"""Every typed ``web.AppKey`` of the daemon's aiohttp application, in one place.

The root application holds them all; the ``/admin`` sub-application's handlers read
them through ``request.config_dict``.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from ..config import Config
from ..operate.control import Control
from ..operate.sweep import SweepManager
from ..pipeline.engine import Engine
from ..pipeline.worker import Worker
from ..runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)
ENGINE = web.AppKey("engine", Engine)
CONFIG = web.AppKey("config", Config)
#: Resolved once at start-up: a token file is not re-read per request.
WEBHOOK_TOKEN = web.AppKey("webhook_token", str)
ADMIN_TOKEN = web.AppKey("admin_token", str)
WORKER = web.AppKey("worker", Worker)
#: ``"maps"``: the maps loaded as configured.
READY = web.AppKey("ready", dict[str, bool])
CONTROL = web.AppKey("control", Control)
HOUSEKEEPING = web.AppKey("safety_housekeeping", asyncio.Task[None])
SWEEPS = web.AppKey("sweeps", SweepManager)
