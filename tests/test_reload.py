"""Reloading the configuration without a restart: SIGHUP (a real `serve`) and
POST /admin/reload; validated first (a bad file keeps the running configuration and
says why), audited with who reloaded what."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lw_remediate.config import load_config
from lw_remediate.model import Mode
from lw_remediate.runtime import Runtime
from lw_remediate.web.server import create_app

from .conftest import DaemonProcess, daemon_config, to_toml
from .test_daemon_e2e import classic, versioning_alert

ADMIN = "admin-" + "h" * 24
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def write(path: Path, data: dict[str, Any], mode: str, **remediation: Any) -> None:
    data = {
        **data,
        "remediation": {"default_mode": "dry-run", "enrich_retry_seconds": 0.05, **remediation},
    }
    data["remediation"]["s3.enable_versioning"] = {"mode": mode}
    path.write_text(to_toml(data))


@pytest.fixture
async def served(moto_server, fake_lacework, tmp_path):
    """A daemon started from a configuration file, as `serve` starts it."""
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path)
    data["server"]["admin_token"] = ADMIN
    path = tmp_path / "lw.toml"
    write(path, data, "dry-run")
    runtime = Runtime(load_config(path, environ={}))
    runner = web.AppRunner(create_app(runtime), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", data["server"]["port"]).start()
    http = aiohttp.ClientSession(base_url=f"http://127.0.0.1:{data['server']['port']}")
    yield runtime, http, path, data
    await http.close()
    await runner.cleanup()


async def call(http, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    async with http.request(method, path, headers=AUTH, **kw) as resp:
        return resp.status, await resp.json()


async def test_admin_reload_changes_a_mode_and_audits_who(served, fake_lacework, admin_client):
    runtime, http, path, data = served
    assert runtime.engine.mode_for("s3.enable_versioning") is Mode.DRY_RUN
    write(path, data, "auto")
    status, body = await call(http, "POST", "/admin/reload", json={"by": "alice"})
    assert status == 200, body
    assert body["modes"] == ["s3.enable_versioning: dry-run -> auto"]
    assert "remediations" in body["changed"] and body["restart_needed"] == []
    # The next alert runs in the new mode: the bucket gets versioning.
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="reloaded")
    versioning_alert(fake_lacework, "77001", "reloaded")
    async with http.post(
        f"/webhooks/lacework/{data['server']['webhook_token']}", json=classic("77001")
    ) as resp:
        assert resp.status == 202
    deadline = time.monotonic() + 30
    while s3.get_bucket_versioning(Bucket="reloaded").get("Status") != "Enabled":
        assert time.monotonic() < deadline, "the alert did not run in auto"
        await asyncio.sleep(0.05)
    _, events = await call(http, "GET", "/admin/audit")
    (reloaded,) = [e for e in events if e["kind"] == "config_reloaded"]
    assert reloaded["actor"] == "alice"
    assert "s3.enable_versioning: dry-run -> auto" in reloaded["detail"]
    assert str(path) in reloaded["detail"]


async def test_a_bad_file_keeps_the_running_configuration_and_says_why(served):
    runtime, http, path, _ = served
    before = runtime.config
    path.write_text(path.read_text() + "\n[budgets]\nper_rule_per_hor = 3\n")
    status, body = await call(http, "POST", "/admin/reload", json={"by": "bob"})
    assert status == 409
    assert body["error"].startswith(
        "configuration not reloaded: budgets.per_rule_per_hor: unknown key"
    )
    assert body["error"].endswith("; the running configuration is kept")
    assert runtime.config is before and runtime.engine.config is before
    _, events = await call(http, "GET", "/admin/audit")
    (failed,) = [e for e in events if e["kind"] == "config_reload_failed"]
    assert failed["actor"] == "bob" and "the running configuration is kept" in failed["detail"]


#: setting -> (how the new file changes it, the running value that must stay)
RESTART: dict[str, tuple[Callable[[dict[str, Any]], dict[str, Any]], Callable[[Any], Any]]] = {
    "server": (
        lambda d: {**d, "server": {**d["server"], "port": d["server"]["port"] + 1}},
        lambda config: config.server.port,
    ),
    "store": (
        lambda d: {**d, "store": {**d["store"], "path": d["store"]["path"] + ".new"}},
        lambda config: config.store.path,
    ),
    "lacework": (
        lambda d: {**d, "lacework": {**d["lacework"], "max_attempts": 5}},
        lambda config: config.lacework.max_attempts,
    ),
    "remediation.concurrency": (lambda d: d, lambda config: config.remediation.concurrency),
}


@pytest.mark.parametrize("setting", list(RESTART))
async def test_settings_that_need_a_restart_are_named_and_kept(served, setting):
    """[server], [store], [lacework] and [remediation] concurrency keep their running
    values until a restart (docs/operating.md, Reloading the configuration)."""
    runtime, http, path, data = served
    change, running = RESTART[setting]
    before = running(runtime.config)
    extra = {"concurrency": 3} if setting == "remediation.concurrency" else {}
    write(path, change(data), "dry-run", **extra)
    status, body = await call(http, "POST", "/admin/reload", json={"by": "carol"})
    assert status == 200 and body["restart_needed"] == [setting], body
    assert running(runtime.config) == before and running(runtime.engine.config) == before


async def wait_for_audit(url: str, kind: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            async with http.get(f"{url}/admin/audit", headers=AUTH) as resp:
                events = await resp.json()
            found = [e for e in events if e["kind"] == kind]
            if found:
                return found[0]
            assert time.monotonic() < deadline, f"no {kind} in the audit trail: {events}"
            await asyncio.sleep(0.05)


async def test_sighup_reloads_a_running_serve(moto_server, fake_lacework, tmp_path):
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path)
    data["server"]["admin_token"] = ADMIN
    path = tmp_path / "lw.toml"
    write(path, data, "dry-run")
    port = data["server"]["port"]
    daemon = DaemonProcess(path, port, tmp_path / "daemon.log")
    daemon.start()
    try:
        await daemon.wait_ready()
        write(path, data, "approve")
        assert daemon.proc is not None
        daemon.proc.send_signal(signal.SIGHUP)
        event = await wait_for_audit(f"http://127.0.0.1:{port}", "config_reloaded")
        assert event["actor"] == "SIGHUP"
        assert "s3.enable_versioning: dry-run -> approve" in event["detail"]
        path.write_text("this is not TOML [")
        daemon.proc.send_signal(signal.SIGHUP)
        failed = await wait_for_audit(f"http://127.0.0.1:{port}", "config_reload_failed")
        assert "not valid TOML" in failed["detail"]
        assert daemon.proc.poll() is None  # still running, on the last good configuration
        await daemon.wait_ready()
        assert daemon.terminate() == 0
    finally:
        daemon.stop()
    log = (tmp_path / "daemon.log").read_text().splitlines()
    events = {json.loads(line)["event"] for line in log if line.startswith("{")}
    assert {"listening", "config_reloaded", "config_reload_failed"} <= events
