"""The HTTP side of the daemon (aiohttp): webhooks, health, readiness, metrics, the
``/admin`` sub-application and the operators' console ``/ui`` (:mod:`.ui`).

One app factory, state in typed ``web.AppKey``s (:mod:`.keys`), one error middleware
(:mod:`.errors`), every resource and background task created and torn down in cleanup
contexts. The inbox commit happens before the 202.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import time
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from ..errors import ConfigError, StartupError, StoreUnavailable
from ..ingest.alerts import PayloadError, Shape, parse_payload
from ..ingest.body import BodyError, decode_json_body
from ..operate.control import Control
from ..pipeline.engine import Engine
from ..pipeline.runner import describe_error
from ..pipeline.worker import Worker
from ..runtime import Runtime
from .admin import admin_app, housekeeping_ctx
from .auth import header_token, token_ok
from .errors import error_middleware, error_response
from .keys import (
    ADMIN_TOKEN,
    CONFIG,
    CONTROL,
    ENGINE,
    READY,
    RUNTIME,
    WEBHOOK_TOKEN,
    WORKER,
)
from .sweeps import sweeps_ctx
from .ui import ui_app

log = structlog.get_logger(__name__)


async def webhook(request: web.Request) -> web.Response:
    """``POST /webhooks/lacework/{token}`` or ``POST /webhooks/lacework`` with a header token."""
    started = time.perf_counter()
    engine = request.app[ENGINE]
    expected = request.app[WEBHOOK_TOKEN]
    given = request.match_info.get("token") or header_token(request)
    metrics = engine.metrics
    if not token_ok(expected, given):
        metrics.received("unknown", "unauthorized").inc()
        return error_response(401, "missing or wrong webhook token")
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
        return error_response(413, f"body larger than {cap} bytes")
    try:
        body = decode_json_body(raw)
    except BodyError as exc:  # can never succeed: 400, not "retry later"
        metrics.received("unknown", "bad_json").inc()
        return error_response(400, str(exc))
    try:
        alerts = parse_payload(body)
    except PayloadError as exc:
        metrics.received("unknown", "unknown_shape").inc()
        return error_response(
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
        return _accepted(created)
    return web.json_response({"status": "duplicate; already accepted"}, status=200)


def _accepted(inbox_ids: list[int]) -> web.Response:
    """The 202 of every accepted webhook, byte for byte what ``web.json_response`` writes
    for ``{"status": "accepted", "inbox_ids": [...]}``, without a JSON encoder per request."""
    ids = ", ".join(map(str, inbox_ids)).encode()
    return web.Response(
        body=b'{"status": "accepted", "inbox_ids": [' + ids + b"]}",
        status=202,
        content_type="application/json",
        charset="utf-8",
    )


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    """200 when the daemon can take alerts and act on them; 503 with the failing check.

    ``dependencies`` holds the last result per dependency (``store``, ``lacework``,
    ``notify.<channel>``): a store that does not answer a query now (pinged on every
    call) or a rejected Lacework key fails readiness (no alert can be accepted, or
    enriched, until it is back or an operator fixes it); a Lacework outage or a
    failing notifier does not, and makes the status ``degraded`` with the reason.
    """
    ready = request.app[READY]
    engine = request.app[ENGINE]
    dependencies = engine.metrics.dependencies
    checks = {
        "store": await store_answers(engine),
        "maps": bool(engine.registry.remediations) and ready.get("maps", False),
        "worker": WORKER in request.app and request.app[WORKER].alive,
    }
    if engine.lacework is not None:
        lw = dependencies.get("lacework")
        checks["lacework"] = not (lw is not None and lw.state == "failing" and lw.fatal)
    ok = all(checks.values())
    degraded = any(d.state == "failing" for d in dependencies.values())
    return web.json_response(
        {
            "ready": ok,
            "status": "not ready" if not ok else "degraded" if degraded else "ready",
            "checks": checks,
            "dependencies": {name: d.to_dict() for name, d in sorted(dependencies.items())},
        },
        status=200 if ok else 503,
    )


async def store_answers(engine: Engine) -> bool:
    """Ping the store; record the result as the ``store`` dependency (``/readyz``
    shows it, ``lw_remediate_dependency_up{dependency="store"}`` counts it)."""
    try:
        await engine.store.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means not ready, with the reason
        reason = str(exc) if isinstance(exc, StoreUnavailable) else describe_error(exc)
        engine.metrics.dependency_failed(
            "store", f"the store does not answer: {reason}", fatal=True
        )
        return False
    engine.metrics.dependency_ok("store")
    return True


async def metrics(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    if await store_answers(engine):  # else the queue gauges keep their last values
        engine.metrics.set_queue(await engine.store.inbox_counts())
    return web.Response(body=engine.metrics.render(), content_type="text/plain", charset="utf-8")


def create_app(runtime: Runtime, *, run_worker: bool = True) -> web.Application:
    """The daemon's aiohttp application on ``runtime``, which it opens on start-up and
    closes on cleanup (store, Lacework client)."""
    config, engine = runtime.config, runtime.engine
    webhook_token = config.server.resolved_webhook_token() or ""
    admin_token = config.server.resolved_admin_token() or ""
    if admin_token and admin_token == webhook_token:
        raise ConfigError("server.admin_token must differ from server.webhook_token")
    app = web.Application(
        client_max_size=config.server.max_body_bytes, middlewares=[error_middleware]
    )
    app[RUNTIME] = runtime
    app[ENGINE] = engine
    app[CONFIG] = config
    app[CONTROL] = Control(engine)
    app[READY] = {"maps": not engine.registry.failed or not config.strict_maps}
    app[WEBHOOK_TOKEN] = webhook_token
    app[ADMIN_TOKEN] = admin_token
    app.router.add_post("/webhooks/lacework/{token}", webhook)
    app.router.add_post("/webhooks/lacework", webhook)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.add_subapp("/admin", admin_app())
    app.add_subapp("/ui", ui_app())
    # Cleanup contexts end in reverse order: sweeps and the worker stop before the
    # runtime (store, Lacework client) closes.
    app.cleanup_ctx.append(_runtime_ctx)
    if run_worker:
        app.cleanup_ctx.append(_worker_ctx)
        app.cleanup_ctx.append(housekeeping_ctx)
        app.cleanup_ctx.append(_lacework_ctx)
    app.cleanup_ctx.append(sweeps_ctx)
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


async def _lacework_ctx(app: web.Application) -> AsyncIterator[None]:
    """Verify the Lacework key in the background (with backoff): the port is bound and
    alerts are accepted whatever Lacework answers."""
    task = asyncio.create_task(app[RUNTIME].verify_lacework())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def run(app: web.Application, *, host: str, port: int) -> None:
    """Serve until SIGTERM/SIGINT; shutdown finishes or re-queues in-flight work.

    An address that cannot be bound is a :class:`StartupError` naming it (one line,
    exit status 2 on the CLI), not a traceback.
    """

    def listening(_banner: str) -> None:  # aiohttp calls it once every site is bound
        log.info("listening", url=f"http://{host}:{port}", host=host, port=port)

    app.on_startup.append(_reload_on_sighup)
    try:
        web.run_app(
            app, host=host, port=port, access_log=None, print=listening, shutdown_timeout=10
        )
    except OSError as exc:
        if not _is_bind_error(exc):
            raise
        reason = os.strerror(exc.errno) if exc.errno and exc.errno > 0 else exc.strerror or str(exc)
        raise StartupError(f"cannot listen on {host}:{port}: {reason}") from None


async def _reload_on_sighup(app: web.Application) -> None:
    """``kill -HUP`` (``systemctl reload``) reloads the configuration file, as the
    admin API's ``POST /admin/reload`` does; a bad file keeps the running one."""
    runtime = app[RUNTIME]
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[None]] = set()

    async def reload() -> None:
        with contextlib.suppress(ConfigError):  # logged and audited by reload()
            await runtime.reload(by="SIGHUP", via="signal")

    def on_signal() -> None:
        task = loop.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    loop.add_signal_handler(signal.SIGHUP, on_signal)


def _is_bind_error(exc: OSError) -> bool:
    return isinstance(exc, socket.gaierror) or exc.errno in {
        errno.EADDRINUSE,
        errno.EADDRNOTAVAIL,
        errno.EACCES,
    }
