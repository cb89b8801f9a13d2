"""Fuzzing the daemon's HTTP endpoints (issue 15): generated bodies and headers to the
webhook and the admin API. Asserted for every request: an answer, and no 5xx (nothing
here makes the store unavailable). Afterwards: the worker alive, never restarted, and
a valid alert processed. The 20,000-request campaign is bench/fuzz.py; this is its
bounded sibling in the suite."""

from __future__ import annotations

import asyncio

from hypothesis import HealthCheck, given, settings

from .fuzzing import requests, send
from .test_hardening import classic, versioned, versioning_alert
from .test_safety_e2e import ADMIN, admin

EXAMPLES = 250


async def test_fuzzed_requests_never_get_a_5xx_nor_stop_the_worker(
    start_daemon, fake_lacework, admin_client
):
    daemon = await start_daemon(
        server={"admin_token": ADMIN, "max_body_bytes": 65536},
        remediation={"enrich_max_attempts": 1},
    )
    loop = asyncio.get_running_loop()
    port = daemon.config.server.port
    answers: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests(max_depth=20_000, max_size=70_000))
    def one_request(request):
        status, body = asyncio.run_coroutine_threadsafe(
            send("127.0.0.1", port, request, webhook=daemon.token, admin=ADMIN), loop
        ).result(timeout=120)
        answers.append(status)
        assert status < 500, (status, body[:300], request)

    await asyncio.to_thread(one_request)
    assert len(answers) >= EXAMPLES  # every example was sent and answered
    assert {s // 100 for s in answers} >= {2, 4}

    # Whatever the fuzz added at run time must not stop the valid alert below.
    for ex in (await admin(daemon, "GET", "/admin/exemptions"))[1]:
        await admin(daemon, "DELETE", f"/admin/exemptions/{ex['id']}?by=fuzz")
    await admin(daemon, "POST", "/admin/kill-switch/off", {"by": "fuzz"})

    s3 = admin_client("s3")
    s3.create_bucket(Bucket="after-the-fuzz")
    versioning_alert(fake_lacework, "990001", "after-the-fuzz")
    status, _ = await daemon.post(classic("990001"))
    assert status == 202
    await daemon.settle(timeout=120)
    assert versioned(s3, "after-the-fuzz")
    async with daemon.http.get(f"{daemon.url}/readyz") as resp:
        assert resp.status == 200 and (await resp.json())["checks"]["worker"] is True
    async with daemon.http.get(f"{daemon.url}/metrics") as resp:
        assert "lw_remediate_worker_restarts_total 0.0" in await resp.text()
