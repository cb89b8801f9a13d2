"""Two ``serve`` processes on one PostgreSQL database behind round-robin posting; one
of them is SIGKILLed mid-flight ten times. Nothing accepted is lost, nothing is
applied twice (PutBucketVersioning counted in moto), every alert is processed once."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter

import aiohttp
import asyncpg
import pytest

from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import ACCOUNT, DaemonProcess, daemon_config, to_toml
from .test_crash_safety import RequestCounter

pytestmark = pytest.mark.slow

KILLS = 10
PER_ROUND = 3


async def states(url: str, table: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(f"SELECT state, COUNT(*) AS n FROM {table} GROUP BY state")
        return {r["state"]: r["n"] for r in rows}
    finally:
        await conn.close()


async def until(what: str, check, timeout: float = 90) -> None:
    """Wait for a condition the daemons bring about (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_two_instances_one_killed_ten_times_lose_nothing_and_apply_once(
    moto_server, fake_lacework, admin_client, tmp_path, postgres_url
):
    n = KILLS * PER_ROUND + PER_ROUND
    s3 = admin_client("s3")
    buckets = [f"ha-{i:02d}" for i in range(n)]
    for i, bucket in enumerate(buckets):
        s3.create_bucket(Bucket=bucket)
        fake_lacework.add_compliance_alert(
            str(70000 + i), "LW_S3_16", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
        )
    daemons: list[DaemonProcess] = []
    urls: list[str] = []
    for name in ("a", "b"):
        data = daemon_config(
            moto_server.endpoint_url,
            fake_lacework,
            tmp_path / name,
            store={
                "url": postgres_url,
                "path": str(tmp_path / name / "lw.sqlite3"),
                "lease_seconds": 2,
            },
            remediation={"concurrency": 4},
        )
        (tmp_path / name).mkdir()
        config_path = tmp_path / name / "lw.toml"
        config_path.write_text(to_toml(data))
        token = data["server"]["webhook_token"]
        daemons.append(DaemonProcess(config_path, data["server"]["port"], tmp_path / f"{name}.log"))
        urls.append(f"http://127.0.0.1:{data['server']['port']}/webhooks/lacework/{token}")

    counter = RequestCounter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(counter)
    werkzeug.setLevel(logging.INFO)
    accepted: set[int] = set()
    mid_flight = survived = 0

    async def processed(count: int) -> bool:
        inbox = await states(postgres_url, "inbox")
        actions = await states(postgres_url, "actions")
        return inbox == {"done": count} and actions == {"done": count}

    try:
        for d in daemons:
            d.start()
        await asyncio.gather(*(d.wait_ready(timeout=60) for d in daemons))

        async def post(http: aiohttp.ClientSession, i: int, target: int) -> None:
            body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
            body["event_id"] = str(70000 + i)
            async with http.post(urls[target], json=body) as resp:
                assert resp.status == 202, await resp.text()
                accepted.add(i)

        async with aiohttp.ClientSession() as http:
            for round_ in range(KILLS + 1):
                first = round_ * PER_ROUND
                # Round-robin over both instances (both are up here).
                await asyncio.gather(
                    *(post(http, i, i % 2) for i in range(first, first + PER_ROUND))
                )
                if round_ == KILLS:
                    break
                done_before = (await states(postgres_url, "actions")).get("done", 0)
                await until(
                    "an action to finish",
                    lambda before=done_before: _more_done(postgres_url, before),
                )
                victim = daemons[round_ % 2]
                victim.kill()  # SIGKILL: no cleanup, its claims and locks just stop
                inbox = await states(postgres_url, "inbox")
                actions = await states(postgres_url, "actions")
                if inbox.get("processing", 0) + inbox.get("queued", 0) or set(actions) - {"done"}:
                    mid_flight += 1
                if round_ % 3 == 2:
                    # The survivor alone finishes what the victim held (once its leases
                    # run out) before the victim comes back.
                    await until("the survivor to take over", lambda: processed(len(accepted)))
                    survived += 1
                victim.start()
                await victim.wait_ready(timeout=60)

        await until("every alert to be processed", lambda: processed(n))
        for d in daemons:
            assert d.terminate() == 0
    finally:
        for d in daemons:
            d.stop()
        werkzeug.removeHandler(counter)

    assert accepted == set(range(n))
    assert mid_flight >= 1, "no kill happened while work was in flight"
    assert survived == 3
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT resource_arn, status, state FROM actions")
    finally:
        await conn.close()
    per_bucket = Counter(r["resource_arn"].rsplit(":", 1)[-1] for r in rows)
    assert per_bucket == Counter({b: 1 for b in buckets}), "exactly one action per alert"
    assert {(r["status"], r["state"]) for r in rows} == {("remediated", "done")}
    for bucket in buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert counter.puts[bucket] == 1, f"{bucket}: PutBucketVersioning x{counter.puts[bucket]}"


async def _more_done(url: str, before: int) -> bool:
    return (await states(url, "actions")).get("done", 0) > before
