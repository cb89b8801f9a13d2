"""The operators' web console, ``/ui``: a sub-application of the daemon's app.

Enabled when ``server.admin_token`` is set (404 otherwise). Server-rendered HTML
(Jinja2 through aiohttp-jinja2), one implementation behind it, the CLI and the admin
API (:class:`~lw_remediate.operate.control.Control`). Sessions, CSRF and the security
headers are in :mod:`.session`; the pages in :mod:`.pages` (overview,
approvals) and :mod:`.manage` (actions, exemptions, kill switch).
"""

from __future__ import annotations

from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from .manage import add_manage_routes
from .pages import add_routes
from .session import SESSIONS, Sessions, ui_guard

HERE = Path(__file__).parent


def ui_app() -> web.Application:
    """The ``/ui`` sub-application: its pages behind :func:`~.session.ui_guard`."""
    app = web.Application(middlewares=[ui_guard])
    app[SESSIONS] = Sessions()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    add_routes(app)
    add_manage_routes(app)
    app.router.add_static("/static/", HERE / "static")
    return app
