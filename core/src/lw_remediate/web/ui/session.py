"""Console sessions: login with a token, a session cookie, CSRF, security headers.

A session is a random id in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure``
when the request came over TLS, directly or through a proxy saying
``X-Forwarded-Proto: https``, or when ``server.public_url`` is https). Sessions live in
the daemon's memory: a restart logs everyone out. Every form carries the session's
CSRF token; a POST without it is refused (403). The token an operator logs in with is
read from a form body, never from a URL, and never stored in the session.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass, field

from aiohttp import web

from ...errors import ConfigError
from ...operate.control import ControlError
from ..auth import token_ok
from ..errors import Handler
from ..keys import ADMIN_TOKEN, CONFIG

COOKIE = "lwr_session"
#: The double-submit cookie of the login form (there is no session yet).
LOGIN_COOKIE = "lwr_login"
#: A session not used for this long ends.
IDLE_SECONDS = 8 * 3600.0

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


@dataclass
class Session:
    """One logged-in operator: ``name`` is the actor in the audit trail."""

    id: str
    name: str
    csrf: str
    last_seen: float = field(default_factory=time.monotonic)


class Sessions:
    """The daemon's live console sessions."""

    def __init__(self) -> None:
        self._by_id: dict[str, Session] = {}

    def create(self, name: str) -> Session:
        session = Session(secrets.token_urlsafe(32), name, secrets.token_urlsafe(32))
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        now = time.monotonic()
        if session is None or now - session.last_seen > IDLE_SECONDS:
            self._by_id.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    def end(self, session_id: str | None) -> None:
        if session_id:
            self._by_id.pop(session_id, None)


SESSIONS = web.AppKey("ui_sessions", Sessions)
SESSION = web.RequestKey("ui_session", Session)


def operator_for(request: web.Request, token: str) -> str | None:
    """The operator a token logs in as: ``admin`` for the admin token, else the name
    of the matching ``server.operators`` entry. Every entry is compared."""
    found = None
    if token_ok(request.config_dict[ADMIN_TOKEN], token):
        found = "admin"
    for name, secret in request.config_dict[CONFIG].server.operators.items():
        if token_ok(secret.get_secret_value(), token):
            found = name
    return found


def is_secure(request: web.Request) -> bool:
    public = request.config_dict[CONFIG].server.public_url or ""
    return (
        request.secure
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        or public.startswith("https://")
    )


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str) -> None:
    response.set_cookie(
        name,
        value,
        path="/ui",
        httponly=True,
        samesite="Strict",
        secure=is_secure(request),
    )


def csrf_ok(expected: str, given: object) -> bool:
    return isinstance(given, str) and hmac.compare_digest(expected.encode(), given.encode())


#: Routes open without a session (the login page, its form, static files).
PUBLIC = ("/ui/login", "/ui/static/")


@web.middleware
async def ui_guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """404 while no admin token is configured; otherwise a session for everything
    but the login page, and a valid CSRF token on every POST; security headers on
    every answer."""
    if not request.config_dict[ADMIN_TOKEN]:
        raise web.HTTPNotFound(text="the console is off: set server.admin_token")
    public = request.path == PUBLIC[0] or request.path.startswith(PUBLIC[1])
    session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    try:
        if not public:
            if session is None:
                if request.method in ("GET", "HEAD"):
                    raise web.HTTPSeeOther("/ui/login")
                raise web.HTTPUnauthorized(text="log in first")
            if request.method == "POST":
                form = await request.post()
                if not csrf_ok(session.csrf, form.get("csrf")):
                    raise web.HTTPForbidden(text="missing or wrong CSRF token; reload the page")
            request[SESSION] = session
        try:
            response = await handler(request)
        except ControlError as exc:  # unknown id, refused: the reason as plain text
            response = web.Response(status=exc.status, text=str(exc))
        except ConfigError as exc:  # a configured path that cannot be used (kill switch)
            response = web.Response(status=409, text=str(exc))
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    response.headers.update(SECURITY_HEADERS)
    return response
