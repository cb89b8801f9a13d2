"""Two daemons on one real PostgreSQL database, each with its own runtime, store, engine
and HTTP port (as two VMs behind a load balancer would be), driven through their
webhook and admin API; PutBucketVersioning is counted in moto.

Approvals raced through both apply once, a budget is exact across both, the kill
switch thrown through one stops the other's next apply, and ``/readyz`` and
``/metrics`` tell when the database stops answering.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from lw_remediate.config import Config
from lw_remediate.model import Status
from lw_remediate.notify import NotificationKind
from lw_remediate.runtime import Runtime
from lw_remediate.testing.fake_lacework import load_fixture
from lw_remediate.web.server import create_app

from .conftest import ACCOUNT, daemon_config
from .test_crash_safety import RequestCounter

ADMIN = "admin-" + secrets.token_urlsafe(24)


class Recorder:
    """A notifier that keeps what it is sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def notify(self, notification: Any) -> None:
        self.sent.append(notification)


@dataclass
class Instance:
    name: str
    url: str
    token: str
    runtime: Runtime
    http: aiohttp.ClientSession
    recorder: Recorder

    @property
    def store(self) -> Any:
        return self.runtime.engine.store

    async def post_alert(self, event_id: str) -> None:
        body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
        body["event_id"] = event_id
        async with self.http.post(f"{self.url}/webhooks/lacework/{self.token}", json=body) as resp:
            assert resp.status == 202, await resp.text()

    async def admin(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {ADMIN}"}
        kwargs = {"json": body} if body is not None else {}
        async with self.http.request(method, f"{self.url}{path}", headers=headers, **kwargs) as r:
            return r.status, json.loads(await r.text())

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(f"{self.url}{path}") as resp:
            return resp.status, await resp.text()


Start = Callable[..., Awaitable[Instance]]


@pytest.fixture
async def instances(moto_server, fake_lacework, tmp_path, postgres_url) -> AsyncIterator[Start]:
    """``await start("a", worker=True, **config sections)`` -> an instance on the test's
    database. Each has its own directory (its own kill-switch file, as on its own VM)."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def start(name: str, *, worker: bool = True, **sections: Any) -> Instance:
        home = tmp_path / name
        home.mkdir()
        store = {"url": postgres_url, "path": str(home / "lw.sqlite3"), **sections.pop("store", {})}
        data = daemon_config(
            moto_server.endpoint_url,
            fake_lacework,
            home,
            server={"admin_token": ADMIN},
            store=store,
            **sections,
        )
        runtime = Runtime(Config.model_validate(data))
        recorder = Recorder()
        runtime.engine.notifiers.notifiers.append(recorder)
        runner = web.AppRunner(create_app(runtime, run_worker=worker), access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", data["server"]["port"]).start()
        runners.append(runner)
        http = aiohttp.ClientSession()
        sessions.append(http)
        url = f"http://127.0.0.1:{data['server']['port']}"
        return Instance(name, url, data["server"]["webhook_token"], runtime, http, recorder)

    yield start
    for http in sessions:
        await http.close()
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
def puts() -> Any:
    """PutBucketVersioning requests moto served, per bucket."""
    counter = RequestCounter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(counter)
    level = werkzeug.level
    werkzeug.setLevel(logging.INFO)
    yield counter.puts
    werkzeug.removeHandler(counter)
    werkzeug.setLevel(level)


def alerts_for(fake_lacework: Any, s3: Any, buckets: list[str], first: int) -> list[str]:
    """One compliance alert per bucket (the buckets created unversioned); the event ids."""
    ids = []
    for i, bucket in enumerate(buckets):
        s3.create_bucket(Bucket=bucket)
        event_id = str(first + i)
        fake_lacework.add_compliance_alert(
            event_id, "LW_S3_16", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
        )
        ids.append(event_id)
    return ids


async def until(what: str, check: Callable[[], Awaitable[bool]], timeout: float = 60) -> None:
    """Wait for a condition the instances bring about (polled, bounded)."""
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


async def all_done(store: Any, n: int) -> bool:
    counts = await store.inbox_counts()
    if counts.get("done", 0) != n:
        return False
    rows = await store.list_actions(limit=1000)
    return len(rows) == n and all(r.record.state in ("done", "awaiting_approval") for r in rows)


async def test_an_approval_raced_through_two_instances_applies_once(
    instances, fake_lacework, admin_client, puts
):
    s3 = admin_client("s3")
    a = await instances("a", remediation={"default_mode": "approve"})
    b = await instances("b", remediation={"default_mode": "approve"})
    buckets = [f"race-{i}" for i in range(6)]
    for event_id, target in zip(
        alerts_for(fake_lacework, s3, buckets, 81000), [a, b] * 3, strict=True
    ):
        await target.post_alert(event_id)
    await until("every action to await approval", lambda: all_done(a.store, len(buckets)))
    waiting = await a.store.list_actions(status=str(Status.AWAITING_APPROVAL), limit=100)
    assert len(waiting) == len(buckets)

    for row in waiting:
        path = f"/admin/actions/{row.record.id}/approve"
        answers = await asyncio.gather(
            a.admin("POST", path, {"by": "alice"}), b.admin("POST", path, {"by": "bob"})
        )
        statuses = sorted(status for status, _ in answers)
        assert statuses == [200, 409], answers
        won = next(body for status, body in answers if status == 200)
        lost = next(body for status, body in answers if status == 409)
        assert won["status"] == "remediated", won
        assert "decided by someone else" in lost["error"] or "awaiting approval" in lost["error"]
        events = await a.store.audit_events(action_id=row.record.id, limit=100)
        assert [e.kind for e in events].count("approved") == 1

    for bucket in buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert puts[bucket] == 1, f"{bucket}: PutBucketVersioning x{puts[bucket]}"
    rows = await b.store.list_actions(limit=100)
    assert {(r.record.status, r.record.state) for r in rows} == {(Status.REMEDIATED, "done")}


async def test_a_budget_is_exact_across_two_instances_and_notified_once(
    instances, fake_lacework, admin_client, puts
):
    s3 = admin_client("s3")
    # Approved actions run in the instance that approves them: five through each, all
    # at once, race for a budget of three.
    sections = {
        "budgets": {"global_per_hour": 3},
        "remediation": {"default_mode": "approve", "concurrency": 4},
    }
    a = await instances("a", **sections)
    b = await instances("b", **sections)
    buckets = [f"budget-{i}" for i in range(10)]
    for event_id in alerts_for(fake_lacework, s3, buckets, 82000):
        await a.post_alert(event_id)
    await until("every action to await approval", lambda: all_done(a.store, len(buckets)))
    waiting = await a.store.list_actions(status=str(Status.AWAITING_APPROVAL), limit=100)
    assert len(waiting) == len(buckets)

    answers = await asyncio.gather(
        *(
            target.admin("POST", f"/admin/actions/{row.record.id}/approve", {"by": target.name})
            for row, target in zip(waiting, [a, b] * 5, strict=True)
        )
    )
    assert [status for status, _ in answers] == [200] * len(buckets), answers
    statuses = [body["status"] for _, body in answers]
    assert statuses.count("remediated") == 3, statuses
    assert statuses.count("refused") == 7, statuses
    assert all("budget" in body["detail"] for _, body in answers if body["status"] == "refused")
    assert sum(puts.values()) == 3, dict(puts)
    rows = await b.store.list_actions(limit=100)
    assert sorted(str(r.record.status) for r in rows) == sorted(statuses)
    notices = [
        n for i in (a, b) for n in i.recorder.sent if n.kind is NotificationKind.BUDGET_EXCEEDED
    ]
    assert len(notices) == 1


async def test_the_kill_switch_thrown_through_one_instance_stops_the_others_next_apply(
    instances, fake_lacework, admin_client, puts
):
    s3 = admin_client("s3")
    # a takes the operator's calls only (no worker); b does the work.
    a = await instances("a", worker=False)
    b = await instances("b")
    first, second = alerts_for(fake_lacework, s3, ["ks-1", "ks-2"], 83000)

    status, body = await a.admin("POST", "/admin/kill-switch/on", {"by": "ops", "reason": "drill"})
    assert status == 200 and body["on"], body
    status, body = await b.admin("GET", "/admin/kill-switch")
    assert body["on"] and body["by"] == "ops" and body["reason"] == "drill", body

    await a.post_alert(first)  # into the shared inbox; b's worker runs it
    await until("b to park the action", lambda: all_done(b.store, 1))
    (row,) = await b.store.list_actions(limit=10)
    assert row.record.status is Status.AWAITING_APPROVAL, row.record
    assert "paused by the kill switch" in row.record.detail and "by ops: drill" in row.record.detail
    assert puts["ks-1"] == 0
    assert s3.get_bucket_versioning(Bucket="ks-1").get("Status") is None
    # Approving the parked action through b is refused while the switch is on.
    status, body = await b.admin("POST", f"/admin/actions/{row.record.id}/approve")
    assert status == 409 and "kill switch" in body["error"], body

    status, body = await b.admin("POST", "/admin/kill-switch/off", {"by": "ops"})
    assert status == 200 and not body["on"], body
    status, body = await a.admin("GET", "/admin/kill-switch")
    assert not body["on"] and body["paused"] == [row.record.id], body
    status, body = await a.admin("POST", f"/admin/actions/{row.record.id}/approve")
    assert status == 200 and body["status"] == "remediated", body
    await a.post_alert(second)
    await until("b to remediate the next one", lambda: all_done(b.store, 2))
    assert puts["ks-1"] == 1 and puts["ks-2"] == 1


async def test_readyz_and_metrics_say_when_the_database_stops_answering(instances, postgres_server):
    a = await instances("a")
    status, text = await a.get("/readyz")
    assert status == 200, text
    body = json.loads(text)
    assert body["checks"]["store"] is True and body["dependencies"]["store"]["state"] == "ok"
    status, text = await a.get("/metrics")
    assert 'lw_remediate_dependency_up{dependency="store"} 1.0' in text

    database = a.store.url.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(postgres_server.url())
    try:
        # The database refuses connections and drops the ones it has, as a failed-over
        # or stopped server would.
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database
        )
        status, text = await a.get("/readyz")
        assert status == 503, text
        body = json.loads(text)
        assert body["status"] == "not ready" and body["checks"]["store"] is False
        store = body["dependencies"]["store"]
        assert store["state"] == "failing" and store["fatal"] is True
        assert "the store does not answer" in store["detail"], store
        assert "not currently accepting connections" in store["detail"], store
        status, text = await a.get("/metrics")
        assert status == 200, text
        assert 'lw_remediate_dependency_up{dependency="store"} 0.0' in text

        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        status, text = await a.get("/readyz")
        assert status == 200, text
        assert json.loads(text)["dependencies"]["store"]["state"] == "ok"
    finally:
        await admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        await admin.close()
