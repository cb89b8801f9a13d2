"""The console's maps page: the installed maps, their remediations, the mode each runs
in and the IAM policy each needs, from :mod:`lw_remediate.operate.catalog` (the same
data as ``lw-remediate maps --json``). Read-only."""

from __future__ import annotations

from aiohttp import web

from ...operate.catalog import capability, maps_report, remediation_policy, rule_text
from ..keys import ENGINE
from .pages import render


async def maps(request: web.Request) -> web.Response:
    engine = request.config_dict[ENGINE]
    config, registry = engine.config, engine.registry
    report = maps_report(config, registry)
    policies = {
        r["id"]: remediation_policy(config, registry, r["id"])
        for m in report["maps"]
        for r in m["remediations"]
    }
    return render(
        request,
        "maps.html",
        report=report,
        policies=policies,
        capability=capability,
        rule_text=rule_text,
    )


def add_maps_routes(app: web.Application) -> None:
    app.router.add_get("/maps", maps)
