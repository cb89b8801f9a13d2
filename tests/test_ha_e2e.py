"""Two ``serve`` processes on one PostgreSQL database behind round-robin posting; one
of them is SIGKILLed mid-flight ten times. Nothing accepted is lost, nothing is
applied twice (PutBucketVersioning counted in moto), every alert is processed once."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from lw_remediate.testing.fake_lacework import load_fixture
from lw_remediate.testing.moto import free_port

from .conftest import ACCOUNT, DaemonProcess, daemon_config, to_toml
from .test_crash_safety import RequestCounter
from .test_sweep_e2e import FAST, LANE, OTHER, current_report

ADMIN = "admin-" + "0123456789abcdef0123"
AUTH = {"Authorization": f"Bearer {ADMIN}"}

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


class HoldingProxy:
    """Between one instance and moto: forwards every AWS request, except the writes
    ``PUT /<bucket>?<query>`` that ``plan`` names, in order: ``pass`` forwards it,
    ``apply_then_hold`` forwards it and never answers (the side effect happened, the
    instance never hears so), ``hold`` never forwards nor answers (nothing happened).
    Writes beyond the plan pass."""

    def __init__(self, upstream: str, query: str, plan: list[str]) -> None:
        self.upstream = upstream.rstrip("/")
        self.query = query
        self.plan = list(plan)
        self.held: list[tuple[str, bool]] = []  # (bucket, forwarded)
        self.all_held = asyncio.Event()
        self.release = asyncio.Event()
        self._seen = 0
        self._runner: web.AppRunner | None = None
        self._http: aiohttp.ClientSession | None = None
        self.url = ""

    async def __aenter__(self) -> HoldingProxy:
        self._http = aiohttp.ClientSession(auto_decompress=False)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release.set()
        assert self._runner is not None and self._http is not None
        await self._runner.cleanup()
        await self._http.close()

    async def _forward(self, request: web.Request, body: bytes) -> web.Response:
        assert self._http is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_HEADERS}
        async with self._http.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as resp:
            data = await resp.read()
            out = {k: v for k, v in resp.headers.items() if k.lower() not in HOP_HEADERS}
            return web.Response(status=resp.status, body=data, headers=out)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if not (request.method == "PUT" and self.query in request.query):
            return await self._forward(request, body)
        step = self.plan[self._seen] if self._seen < len(self.plan) else "pass"
        self._seen += 1
        if step == "pass":
            return await self._forward(request, body)
        forwarded = step == "apply_then_hold"
        if forwarded:
            await self._forward(request, body)
        self.held.append((request.path.strip("/").split("/")[0], forwarded))
        if len(self.held) == self.plan.count("hold") + self.plan.count("apply_then_hold"):
            self.all_held.set()
        await self.release.wait()  # never answered while the instance lives
        return web.Response(status=503)


HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection", "content-encoding"}


def serve_process(
    name: str,
    aws_endpoint: str,
    tmp_path: Path,
    fake_lacework: Any,
    postgres_url: str,
    **sections: Any,
) -> tuple[DaemonProcess, dict[str, Any]]:
    """A ``serve`` process on the test's database (lease 4 s), its AWS calls sent to
    ``aws_endpoint``, in a directory of its own (its own kill-switch file)."""
    home = tmp_path / name
    home.mkdir()
    data = daemon_config(
        aws_endpoint,
        fake_lacework,
        home,
        store={"url": postgres_url, "path": str(home / "lw.sqlite3"), "lease_seconds": 4},
        **sections,
    )
    config_path = home / "lw.toml"
    config_path.write_text(to_toml(data))
    daemon = DaemonProcess(config_path, data["server"]["port"], tmp_path / f"{name}.log")
    return daemon, data


async def owners_and_states(url: str) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        inbox = await conn.fetch("SELECT state, claimed_by FROM inbox ORDER BY id")
        actions = await conn.fetch("SELECT resource_arn, state, owner FROM actions")
    finally:
        await conn.close()
    return (
        [(r["state"], r["claimed_by"]) for r in inbox],
        {r["resource_arn"].rsplit(":", 1)[-1]: f"{r['state']}|{r['owner']}" for r in actions},
    )


async def test_a_dead_instances_claimed_alerts_and_half_applied_actions_are_finished_once(
    moto_server, fake_lacework, admin_client, tmp_path, postgres_url
):
    """Instance a claims three alerts; two of its actions are inside apply (journal
    written, PutBucketVersioning sent: one reached moto, one did not; neither answered),
    the third waits for a slot. a is SIGKILLed; b, running all along, takes everything
    over once a's leases run out and finishes each once: the applied one is verified,
    not applied again; the others are applied once."""
    s3 = admin_client("s3")
    buckets = ["takeover-1", "takeover-2", "takeover-3"]
    for i, bucket in enumerate(buckets):
        s3.create_bucket(Bucket=bucket)
        fake_lacework.add_compliance_alert(
            str(71000 + i), "LW_S3_16", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
        )
    counter = RequestCounter()
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(counter)
    werkzeug.setLevel(logging.INFO)
    daemons: dict[str, DaemonProcess] = {}
    try:
        plan = ["apply_then_hold", "hold"]
        async with HoldingProxy(moto_server.endpoint_url, "versioning", plan) as proxy:
            urls = {}
            for name, endpoint in (("a", proxy.url), ("b", moto_server.endpoint_url)):
                daemons[name], data = serve_process(
                    name,
                    endpoint,
                    tmp_path,
                    fake_lacework,
                    postgres_url,
                    remediation={"concurrency": 2},
                )
                token, port = data["server"]["webhook_token"], data["server"]["port"]
                urls[name] = f"http://127.0.0.1:{port}/webhooks/lacework/{token}"

            daemons["a"].start()
            await daemons["a"].wait_ready(timeout=60)
            async with aiohttp.ClientSession() as http:
                for i in range(len(buckets)):
                    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
                    body["event_id"] = str(71000 + i)
                    async with http.post(urls["a"], json=body) as resp:
                        assert resp.status == 202, await resp.text()
            await asyncio.wait_for(proxy.all_held.wait(), 60)
            # The two writes arrive together: the held list is in the order the proxy
            # finished with them, not the plan's, so find each by what happened to it.
            assert sorted(forwarded for _, forwarded in proxy.held) == [False, True]
            applied_bucket = next(b for b, forwarded in proxy.held if forwarded)
            unapplied_bucket = next(b for b, forwarded in proxy.held if not forwarded)
            assert s3.get_bucket_versioning(Bucket=applied_bucket)["Status"] == "Enabled"
            assert "Status" not in s3.get_bucket_versioning(Bucket=unapplied_bucket)

            # b starts while a lives: a's leases hold, b leaves its work alone.
            daemons["b"].start()
            await daemons["b"].wait_ready(timeout=60)
            inbox, actions = await owners_and_states(postgres_url)
            a_owner = actions[applied_bucket].split("|")[1]
            assert inbox == [("processing", a_owner)] * 3, inbox
            # Both inside apply: the journal says so (the map records its before-image
            # in apply), and nothing says whether the write took.
            for bucket in (applied_bucket, unapplied_bucket):
                state, owner = actions[bucket].split("|")
                assert state in ("applying", "before_recorded") and owner == a_owner, actions

            daemons["a"].kill()  # SIGKILL: its claims, leases and locks just stop

            async def finished() -> bool:
                inbox, actions = await owners_and_states(postgres_url)
                return (
                    {s for s, _ in inbox} == {"done"}
                    and len(actions) == 3
                    and all(v.startswith("done|") for v in actions.values())
                )

            await until("b to finish a's work", finished, timeout=60)
            _, actions = await owners_and_states(postgres_url)
            assert all(v.split("|")[1] != a_owner for v in actions.values()), actions
            assert daemons["b"].terminate() == 0
    finally:
        for d in daemons.values():
            d.stop()
        werkzeug.removeHandler(counter)

    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT resource_arn, status, detail FROM actions")
    finally:
        await conn.close()
    detail = {r["resource_arn"].rsplit(":", 1)[-1]: (r["status"], r["detail"]) for r in rows}
    assert {status for status, _ in detail.values()} == {"remediated"}, detail
    assert "verified after restart" in detail[applied_bucket][1], detail
    for bucket in buckets:
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        assert counter.puts[bucket] == 1, f"{bucket}: PutBucketVersioning x{counter.puts[bucket]}"
    assert "taking_over" in (tmp_path / "b.log").read_text()


class PutCounter(logging.Handler):
    """Counts the ``PUT /<bucket>?<query>`` requests moto serves, per bucket."""

    def __init__(self, query: str) -> None:
        super().__init__(logging.INFO)
        self.pattern = re.compile(r'"PUT /([^/?\s]+)\?' + re.escape(query))
        self.puts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        match = self.pattern.search(record.getMessage())
        if match:
            self.puts[match.group(1)] += 1


async def test_a_sweep_whose_instance_died_is_continued_by_the_other_once(
    moto_server, fake_lacework, admin_client, tmp_path, postgres_url
):
    """a runs a sweep over three public buckets, one at a time; it is SIGKILLed while
    the second bucket's PutBucketAcl has reached moto unanswered. Asked for the same
    sweep, b continues it (same sweep, run 2): the first bucket is skipped, the second
    verified, not written again, the third fixed; each bucket written once."""
    s3 = admin_client("s3", account=OTHER)
    for name in LANE:
        s3.create_bucket(Bucket=name, ACL="public-read")
    report = current_report()
    for rec in report["recommendations"]:
        if rec["REC_ID"] == "lacework-global-130":
            rec["VIOLATIONS"] = [
                {"resource": f"arn:aws:s3:::{name}", "region": "us-east-1"} for name in LANE
            ]
    fake_lacework.add_report(OTHER, "AWS_CIS_14", report)
    sweep_body = {
        "accounts": [OTHER],
        "report_types": ["AWS_CIS_14"],
        "rules": ["LW_S3_1"],
        "mode": "auto",
    }
    counter = PutCounter("acl")
    werkzeug = logging.getLogger("werkzeug")
    werkzeug.addHandler(counter)
    werkzeug.setLevel(logging.INFO)
    daemons: dict[str, DaemonProcess] = {}
    admin = {}
    try:
        plan = ["pass", "apply_then_hold"]
        async with (
            HoldingProxy(moto_server.endpoint_url, "acl", plan) as proxy,
            aiohttp.ClientSession() as http,
        ):
            for name, endpoint in (("a", proxy.url), ("b", moto_server.endpoint_url)):
                daemons[name], data = serve_process(
                    name,
                    endpoint,
                    tmp_path,
                    fake_lacework,
                    postgres_url,
                    server={"admin_token": ADMIN},
                    sweep=FAST | {"concurrency_per_region": 1},
                )
                admin[name] = f"http://127.0.0.1:{data['server']['port']}/admin"
            for d in daemons.values():
                d.start()
            await asyncio.gather(*(d.wait_ready(timeout=60) for d in daemons.values()))

            async def call(name: str, method: str, path: str, body: Any = None) -> Any:
                kwargs = {"json": body} if body is not None else {}
                async with http.request(method, admin[name] + path, headers=AUTH, **kwargs) as resp:
                    return resp.status, await resp.json()

            status, started = await call("a", "POST", "/sweeps", sweep_body | {"by": "alice"})
            assert status == 202, started
            sweep_id = started["sweep"]["id"]
            await asyncio.wait_for(proxy.all_held.wait(), 60)
            ((held_bucket, forwarded),) = proxy.held
            assert held_bucket == LANE[1] and forwarded
            # While a lives, b is told who runs it.
            status, busy = await call("b", "POST", "/sweeps", sweep_body)
            assert status == 409 and "is running" in busy["error"], busy

            daemons["a"].kill()
            status, continued = await call("b", "POST", "/sweeps", sweep_body | {"by": "bob"})
            assert status == 202, continued
            assert (continued["sweep"]["id"], continued["sweep"]["run"]) == (sweep_id, 2)

            async def completed() -> bool:
                _, body = await call("b", "GET", f"/sweeps/{sweep_id}")
                return body["sweep"]["state"] == "completed"

            await until("b to complete the sweep", completed, timeout=60)
            _, final = await call("b", "GET", f"/sweeps/{sweep_id}")
            assert daemons["b"].terminate() == 0
    finally:
        for d in daemons.values():
            d.stop()
        werkzeug.removeHandler(counter)

    sweep = final["sweep"]
    assert (sweep["total"], sweep["done"]) == (3, 3), sweep
    for name in LANE:
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        assert not [g for g in grants if g["Grantee"].get("URI", "").endswith("AllUsers")]
        assert counter.puts[name] == 1, f"{name}: PutBucketAcl x{counter.puts[name]}"
    conn = await asyncpg.connect(postgres_url)
    try:
        rows = await conn.fetch("SELECT resource_arn, status, detail FROM actions")
        runs = await conn.fetchval("SELECT runs FROM sweeps WHERE id = $1", sweep_id)
    finally:
        await conn.close()
    assert runs == 2
    detail = {r["resource_arn"].rsplit(":", 1)[-1]: (r["status"], r["detail"]) for r in rows}
    assert len(rows) == 3 and {status for status, _ in detail.values()} == {"remediated"}, detail
    assert "verified after restart" in detail[LANE[1]][1], detail
