"""Admin API for sweeps: start one on the running daemon and follow its progress.

Routes of the ``/admin`` sub-application, so behind its auth middleware (the admin
token as a Bearer; 404 while the admin API is off)::

    POST /admin/sweeps             {"accounts": [...] | "all_accounts": true, "rules": [...],
                                    "mode": "dry-run|approve|auto", "report_types": [...],
                                    "by": "<who, for the audit trail>"}
                                   -> 202 {"sweep": {...}, "url": "/admin/sweeps/<id>"}
    GET  /admin/sweeps             -> {"sweeps": [...]}        (newest first)
    GET  /admin/sweeps/{id}        -> {"sweep": {...}}         (live while it runs here)
    POST /admin/sweeps/{id}/stop   {"by": "<who>"} (or ?by=)     -> 202 {"sweep": {...}}
                                   (running actions finish; audited as sweep_stop_requested)

A bad body answers 400 with a one-line ``error``; a sweep with the same parameters
already running answers 409 with its id. Sweeps run as tasks owned by the app: on
shutdown they are stopped like a Ctrl-C (and continue when started again).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from ..ingest.body import BodyError, decode_json_body
from ..operate.control import Actor, BadRequest, ControlError
from ..operate.sweep import SweepManager
from .errors import error_response, http_error, json_response
from .keys import ENGINE, SWEEPS

__all__ = ["add_sweep_routes", "sweeps_ctx"]


def _strings(body: dict[str, Any], key: str) -> list[str]:
    value = body.get(key)
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest(f"{key}: a list of strings")
    return [part.strip() for v in value for part in v.split(",") if part.strip()]


_FIELDS = {"accounts", "all_accounts", "rules", "mode", "report_types", "by"}


def add_sweep_routes(app: web.Application) -> None:
    """Register the sweep routes on the admin sub-application."""
    app.router.add_post("/sweeps", start)
    app.router.add_get("/sweeps", listing)
    app.router.add_get("/sweeps/{sweep_id}", show)
    app.router.add_post("/sweeps/{sweep_id}/stop", stop)


async def sweeps_ctx(app: web.Application) -> AsyncIterator[None]:
    """The root app's sweep manager; running sweeps are stopped at shutdown."""
    engine = app[ENGINE]
    manager = app[SWEEPS] = SweepManager(engine)
    yield
    await manager.shutdown(timeout=engine.config.remediation.timeout_seconds)


async def start(request: web.Request) -> web.Response:
    manager = request.config_dict[SWEEPS]
    try:
        body = decode_json_body(await request.read())
    except BodyError as exc:
        return error_response(400, str(exc))
    if not isinstance(body, dict):
        return error_response(400, "body must be a JSON object")
    unknown = sorted(set(body) - _FIELDS)
    if unknown:
        return error_response(
            400, f"unknown field {unknown[0]!r} (fields: {', '.join(sorted(_FIELDS))})"
        )
    try:
        all_accounts = body.get("all_accounts", False)
        if not isinstance(all_accounts, bool):
            raise BadRequest("all_accounts: true or false")
        mode = body.get("mode")
        if mode is not None and not isinstance(mode, str):
            raise BadRequest("mode: one of dry-run, approve, auto")
        by = body.get("by") or "admin-api"
        if not isinstance(by, str):
            raise BadRequest("by: a string")
        try:
            actor = Actor(by, "api")
        except BadRequest as exc:
            raise BadRequest(f"by: {exc}") from None
        sweep = await manager.begin(
            actor,
            accounts=_strings(body, "accounts"),
            all_accounts=all_accounts,
            rules=_strings(body, "rules"),
            mode=mode,
            report_types=_strings(body, "report_types"),
        )
    except ControlError as exc:
        return error_response(exc.status, str(exc))
    return web.json_response(
        {"sweep": sweep.snapshot(), "url": f"/admin/sweeps/{sweep.id}"}, status=202
    )


async def listing(request: web.Request) -> web.Response:
    return json_response({"sweeps": await request.config_dict[SWEEPS].listing()})


async def show(request: web.Request) -> web.Response:
    manager = request.config_dict[SWEEPS]
    sweep_id = _sweep_id(request)
    snap = await manager.snapshot(sweep_id)
    if snap is None:
        return error_response(404, f"no sweep {sweep_id}")
    return json_response({"sweep": snap})


async def stop(request: web.Request) -> web.Response:
    """``by`` (who, for the audit trail) from the JSON body or the query string."""
    body: Any = {}
    raw = await request.read()
    if raw.strip():
        try:
            body = decode_json_body(raw)
        except BodyError as exc:
            return error_response(400, str(exc))
    by = (body.get("by") if isinstance(body, dict) else None) or request.query.get("by")
    try:
        if not isinstance(by or "", str):
            raise BadRequest("by: a string")
        actor = Actor(by or "admin-api", "api")
    except BadRequest as exc:
        return error_response(400, str(exc) if str(exc).startswith("by:") else f"by: {exc}")
    snap = await request.config_dict[SWEEPS].stop_sweep(_sweep_id(request), actor)
    return json_response({"sweep": snap}, status=202)


def _sweep_id(request: web.Request) -> int:
    raw = request.match_info["sweep_id"]
    if not raw.isdigit():
        raise http_error(web.HTTPNotFound, "sweep ids are numbers")
    return int(raw)
