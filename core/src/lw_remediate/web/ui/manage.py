"""Console pages beyond approvals: the actions (list and detail, undo), exemptions
(list, add, remove), the kill switch, retrying a dead alert and clearing a flapping
resource (forms on the overview). Thin handlers over
:class:`~lw_remediate.operate.control.Control`, as :mod:`.pages`."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...model import Status
from ...operate.control import BadRequest, Control, ControlError, parse_expiry
from ..keys import CONTROL
from .pages import _actor, _form_str, render, see_other

#: The filters of the actions list (query parameters, as ``GET /admin/actions``).
ACTION_FILTERS = ("status", "rule", "account", "remediation", "since")


def _control(request: web.Request) -> Control:
    return request.config_dict[CONTROL]


# -- actions -------------------------------------------------------------------------


async def actions(request: web.Request) -> web.Response:
    """Newest first; filtered by status, rule, account, remediation and time."""
    chosen = {k: request.query.get(k, "").strip() for k in ACTION_FILTERS}
    error = None
    try:
        rows = await _control(request).list_actions(
            limit=500, **{k: v or None for k, v in chosen.items()}
        )
    except ControlError as exc:
        rows, error = [], str(exc)
    return render(
        request,
        "actions.html",
        status=400 if error else 200,
        actions=rows,
        filters=chosen,
        statuses=[s.value for s in Status],
        error=error,
    )


async def action_detail(request: web.Request, error: str | None = None) -> web.Response:
    control = _control(request)
    data = await control.show_action(request.match_info["id"])
    return render(request, "action.html", status=409 if error else 200, action=data, error=error)


async def undo(request: web.Request) -> web.StreamResponse:
    action_id = request.match_info["id"]
    try:
        await _control(request).undo(action_id, _actor(request))
    except ControlError as exc:
        if exc.status == 404:
            raise
        return await action_detail(request, error=str(exc))
    return see_other(f"/ui/actions/{action_id}")


# -- exemptions ----------------------------------------------------------------------


async def exemptions(request: web.Request, error: str | None = None) -> web.Response:
    listed = await _control(request).list_exemptions()
    return render(
        request,
        "exemptions.html",
        status=400 if error else 200,
        exemptions=listed,
        error=error,
    )


def _exemption_spec(form: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        k: _form_str(form, k) for k in ("arn", "account", "rule", "remediation", "owner", "reason")
    }
    tag_key, tag_value = _form_str(form, "tag_key"), _form_str(form, "tag_value")
    if tag_key:
        spec["tag"] = {"key": tag_key, **({"value": tag_value} if tag_value else {})}
    expires = _form_str(form, "expires")
    if expires:
        spec["expires"] = parse_expiry(expires)
    return {k: v for k, v in spec.items() if v}


async def add_exemption(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    try:
        await _control(request).add_exemption(_exemption_spec(form), _actor(request))
    except BadRequest as exc:
        return await exemptions(request, error=str(exc))
    return see_other("/ui/exemptions")


async def remove_exemption(request: web.Request) -> web.StreamResponse:
    try:
        await _control(request).remove_exemption(request.match_info["id"], _actor(request))
    except ControlError as exc:
        return await exemptions(request, error=str(exc))
    return see_other("/ui/exemptions")


# -- kill switch ---------------------------------------------------------------------


async def kill_switch(request: web.Request) -> web.Response:
    control = _control(request)
    return render(
        request,
        "kill_switch.html",
        state=await control.kill_switch_state(),
        paused=await control.paused_actions(),
    )


async def kill_switch_on(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    await _control(request).kill_switch_on(_actor(request), _form_str(form, "reason"))
    return see_other("/ui/kill-switch")


async def kill_switch_off(request: web.Request) -> web.StreamResponse:
    await _control(request).kill_switch_off(_actor(request))
    return see_other("/ui/kill-switch")


# -- dead alerts and flapping resources (forms on the overview) ------------------------


async def retry_dead(request: web.Request) -> web.StreamResponse:
    try:
        inbox_id = int(request.match_info["id"])
    except ValueError:
        raise BadRequest("the inbox id is a number") from None
    await _control(request).retry_inbox(inbox_id, _actor(request))
    return see_other("/ui/")


async def clear_flapping(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    arn, rule = _form_str(form, "resource_arn"), _form_str(form, "rule_id")
    if not arn:
        raise BadRequest("resource_arn is required")
    await _control(request).clear_flapping(arn, rule or None, _actor(request))
    return see_other("/ui/")


def add_manage_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/actions", actions)
    r.add_get("/actions/{id}", action_detail)
    r.add_post("/actions/{id}/undo", undo)
    r.add_get("/exemptions", exemptions)
    r.add_post("/exemptions", add_exemption)
    r.add_post("/exemptions/{id}/remove", remove_exemption)
    r.add_get("/kill-switch", kill_switch)
    r.add_post("/kill-switch/on", kill_switch_on)
    r.add_post("/kill-switch/off", kill_switch_off)
    r.add_post("/inbox/{id}/retry", retry_dead)
    r.add_post("/flapping/clear", clear_flapping)
