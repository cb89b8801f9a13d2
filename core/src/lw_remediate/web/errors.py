"""The one error middleware: every failure becomes a JSON ``{"error": ...}`` answer.

A :class:`~lw_remediate.operate.control.ControlError` (unknown id, bad value, refused
operation) answers its own 4xx status with its one-line message; anything unexpected
is logged and answers 503 with a reason (for a webhook, the inbox was not written, so
Lacework retries). No request ends in a 500 or a traceback.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from ..errors import ConfigError
from ..operate.control import ControlError

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def json_response(data: Any, status: int = 200) -> web.Response:
    """JSON with datetimes and other values through ``str``."""
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, default=str))


def error_response(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def http_error(cls: type[web.HTTPError], reason: str) -> web.HTTPError:
    """An aiohttp HTTP exception with a JSON ``{"error": reason}`` body, to raise."""
    return cls(text=json.dumps({"error": reason}), content_type="application/json")


def _route(request: web.Request) -> str:
    """The route template (``/webhooks/lacework/{token}``), never the path: a path can
    hold the webhook token."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "-"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (web.HTTPException, asyncio.CancelledError):
        raise
    except ControlError as exc:
        return error_response(exc.status, str(exc))
    except ConfigError as exc:  # a configured path that cannot be used (the kill-switch file)
        return error_response(409, str(exc))
    except Exception as exc:
        log.exception("request_failed", route=_route(request), error=type(exc).__name__)
        return error_response(503, "temporarily unable to accept the request; retry later")
