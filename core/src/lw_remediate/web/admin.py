"""The admin API: what the CLI can do, on a running daemon, behind its own token.

A sub-application mounted at ``/admin`` with its own auth middleware
(:func:`~lw_remediate.web.auth.admin_auth`): every route needs ``Authorization:
Bearer <server.admin_token>`` (or ``X-Api-Key``); the webhook token is never
accepted, and without an admin token configured every route answers 404. Handlers are
thin: :class:`~lw_remediate.operate.control.Control` does the work, exactly as for the
CLI, and the root app's error middleware turns its errors into 4xx answers. The actor
recorded in the audit trail is the ``by`` field of the JSON body (query parameter for
DELETE), default ``admin-api``.

Also here: the daemon's safety housekeeping (expire approvals, report expired
exemptions), started with the worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from ..errors import ConfigError
from ..ingest.body import BodyError, decode_json_body
from ..operate.control import Actor, BadRequest, Control, ControlError
from .auth import admin_auth
from .errors import Handler, json_response
from .keys import CONTROL, HOUSEKEEPING, RUNTIME
from .sweeps import add_sweep_routes

log = structlog.get_logger(__name__)

#: Seconds between two housekeeping rounds (expired approvals and exemptions).
HOUSEKEEPING_INTERVAL = 60.0


def admin_route(fn: Callable[[web.Request, Control], Awaitable[Any]]) -> Handler:
    """Run ``fn`` with the app's :class:`Control`; answer its result as JSON."""

    async def handler(request: web.Request) -> web.StreamResponse:
        result = await fn(request, request.config_dict[CONTROL])
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result)

    return handler


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = decode_json_body(await request.read())
    except BodyError as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(body, dict):
        raise BadRequest("body must be a JSON object")
    return body


def _actor(request: web.Request, body: dict[str, Any]) -> Actor:
    name = body.pop("by", None) or request.query.get("by") or "admin-api"
    if not isinstance(name, str):
        raise BadRequest("by must be a string")
    return Actor(name, "api")


def _limit(request: web.Request, default: int) -> int:
    try:
        return int(request.query.get("limit", default))
    except ValueError:
        raise BadRequest("limit must be an integer") from None


@admin_route
async def list_actions(request: web.Request, control: Control) -> Any:
    q = request.query
    return await control.list_actions(
        status=q.get("status"),
        limit=_limit(request, 50),
        rule=q.get("rule"),
        account=q.get("account"),
        remediation=q.get("remediation"),
        since=q.get("since"),
    )


@admin_route
async def show_action(request: web.Request, control: Control) -> Any:
    return await control.show_action(request.match_info["id"])


