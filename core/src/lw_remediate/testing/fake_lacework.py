"""A fake Lacework API (aiohttp on 127.0.0.1) with the real v2 REST shape.

Endpoints: ``POST /api/v2/access/tokens`` (``X-LW-UAKS`` secret, ``keyId`` body, 201),
``GET /api/v2/Alerts/{id}?scope=Details`` and ``GET /api/v2/Reports``. Tests load
alerts and reports into it, inject faults (401/429/5xx, delays) and read the
request log.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web


def load_fixture(name: str) -> Any:
    """A bundled Lacework payload fixture by file name (see fixtures/lacework/README.md)."""
    ref = resources.files("lw_remediate.testing").joinpath("fixtures/lacework", name)
    return json.loads(ref.read_text("utf-8"))


def fixture_names() -> list[str]:
    folder = resources.files("lw_remediate.testing").joinpath("fixtures/lacework")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".json"))


@dataclass
class _Fault:
    status: int
    path_prefix: str
    remaining: int
    retry_after: float | None = None
    delay: float = 0.0
    body: Mapping[str, Any] | None = None


class FakeLacework:
    """An in-loop fake of the Lacework API. ``async with FakeLacework() as lw: ...``."""

    def __init__(self, *, account: str = "customerdemo", token_ttl: float = 3600) -> None:
        self.account = account
        self.key_id = "CUSTOMERDEMO_" + secrets.token_hex(8).upper()
        self.secret = "_" + secrets.token_hex(16)
        self.token_ttl = token_ttl
        self.alerts: dict[str, dict[str, Any]] = {}
        self.reports: dict[tuple[str, str], dict[str, Any]] = {}
        self.requests: list[tuple[str, str, int]] = []
        #: The headers of each request, in the order of ``requests``.
        self.request_headers: list[dict[str, str]] = []
        self.tokens_issued = 0
        self._tokens: dict[str, dt.datetime] = {}
        self._faults: list[_Fault] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> FakeLacework:
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/api/v2/access/tokens", self._token)
        app.router.add_get("/api/v2/Alerts/{alert_id}", self._alert)
        app.router.add_get("/api/v2/Reports", self._report)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLacework:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def config(self) -> dict[str, str]:
        """The ``[lacework]`` config table that points the daemon at this fake."""
        return {
            "account": self.account,
            "api_url": self.url,
            "key_id": self.key_id,
            "secret": self.secret,
        }

    # -- loading data -------------------------------------------------------------------

    def add_alert(self, alert_id: str | int, details: Mapping[str, Any]) -> None:
        """Serve ``details`` (the ``data`` object) at ``/api/v2/Alerts/{alert_id}``."""
        self.alerts[str(alert_id)] = copy.deepcopy(dict(details))

    def add_compliance_alert(
        self,
        alert_id: str | int,
        policy_id: str,
        resources: Iterable[tuple[str, str | None, str]],
        *,
        description: str = "",
    ) -> None:
        """A compliance alert for ``policy_id`` over (arn, region, account) resources."""
        details = load_fixture("api_v2_alert_details_compliance.json")["data"]
        details["alertId"] = int(alert_id) if str(alert_id).isdigit() else alert_id
        details["policyId"] = policy_id
        details["alertInfo"]["description"] = description or f"{policy_id} violation"
        details["entityMap"] = {
            "Resource": [
                {
                    "KEY": {
                        "resource": arn,
                        "resource_region": region or "",
                        "account_id": account,
                    },
                    "PROPS": {},
                }
                for arn, region, account in resources
            ]
        }
        self.add_alert(alert_id, details)

    def add_report(self, account_id: str, report_type: str, report: Mapping[str, Any]) -> None:
        """Serve ``report`` (one element of ``data``) for this account and report type."""
        self.reports[(account_id, report_type)] = copy.deepcopy(dict(report))

    def fail_next(
        self,
        status: int,
        *,
        count: int = 1,
        path_prefix: str = "/api/v2/",
        retry_after: float | None = None,
        delay: float = 0.0,
        body: Mapping[str, Any] | None = None,
    ) -> None:
        """Answer the next ``count`` matching requests with ``status`` (after ``delay`` s).

        ``body`` replaces the default ``{"message": "injected <status>"}`` error body.
        """
        self._faults.append(_Fault(status, path_prefix, count, retry_after, delay, body))

    def count(self, path_prefix: str, status: int | None = None) -> int:
        return sum(
            1
            for _, path, st in self.requests
            if path.startswith(path_prefix) and (status is None or st == status)
        )

    # -- handlers -----------------------------------------------------------------------

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response: web.StreamResponse
        fault = next(
            (f for f in self._faults if f.remaining > 0 and request.path.startswith(f.path_prefix)),
            None,
        )
        if fault is not None:
            fault.remaining -= 1
            if fault.delay:
                await asyncio.sleep(fault.delay)
            headers = (
                {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
            )
            body = fault.body if fault.body is not None else {"message": f"injected {fault.status}"}
            response = web.json_response(dict(body), status=fault.status, headers=headers)
        else:
            response = await handler(request)
        self.requests.append((request.method, request.path_qs, response.status))
        self.request_headers.append(dict(request.headers))
        return response

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ").strip()
        expiry = self._tokens.get(token)
        return expiry is not None and expiry > dt.datetime.now(dt.UTC)

    async def _token(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"message": "invalid JSON"}, status=400)
        if request.headers.get("X-LW-UAKS") != self.secret or body.get("keyId") != self.key_id:
            return web.json_response({"message": "Unauthorized"}, status=401)
        ttl = min(float(body.get("expiryTime", self.token_ttl)), self.token_ttl)
        token = "_" + secrets.token_hex(16)
        expires = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ttl)
        self._tokens[token] = expires
        self.tokens_issued += 1
        stamp = expires.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
        return web.json_response({"expiresAt": stamp, "token": token}, status=201)

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (the next API call gets a 401)."""
        self._tokens.clear()

    async def _alert(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        alert = self.alerts.get(request.match_info["alert_id"])
        if alert is None:
            return web.json_response({"message": "Not Found"}, status=404)
        if request.query.get("scope") != "Details":
            return web.json_response({"message": "scope is required"}, status=400)
        return web.json_response({"data": alert})

    async def _report(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"message": "Unauthorized"}, status=401)
        account = request.query.get("primaryQueryId", "")
        report_type = request.query.get("reportType", "")
        if request.query.get("format", "json") != "json":
            return web.json_response({"message": "only format=json is served"}, status=400)
        report = self.reports.get((account, report_type))
        if report is None:
            return web.json_response(
                {"message": f"no report {report_type} for {account}"}, status=404
            )
        return web.json_response({"data": [report], "ok": True, "message": "SUCCESS"})
