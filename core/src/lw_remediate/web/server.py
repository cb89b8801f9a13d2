"""The HTTP side of the daemon (aiohttp): webhooks, health, readiness, metrics.

One app factory, state in typed ``web.AppKey``s, every resource and background task
created and torn down in cleanup contexts. The inbox commit happens before the 202.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from ..config import Config
from ..ingest.alerts import PayloadError, Shape, parse_payload
from ..pipeline.engine import Engine
from ..pipeline.worker import Worker
from ..runtime import Runtime
from .sweeps import add_sweep_routes

log = structlog.get_logger("lw_remediate.server")

RUNTIME = web.AppKey("runtime", Runtime)
ENGINE = web.AppKey("engine", Engine)
CONFIG = web.AppKey("config", Config)
WORKER = web.AppKey("worker", Worker)
READY = web.AppKey("ready", dict[str, bool])  # "maps": loaded as configured
TOKEN = web.AppKey("webhook_token", str)  # resolved once: a token file is not re-read per request

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


@web.middleware
async def never_500(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Map every unexpected failure to a 503 with a reason (the inbox was not written)."""
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("request_failed", path=request.path, error=type(exc).__name__)
        return _error(503, "temporarily unable to accept the request; retry later")


ADMIN_TOKEN = web.AppKey("admin_token", str)


def require_admin(request: web.Request) -> None:
    """Guard for admin API handlers: the admin token (never the webhook token) as a Bearer.

    Raises 404 when no admin token is configured (the admin API is off), 401 otherwise.
    """
    expected = request.app.get(ADMIN_TOKEN) or ""
    if not expected:
        raise web.HTTPNotFound(
            text=json.dumps({"error": "the admin API is off: set server.admin_token"}),
            content_type="application/json",
        )
    if not _token_ok(expected, _header_token(request)):
        raise web.HTTPUnauthorized(
            text=json.dumps({"error": "missing or wrong admin token"}),
            content_type="application/json",
        )


def _token_ok(expected: str | None, given: str | None) -> bool:
    if not expected or given is None:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())


def _header_token(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return request.headers.get("X-Api-Key")


async def webhook(request: web.Request) -> web.Response:
    """``POST /webhooks/lacework/{token}`` or ``POST /webhooks/lacework`` with a header token."""
    started = time.perf_counter()
    engine = request.app[ENGINE]
    expected = request.app[TOKEN]
    given = request.match_info.get("token") or _header_token(request)
    metrics = engine.metrics
    if not _token_ok(expected, given):
        metrics.received("unknown", "unauthorized").inc()
        return _error(401, "missing or wrong webhook token")
    cap = request.app[CONFIG].server.max_body_bytes
    raw = b""
    # A declared length over the cap is refused unread; a chunked body is cut off by
    # aiohttp at client_max_size (the same cap).
    too_large = request.content_length is not None and request.content_length > cap
    if not too_large:
        try:
            raw = await request.read()
        except web.HTTPRequestEntityTooLarge:
            too_large = True
    if too_large:
        metrics.received("unknown", "too_large").inc()
        return _error(413, f"body larger than {cap} bytes")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        metrics.received("unknown", "bad_json").inc()
        return _error(400, "body is not JSON")
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        metrics.received("unknown", "unknown_shape").inc()
        return _error(
            422, str(exc).splitlines()[0] if str(exc) else "no known Lacework payload shape"
        )
    real = [a for a in alerts if a.shape is not Shape.TEST]
    for test in (a for a in alerts if a.shape is Shape.TEST):
        metrics.received("test", "test").inc()
        log.info("test_event_received", event_id=test.event_id)
    if not real:
        return web.json_response({"status": "test event received; nothing to do"}, status=200)
    # A single alert that is the whole body is stored as the bytes received (no re-encoding).
    text = raw if len(real) == 1 and real[0].raw is body else None
    results = await engine.accept(real, raw=text)
    created = [inbox_id for inbox_id, new in results if new]
    for alert, (_, new) in zip(real, results, strict=True):
        metrics.received(str(alert.shape), "accepted" if new else "duplicate").inc()
        log.info(
            "alert_received",
            shape=str(alert.shape),
            event_id=alert.event_id,
            rule_ids=list(alert.rule_ids),
            duplicate=not new,
        )
    metrics.ingest_latency.observe(time.perf_counter() - started)
    if created:
        return web.json_response({"status": "accepted", "inbox_ids": created}, status=202)
    return web.json_response({"status": "duplicate; already accepted"}, status=200)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    ready = request.app[READY]
    engine = request.app[ENGINE]
    checks = {
        "store": engine.store.is_open,
        "maps": bool(engine.registry.remediations) and ready.get("maps", False),
        "worker": WORKER in request.app and request.app[WORKER].alive,
    }
    return web.json_response(
        {"ready": all(checks.values()), "checks": checks},
        status=200 if all(checks.values()) else 503,
    )


async def metrics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    engine.metrics.set_queue(await engine.store.inbox_counts())
    return web.Response(body=engine.metrics.render(), content_type="text/plain", charset="utf-8")


def create_app(runtime: Runtime, *, run_worker: bool = True) -> web.Application:
    """The daemon's aiohttp application on ``runtime``, which it opens on start-up and
    closes on cleanup (store, Lacework client)."""
    config, engine = runtime.config, runtime.engine
    app = web.Application(client_max_size=config.server.max_body_bytes, middlewares=[never_500])
    app[RUNTIME] = runtime
    app[ENGINE] = engine
    app[CONFIG] = config
    app[READY] = {"maps": not engine.registry.failed or not config.strict_maps}
    app[TOKEN] = config.server.resolved_webhook_token() or ""
    app[ADMIN_TOKEN] = config.server.resolved_admin_token() or ""
    app.router.add_post("/webhooks/lacework/{token}", webhook)
    app.router.add_post("/webhooks/lacework", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.cleanup_ctx.append(_runtime_ctx)
    if run_worker:
        app.cleanup_ctx.append(_worker_ctx)
    from .admin import setup_admin  # admin.py builds on this module

    setup_admin(app, housekeeping=run_worker)
    add_sweep_routes(app, engine, require_admin)
    return app


async def _runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    async with app[RUNTIME]:
        yield


async def _worker_ctx(app: web.Application) -> AsyncIterator[None]:
    engine = app[ENGINE]
    worker = app[WORKER] = Worker(engine)
    await worker.start()
    yield
    await worker.stop(timeout=engine.config.remediation.timeout_seconds)


def run(app: web.Application, *, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT; shutdown finishes or re-queues in-flight work."""
    web.run_app(app, host=host, port=port, access_log=None, print=None, shutdown_timeout=10)
