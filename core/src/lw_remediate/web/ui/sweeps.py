"""The console's sweeps: start one (accounts, rules, mode), follow its progress, see
its result, stop it. Thin handlers over the daemon's
:class:`~lw_remediate.operate.sweep.SweepManager` (:meth:`~.SweepManager.begin`,
:meth:`~.SweepManager.listing`, :meth:`~.SweepManager.stop_sweep`), the same calls as
``/admin/sweeps``; the audit trail names the logged-in operator (``via ui``).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from ...model import Mode
from ...operate.control import ControlError, NotFound
from ...operate.sweep import KNOWN_REPORT_TYPES, RUNNING, SweepManager
from ..keys import CONFIG, SWEEPS
from .pages import _actor, _form_str, render, see_other

#: The modes a sweep can run in ("" keeps each remediation's configured mode).
MODES = ("dry-run", "approve", "auto", "")


def _manager(request: web.Request) -> SweepManager:
    return request.config_dict[SWEEPS]


def _words(text: str) -> list[str]:
    """Accounts, rules or report types typed into one box: commas or white space."""
    return [w for w in re.split(r"[\s,]+", text) if w]


def _sweep_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit():
        raise NotFound("sweep ids are numbers")
    return int(raw)


async def sweeps(
    request: web.Request, error: str | None = None, status: int = 200, form: Any = None
) -> web.Response:
    config = request.config_dict[CONFIG]
    return render(
        request,
        "sweeps.html",
        status=status,
        sweeps=await _manager(request).listing(),
        error=error,
        form=form or {"mode": Mode.DRY_RUN.value},
        modes=MODES,
        default_mode=config.remediation.default_mode.value,
        allowed_accounts=config.aws.accounts,
        report_types=config.sweep.report_types,
        known_report_types=KNOWN_REPORT_TYPES,
    )


async def start_sweep(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    given = {k: _form_str(form, k) for k in ("accounts", "rules", "mode", "report_types")}
    given["all_accounts"] = "on" if form.get("all_accounts") else ""
    try:
        sweep = await _manager(request).begin(
            _actor(request),
            accounts=_words(given["accounts"]),
            all_accounts=bool(given["all_accounts"]),
            rules=_words(given["rules"]),
            mode=given["mode"] or None,
            report_types=_words(given["report_types"]),
        )
    except ControlError as exc:
        return await sweeps(request, error=str(exc), status=exc.status, form=given)
    return see_other(f"/ui/sweeps/{sweep.id}")


async def sweep_detail(request: web.Request, error: str | None = None) -> web.Response:
    sweep_id = _sweep_id(request)
    snap = await _manager(request).snapshot(sweep_id)
    if snap is None:
        raise NotFound(f"no sweep {sweep_id}")
    return render(
        request,
        "sweep.html",
        status=409 if error else 200,
        sweep=snap,
        running=snap["state"] == RUNNING,
        error=error,
    )


async def stop_sweep(request: web.Request) -> web.StreamResponse:
    sweep_id = _sweep_id(request)
    try:
        await _manager(request).stop_sweep(sweep_id, _actor(request))
    except ControlError as exc:
        if exc.status == 404:
            raise
        return await sweep_detail(request, error=str(exc))
    return see_other(f"/ui/sweeps/{sweep_id}")


def add_sweep_routes(app: web.Application) -> None:
    r = app.router
    r.add_get("/sweeps", sweeps)
    r.add_post("/sweeps", start_sweep)
    r.add_get("/sweeps/{id}", sweep_detail)
    r.add_post("/sweeps/{id}/stop", stop_sweep)