@admin_route
async def approve(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    record = await control.approve(request.match_info["id"], _actor(request, body))
    return await control.action(record.id or "")


@admin_route
async def reject(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    actor = _actor(request, body)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    record = await control.reject(request.match_info["id"], actor, reason)
    return await control.action(record.id or "")


@admin_route
async def undo(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    record = await control.undo(request.match_info["id"], _actor(request, body))
    return await control.action(record.id or "")


@admin_route
async def kill_switch_status(request: web.Request, control: Control) -> Any:
    state = await control.kill_switch_state()
    return {**state.to_dict(), "paused": await control.paused_actions()}


@admin_route
async def kill_switch_on(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    actor = _actor(request, body)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    return (await control.kill_switch_on(actor, reason)).to_dict()


@admin_route
async def kill_switch_off(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    state = await control.kill_switch_off(_actor(request, body))
    return {**state.to_dict(), "paused": await control.paused_actions()}


@admin_route
async def list_exemptions(request: web.Request, control: Control) -> Any:
    return await control.list_exemptions()


@admin_route
async def add_exemption(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    actor = _actor(request, body)
    return json_response(await control.add_exemption(body, actor), status=201)


@admin_route
async def remove_exemption(request: web.Request, control: Control) -> Any:
    await control.remove_exemption(request.match_info["id"], _actor(request, {}))
    return {"removed": request.match_info["id"]}


@admin_route
async def list_flapping(request: web.Request, control: Control) -> Any:
    return await control.list_flapping()


@admin_route
async def clear_flapping(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    actor = _actor(request, body)
    arn, rule = body.get("resource_arn"), body.get("rule_id")
    if not isinstance(arn, str) or not arn:
        raise BadRequest("resource_arn is required")
    if rule is not None and not isinstance(rule, str):
        raise BadRequest("rule_id must be a string")
    return await control.clear_flapping(arn, rule, actor)


@admin_route
async def audit(request: web.Request, control: Control) -> Any:
    return await control.audit_events(
        action_id=request.query.get("action_id"), limit=_limit(request, 100)
    )


@admin_route
async def list_inbox(request: web.Request, control: Control) -> Any:
    return await control.list_inbox(state=request.query.get("state"), limit=_limit(request, 50))


@admin_route
async def retry_inbox(request: web.Request, control: Control) -> Any:
    body = await _body(request)
    try:
        inbox_id = int(request.match_info["id"])
    except ValueError:
        raise BadRequest("the inbox id is a number") from None
    return await control.retry_inbox(inbox_id, _actor(request, body))


@admin_route
async def reload_config(request: web.Request, control: Control) -> Any:
    """Read the configuration file again (validated first; a bad one changes nothing)."""
    actor = _actor(request, await _body(request))
    try:
        result = await request.config_dict[RUNTIME].reload(by=actor.name, via=actor.via)
    except ConfigError as exc:
        raise ControlError(
            f"configuration not reloaded: {exc}; the running configuration is kept"
        ) from None
    return result.to_dict()


def admin_app() -> web.Application:
    """The ``/admin`` sub-application: its routes behind :func:`admin_auth`."""
    app = web.Application(middlewares=[admin_auth])
    r = app.router
    r.add_get("/actions", list_actions)
    r.add_get("/actions/{id}", show_action)
    r.add_post("/actions/{id}/approve", approve)
    r.add_post("/actions/{id}/reject", reject)
    r.add_post("/actions/{id}/undo", undo)
    r.add_get("/kill-switch", kill_switch_status)
    r.add_post("/kill-switch/on", kill_switch_on)
    r.add_post("/kill-switch/off", kill_switch_off)
    r.add_get("/exemptions", list_exemptions)
    r.add_post("/exemptions", add_exemption)
    r.add_delete("/exemptions/{id}", remove_exemption)
    r.add_get("/flapping", list_flapping)
    r.add_post("/flapping/clear", clear_flapping)
    r.add_get("/audit", audit)
    r.add_get("/inbox", list_inbox)
    r.add_post("/inbox/{id}/retry", retry_inbox)
    r.add_post("/reload", reload_config)
    add_sweep_routes(app)
    return app


async def housekeeping_round(control: Control) -> None:
    """One round: expire approvals whose window closed, report expired exemptions, read
    the shared kill switch (for :meth:`Control.kill_switch_status`)."""
    await control.kill_switch_state()
    expired = await control.expire_approvals()
    if expired:
        log.info("approvals_expired", action_ids=expired)
    await control.safety.report_expired_exemptions()


async def _housekeeping(control: Control) -> None:
    while True:
        try:
            await housekeeping_round(control)
        except Exception as exc:  # noqa: BLE001 - retried next round
            log.warning("safety_housekeeping_failed", error=str(exc) or type(exc).__name__)
        await asyncio.sleep(HOUSEKEEPING_INTERVAL)


async def housekeeping_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run the housekeeping rounds while the app runs (registered with the worker)."""
    app[HOUSEKEEPING] = asyncio.create_task(_housekeeping(app[CONTROL]))
    yield
    app[HOUSEKEEPING].cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await app[HOUSEKEEPING]
