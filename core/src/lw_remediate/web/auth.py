"""Tokens: the webhook's (in the URL or a header) and the admin API's (a Bearer),
compared in constant time. The admin API has its own middleware on its sub-app."""

from __future__ import annotations

import hmac

from aiohttp import web

from .errors import Handler, http_error
from .keys import ADMIN_TOKEN


def token_ok(expected: str | None, given: str | None) -> bool:
    """Constant-time comparison; any token that cannot be the expected one (not ASCII,
    bytes that are not UTF-8) is simply wrong: 401, never an exception."""
    if not expected or given is None:
        return False
    try:
        given_bytes = given.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(expected.encode(), given_bytes)


def header_token(request: web.Request) -> str | None:
    """``Authorization: Bearer <token>``, else ``X-Api-Key``."""
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Api-Key")


@web.middleware
async def admin_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The admin token (never the webhook token) as a Bearer on every ``/admin`` route.

    404 while no admin token is configured (the admin API is off), 401 otherwise.
    """
    expected = request.config_dict[ADMIN_TOKEN]
    if not expected:
        raise http_error(web.HTTPNotFound, "the admin API is off: set server.admin_token")
    if not token_ok(expected, header_token(request)):
        raise http_error(web.HTTPUnauthorized, "missing or wrong admin token")
    return await handler(request)
