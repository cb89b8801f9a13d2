"""/readyz and /metrics tell the truth about the dependencies: the Lacework key is
verified at start (with backoff, the daemon serving all along), Slack failures are
counted and shown."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from aiohttp import web

from lw_remediate.testing.moto import free_port

ADMIN = "admin-" + "r" * 24


async def get(daemon, path: str) -> tuple[int, Any]:
    async with daemon.http.get(daemon.url + path) as resp:
        if resp.content_type == "application/json":
            return resp.status, await resp.json()
        return resp.status, await resp.text()


async def readyz_when(daemon, condition, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """Poll /readyz until ``condition(body)`` holds (the verification runs in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = await get(daemon, "/readyz")
        if condition(body):
            return status, body
        if time.monotonic() > deadline:
            raise AssertionError(f"/readyz never got there: {body}")
        await asyncio.sleep(0.02)


def lacework_state(body: dict[str, Any]) -> str | None:
    return body["dependencies"].get("lacework", {}).get("state")


async def test_a_working_key_is_verified_at_start(start_daemon, fake_lacework):
    daemon = await start_daemon()
    status, body = await readyz_when(daemon, lambda b: lacework_state(b) == "ok")
    assert status == 200 and body["status"] == "ready" and body["checks"]["lacework"] is True
    assert fake_lacework.count("/api/v2/access/tokens", 201) >= 1
    _, text = await get(daemon, "/metrics")
    assert 'lw_remediate_dependency_up{dependency="lacework"} 1.0' in text


async def test_a_rejected_key_fails_readiness_with_the_reason(start_daemon):
    daemon = await start_daemon(lacework={"secret": "_not-the-secret-0123456789"})
    status, body = await readyz_when(daemon, lambda b: lacework_state(b) == "failing")
    assert status == 503 and body["status"] == "not ready"
    assert body["checks"]["lacework"] is False
    lw = body["dependencies"]["lacework"]
    assert lw["fatal"] is True and "rejected the API key" in lw["detail"]
    assert "_not-the-secret" not in str(body)
    _, text = await get(daemon, "/metrics")
    assert 'lw_remediate_dependency_up{dependency="lacework"} 0.0' in text
    # The daemon still takes alerts (they wait in the inbox for the key to be fixed).
    code, _ = await daemon.post({"shape": "nothing"})
    assert code == 422


async def test_a_lacework_outage_is_degraded_not_down_and_is_tried_again(
    start_daemon, fake_lacework
):
    fake_lacework.fail_next(503, count=3, path_prefix="/api/v2/access/tokens")
    daemon = await start_daemon()  # its client makes 3 attempts per call
    status, body = await readyz_when(daemon, lambda b: lacework_state(b) == "failing")
    assert status == 200 and body["status"] == "degraded"
    assert body["checks"]["lacework"] is True
    assert "gave up after 3 attempts" in body["dependencies"]["lacework"]["detail"]
    status, body = await readyz_when(daemon, lambda b: lacework_state(b) == "ok")
    assert status == 200 and body["status"] == "ready"
    assert fake_lacework.count("/api/v2/access/tokens", 503) == 3


@pytest.fixture
async def broken_slack():
    posted: list[Any] = []

    async def hook(request: web.Request) -> web.Response:
        posted.append(await request.json())
        return web.Response(status=404, text="no_service")

    app = web.Application()
    app.router.add_post("/services/T/B/gone", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}/services/T/B/gone", posted
    await runner.cleanup()


async def test_slack_failures_are_counted_and_shown_on_readyz(start_daemon, broken_slack):
    url, posted = broken_slack
    daemon = await start_daemon(
        server={"admin_token": ADMIN}, notify={"slack": {"webhook_url": url}}
    )
    headers = {"Authorization": f"Bearer {ADMIN}"}
    async with daemon.http.post(
        daemon.url + "/admin/kill-switch/on", json={"by": "alice"}, headers=headers
    ) as resp:
        assert resp.status == 200
    assert len(posted) == 1  # a 404 is not retried
    status, body = await get(daemon, "/readyz")
    assert status == 200 and body["status"] == "degraded"
    slack = body["dependencies"]["notify.slack"]
    assert slack["state"] == "failing" and slack["failures"] == 1
    assert slack["detail"] == "kill_switch not delivered: HTTP 404: no_service"
    assert url not in str(body) and "/services/T/B/gone" not in str(body)
    _, text = await get(daemon, "/metrics")
    assert 'lw_remediate_notify_failures_total{notifier="slack"} 1.0' in text
    assert 'lw_remediate_dependency_up{dependency="notify.slack"} 0.0' in text
