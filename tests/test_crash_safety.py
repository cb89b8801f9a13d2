"""Crash safety: SIGKILL while alerts arrive; after restart, every 202 is processed once."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import time
from collections import Counter

import aiohttp
import pytest

from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import ACCOUNT, DaemonProcess, daemon_config, to_toml

pytestmark = pytest.mark.slow

N = 24


class RequestCounter(logging.Handler):
    """Counts the PutBucketVersioning requests moto serves, per bucket."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.puts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = re.search(r'"PUT /([^/?\s]+)\?versioning', record.getMessage())
        if match:
            self.puts[match.group(1)] += 1


def action_states(path: str) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM actions GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


def inbox_states(path: str) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT state, COUNT(*) FROM inbox GROUP BY state").fetchall())
    except sqlite3.OperationalError:
        return {}
    finally:
        conn.close()


async def test_sigkill_under_load_loses_nothing_and_applies_once(
    moto_server, fake_lacework, admin_client, tmp_path
):
    s3 = admin_client("s3")
    buckets = [f"crash-{i:02d}" for i in range(N)]
    for i, bucket in enumerate(buckets):
        s3.create_bucket(Bucket=bucket)
        fake_lacework.add_compliance_alert(
            str(50000 + i), "LW_S3_16", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
        )
    data = daemon_config(
        moto_server.endpoint_url, fake_lacework, tmp_path, remediation={"concurrency": 4}
    )
    config_path = tmp_path / "lw.toml"
    config_path.write_text(to_toml(data))
    store_path = data["store"]["path"]
    token = data["server"]["webhook_token"]
    url = f"http://127.0.0.1:{data['server']['port']}/webhooks/lacework/{token}"

    counter = RequestCounter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(counter)
    werkzeug.setLevel(logging.INFO)
    daemon = DaemonProcess(config_path, data["server"]["port"], tmp_path / "daemon.log")
    accepted: set[int] = set()
    try:
        daemon.start()
        await daemon.wait_ready()

        async def post(http: aiohttp.ClientSession, i: int) -> int | None:
            body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
            body["event_id"] = str(50000 + i)
            try:
                async with http.post(url, json=body) as resp:
                    return resp.status
            except aiohttp.ClientError:
                return None

        half = N // 2
        async with aiohttp.ClientSession() as http:
            first = await asyncio.gather(*(post(http, i) for i in range(half)))
            assert first == [202] * half
            accepted.update(range(half))
            # Let the daemon get some work done, then kill it while more alerts arrive.
            deadline = time.monotonic() + 30
            while action_states(store_path).get("done", 0) < 2:
                assert time.monotonic() < deadline, "the daemon finished no action"
                await asyncio.sleep(0.01)
            killed = asyncio.Event()

            async def sender(i: int) -> None:
                status = await post(http, i)
                if status == 202:
                    accepted.add(i)
                    if not killed.is_set():
                        killed.set()
                        daemon.kill()  # SIGKILL: no cleanup, no flush, no goodbye

            await asyncio.gather(*(sender(i) for i in range(half, N)))
        assert killed.is_set()
        at_kill = inbox_states(store_path)
        assert at_kill.get("done", 0) < len(accepted), f"nothing was left to recover: {at_kill}"

        daemon.start()
        await daemon.wait_ready()
        async with aiohttp.ClientSession() as http:
            statuses = {i: await post(http, i) for i in range(N)}  # Lacework redelivers everything
        for i in accepted:
            assert statuses[i] == 200, (
                f"alert {i} was accepted before the crash but is new after it"
            )
        assert all(s in {200, 202} for s in statuses.values())

        deadline = time.monotonic() + 60
        while inbox_states(store_path).get("done", 0) < N:
            assert time.monotonic() < deadline, inbox_states(store_path)
            await asyncio.sleep(0.05)
        assert daemon.terminate() == 0  # graceful SIGTERM shutdown
    finally:
        daemon.stop()
        werkzeug.removeHandler(counter)

    conn = sqlite3.connect(store_path)
    rows = conn.execute("SELECT resource_arn, status, state FROM actions").fetchall()
    conn.close()
    per_bucket = Counter(arn.rsplit(":", 1)[-1] for arn, _, _ in rows)
    assert per_bucket == Counter({b: 1 for b in buckets}), "exactly one action per alert"
    assert {(status, state) for _, status, state in rows} == {("remediated", "done")}
    for bucket in buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert counter.puts[bucket] == 1, (
            f"{bucket}: PutBucketVersioning sent {counter.puts[bucket]} times"
        )
