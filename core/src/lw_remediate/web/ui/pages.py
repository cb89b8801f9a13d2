"""The console's pages: thin handlers over :class:`~lw_remediate.operate.control.Control`
(the same calls as the CLI and the admin API), rendered server-side with Jinja2.

Every page works without JavaScript; every change is a POST form carrying the CSRF
token, answered with a redirect (303) back to the page. The actor in the audit trail
is the logged-in operator, ``via`` ``ui``.
"""

from __future__ import annotations

import collections
import secrets
from typing import Any

import aiohttp_jinja2
import structlog
from aiohttp import web

from ...operate.control import Actor, Control, ControlError
from ..keys import CONTROL, ENGINE
from .session import (
    COOKIE,
    LOGIN_COOKIE,
    SESSION,
    SESSIONS,
    Session,
    csrf_ok,
    operator_for,
    set_cookie,
)

log = structlog.get_logger(__name__)


def _session(request: web.Request) -> Session:
    session: Session = request[SESSION]
    return session


def _actor(request: web.Request) -> Actor:
    return Actor(_session(request).name, "ui")


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    session = request.get(SESSION)
    context.setdefault("operator", session.name if session else None)
    context.setdefault("csrf", session.csrf if session else "")
    context.setdefault("page", template.removesuffix(".html"))
    return aiohttp_jinja2.render_template(template, request, context, status=status)


def see_other(location: str) -> web.Response:
    """A 303 to ``location`` returned (not raised: a raised one loses its cookies)."""
    return web.Response(status=303, headers={"Location": location})


def _form_str(form: Any, key: str) -> str:
    value = form.get(key, "")
    return value.strip() if isinstance(value, str) else ""


# -- login ---------------------------------------------------------------------------


async def login_page(request: web.Request) -> web.Response:
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if len(nonce) < 32:
        nonce = secrets.token_urlsafe(32)
    response = render(request, "login.html", csrf=nonce, error=None)
    set_cookie(request, response, LOGIN_COOKIE, nonce)
    return response


async def login(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    nonce = request.cookies.get(LOGIN_COOKIE) or ""
    if not nonce or not csrf_ok(nonce, form.get("csrf")):
        raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the login page")
    token = form.get("token")
    name = operator_for(request, token) if isinstance(token, str) and token else None
    if name is None:
        log.warning("ui_login_failed", remote=request.remote)
        return render(request, "login.html", status=401, csrf=nonce, error="wrong token")
    session = request.app[SESSIONS].create(name)
    log.info("ui_login", operator=name)
    response = see_other("/ui/")
    set_cookie(request, response, COOKIE, session.id)
    response.del_cookie(LOGIN_COOKIE, path="/ui")
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    request.app[SESSIONS].end(request.cookies.get(COOKIE))
    log.info("ui_logout", operator=_session(request).name)
    response = see_other("/ui/login")
    response.del_cookie(COOKIE, path="/ui")
    return response


# -- overview ------------------------------------------------------------------------


async def overview(request: web.Request) -> web.Response:
    control: Control = request.config_dict[CONTROL]
    engine = request.config_dict[ENGINE]
    recent = await control.list_actions(limit=200)
    by_status = collections.Counter(a["status"] or a["state"] for a in recent)
    return render(
        request,
        "overview.html",
        queue=await engine.store.inbox_counts(),
        by_status=sorted(by_status.items()),
        recent_count=len(recent),
        kill_switch=await control.kill_switch_state(),
        budgets=await control.budget_usage(),
        dead=await control.list_inbox(state="dead", limit=50),
        flapping=await control.list_flapping(),
        awaiting=by_status.get("awaiting_approval", 0),
    )


# -- approvals -----------------------------------------------------------------------


async def approvals(request: web.Request) -> web.Response:
    control: Control = request.config_dict[CONTROL]
    waiting = await control.list_actions(status="awaiting_approval", limit=500)
    return render(request, "approvals.html", actions=waiting, error=None)


async def _decide(request: web.Request, decision: str) -> web.StreamResponse:
    control: Control = request.config_dict[CONTROL]
    action_id = request.match_info["id"]
    form = await request.post()
    try:
        if decision == "approve":
            await control.approve(action_id, _actor(request))
        else:
            await control.reject(action_id, _actor(request), _form_str(form, "reason"))
    except ControlError as exc:
        waiting = await control.list_actions(status="awaiting_approval", limit=500)
        return render(request, "approvals.html", status=exc.status, actions=waiting, error=str(exc))
    return see_other("/ui/approvals")


async def approve(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "approve")


async def reject(request: web.Request) -> web.StreamResponse:
    return await _decide(request, "reject")


def add_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/login", login_page)
    r.add_post("/login", login)
    r.add_post("/logout", logout)
    r.add_get("/", overview)
    r.add_get("/approvals", approvals)
    r.add_post("/actions/{id}/approve", approve)
    r.add_post("/actions/{id}/reject", reject)
