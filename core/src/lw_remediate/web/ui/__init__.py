"""The operators' web console, ``/ui``: a sub-application of the daemon's app.

Enabled when ``server.admin_token`` is set (404 otherwise). Server-rendered HTML
(Jinja2 through aiohttp-jinja2), one implementation behind it, the CLI and the admin
API (:class:`~lw_remediate.operate.control.Control`). Sessions, CSRF and the security
headers are in :mod:`.session`; the pages in :mod:`.pages` (overview,
approvals), :mod:`.manage` (actions, exemptions, kill switch), :mod:`.sweeps` and
:mod:`.maps`.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from .manage import add_manage_routes
from .maps import add_maps_routes
from .pages import add_routes
from .session import SESSIONS, Sessions, ui_guard
from .sweeps import add_sweep_routes

HERE = Path(__file__).parent


def pretty(value: object) -> str:
    """A stored document (plan, image, policy) as indented JSON text, for a ``<pre>``.

    Plain text, not markup: autoescaping escapes it like any other value (Jinja's
    ``tojson`` is for script contexts and shows ``'`` as ``\\u0027``)."""
    return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def when(epoch: object) -> str:
    """A stored time (seconds since the epoch) as ``2026-12-03 12:00:00 UTC``."""
    if not isinstance(epoch, int | float):
        return "" if epoch is None else str(epoch)
    moment = datetime.datetime.fromtimestamp(epoch, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def ui_app() -> web.Application:
    """The ``/ui`` sub-application: its pages behind :func:`~.session.ui_guard`."""
    app = web.Application(middlewares=[ui_guard])
    app[SESSIONS] = Sessions()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        filters={"when": when, "pretty": pretty},
    )
    add_routes(app)
    add_manage_routes(app)
    add_sweep_routes(app)
    add_maps_routes(app)
    app.router.add_static("/static/", HERE / "static")
    return app
