"""Admin API for sweeps: start one on the running daemon and follow its progress.

Every route is behind the admin guard (the admin token as a Bearer; 404 while the
admin API is off)::

    POST /admin/sweeps             {"accounts": [...] | "all_accounts": true, "rules": [...],
                                    "mode": "dry-run|approve|auto", "report_types": [...],
                                    "by": "<who, for the audit trail>"}
                                   -> 202 {"sweep": {...}, "url": "/admin/sweeps/<id>"}
    GET  /admin/sweeps             -> {"sweeps": [...]}        (newest first)
    GET  /admin/sweeps/{id}        -> {"sweep": {...}}         (live while it runs here)
    POST /admin/sweeps/{id}/stop   -> 202 {"sweep": {...}}     (running actions finish)

A bad body answers 400 with a one-line ``error``; a sweep with the same parameters
already running answers 409 with its id. Sweeps run as tasks owned by the app: on
shutdown they are stopped like a Ctrl-C (and continue when started again).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import structlog
from aiohttp import web

from ..operate.control import Actor, BadRequest
from ..operate.sweep import Sweep, SweepBusy, SweepError, SweepRequest, SweepStore, build_request
from ..pipeline.engine import Engine

log = structlog.get_logger("lw_remediate.sweep_api")

__all__ = ["SweepManager", "add_sweep_routes"]


class SweepManager:
    """The sweeps running in this process, each a task the app owns."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.running: dict[int, tuple[Sweep, asyncio.Task[None]]] = {}

    async def start(self, request: SweepRequest, actor: Actor | None = None) -> Sweep:
        """Claim the sweep row now (so the caller gets its id) and run it in the background."""
        sweep = Sweep(self.engine, request, actor=actor)
        sweep_id = await sweep.open()
        task = asyncio.create_task(self._run(sweep), name=f"sweep-{sweep_id}")
        self.running[sweep_id] = (sweep, task)
        return sweep

    async def _run(self, sweep: Sweep) -> None:
        try:
            await sweep.run()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - recorded on the sweep row; the daemon goes on
            log.error("sweep_failed", sweep_id=sweep.id, error=str(exc) or type(exc).__name__)
        finally:
            if sweep.id is not None:
                self.running.pop(sweep.id, None)

    async def snapshot(self, sweep_id: int) -> dict[str, Any] | None:
        live = self.running.get(sweep_id)
        if live is not None:
            return live[0].snapshot()
        return await SweepStore(self.engine.store).get(sweep_id)

    async def shutdown(self, timeout: float) -> None:
        """Stop every running sweep; abandon what is still running after ``timeout``."""
        if not self.running:
            return
        tasks = []
        for sweep, task in list(self.running.values()):
            sweep.stop()
            tasks.append(task)
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
            log.warning("sweeps_abandoned_at_shutdown", sweeps=len(pending))


SWEEPS = web.AppKey("sweeps", SweepManager)


def _error(status: int, reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=status)


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SweepError(f"{key}: a list of strings")
    return [part.strip() for v in value for part in v.split(",") if part.strip()]


_FIELDS = {"accounts", "all_accounts", "rules", "mode", "report_types", "by"}


def add_sweep_routes(
    app: web.Application, engine: Engine, guard: Callable[[web.Request], None]
) -> None:
    """Register the sweep routes (behind ``guard``) and the cleanup that stops sweeps."""
    manager = SweepManager(engine)
    app[SWEEPS] = manager

    async def start(request: web.Request) -> web.Response:
        guard(request)
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "body is not JSON")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        unknown = sorted(set(body) - _FIELDS)
        if unknown:
            return _error(
                400, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})"
            )
        if engine.lacework is None:
            return _error(409, "sweeping needs the Lacework API: set [lacework] in the config")
        try:
            all_accounts = body.get("all_accounts", False)
            if not isinstance(all_accounts, bool):
                raise SweepError("all_accounts: true or false")
            mode = body.get("mode")
            if mode is not None and not isinstance(mode, str):
                raise SweepError("mode: one of dry-run, approve, auto")
            by = body.get("by") or "admin-api"
            if not isinstance(by, str):
                raise SweepError("by: a string")
            actor = Actor(by, "api")
            sweep_request = build_request(
                engine.config,
                engine.registry,
                accounts=_strings(body, "accounts"),
                all_accounts=all_accounts,
                rules=_strings(body, "rules"),
                mode=mode,
                report_types=_strings(body, "report_types"),
            )
        except SweepError as exc:
            return _error(400, _api_message(str(exc)))
        except BadRequest as exc:
            return _error(400, f"by: {exc}")
        try:
            sweep = await manager.start(sweep_request, actor)
        except SweepBusy as exc:
            return _error(409, str(exc))
        return web.json_response(
            {"sweep": sweep.snapshot(), "url": f"/admin/sweeps/{sweep.id}"}, status=202
        )

    async def listing(request: web.Request) -> web.Response:
        guard(request)
        rows = await SweepStore(engine.store).list()
        out = []
        for row in rows:
            live = manager.running.get(int(row["id"]))
            out.append(live[0].snapshot() if live is not None else row)
        return web.json_response({"sweeps": out}, dumps=_dumps)

    async def show(request: web.Request) -> web.Response:
        guard(request)
        sweep_id = _sweep_id(request)
        snap = await manager.snapshot(sweep_id)
        if snap is None:
            return _error(404, f"no sweep {sweep_id}")
        return web.json_response({"sweep": snap}, dumps=_dumps)

    async def stop(request: web.Request) -> web.Response:
        guard(request)
        sweep_id = _sweep_id(request)
        live = manager.running.get(sweep_id)
        if live is None:
            snap = await manager.snapshot(sweep_id)
            if snap is None:
                return _error(404, f"no sweep {sweep_id}")
            return _error(409, f"sweep {sweep_id} is not running here (state {snap['state']})")
        live[0].stop()
        return web.json_response({"sweep": live[0].snapshot()}, status=202, dumps=_dumps)

    app.router.add_post("/admin/sweeps", start)
    app.router.add_get("/admin/sweeps", listing)
    app.router.add_get("/admin/sweeps/{sweep_id}", show)
    app.router.add_post("/admin/sweeps/{sweep_id}/stop", stop)

    async def sweeps_ctx(app: web.Application) -> AsyncIterator[None]:
        yield
        await manager.shutdown(timeout=engine.config.remediation.timeout_seconds)

    app.cleanup_ctx.append(sweeps_ctx)


def _sweep_id(request: web.Request) -> int:
    raw = request.match_info["sweep_id"]
    if not raw.isdigit():
        raise web.HTTPNotFound(
            text='{"error": "sweep ids are numbers"}', content_type="application/json"
        )
    return int(raw)


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)


_API_NAMES = (
    ("--all-accounts", "all_accounts"),
    ("--account", "accounts"),
    ("--rule", "rules"),
    ("--report-type", "report_types"),
    ("--mode", "mode"),
    ("`lw-remediate sweep --help`", "the operating guide"),
)


def _api_message(text: str) -> str:
    """A request error in the API's field names rather than the CLI's options."""
    for cli_name, field in _API_NAMES:
        text = text.replace(cli_name, field)
    return text
