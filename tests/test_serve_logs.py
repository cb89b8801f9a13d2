"""At the default log level `serve` tells the journal where it listens and which actions
failed (issue 18)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from lw_remediate.testing.fake_lacework import load_fixture
from lw_remediate.testing.moto import free_port

from .conftest import ACCOUNT, daemon_config, to_toml


def test_serve_logs_listening_at_the_default_level(tmp_path):
    port = free_port()
    path = tmp_path / "lw.toml"
    path.write_text(
        to_toml(
            {
                "server": {"host": "127.0.0.1", "port": port, "webhook_token": "w" * 24},
                "store": {"path": str(tmp_path / "lw.sqlite3")},
            }
        )
    )
    log = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lw_remediate.cli import main; main()",
                "serve",
                "--config",
                str(path),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 60
        events: list[dict] = []
        while not any(e.get("event") == "listening" for e in events):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
            events = [
                json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")
            ]
        (listening,) = [e for e in events if e.get("event") == "listening"]
        assert listening["url"] == f"http://127.0.0.1:{port}" and listening["level"] == "info"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def _serve(config: Path, log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """``lw-remediate serve`` with no --log-level (the default), its output in ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lw_remediate.cli import main; main()",
                "serve",
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


def _events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


async def test_a_failed_action_is_a_warning_at_the_default_level(
    moto_server, fake_lacework, admin_client, tmp_path
):
    """No AWS credentials at all: the action ends `failed` with the AWS error in its
    detail (docs/operating.md), and the journal shows it at warning without --log-level."""
    admin_client("s3").create_bucket(Bucket="no-credentials")
    fake_lacework.add_compliance_alert(
        "61001", "LW_S3_16", [("arn:aws:s3:::no-credentials", "us-east-1", ACCOUNT)]
    )
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path)
    path = tmp_path / "lw.toml"
    path.write_text(to_toml(data))
    port, token = data["server"]["port"], data["server"]["webhook_token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LW_", "AWS_"))}
    env |= {
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    log = tmp_path / "serve.log"
    proc = _serve(path, log, env)
    try:
        deadline = time.monotonic() + 60
        while not any(e.get("event") == "listening" for e in _events(log)):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.05)
        body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
        body["event_id"] = "61001"
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/webhooks/lacework/{token}"
            async with http.post(url, json=body) as resp:
                assert resp.status == 202, await resp.text()
        while not any(e.get("event") == "action_finished" for e in _events(log)):
            assert proc.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            await asyncio.sleep(0.05)
        (finished,) = [e for e in _events(log) if e.get("event") == "action_finished"]
        assert finished["level"] == "warning", finished
        assert finished["status"] == "failed", finished
        assert "credentials" in finished["detail"].lower(), finished
        assert finished["resource_arn"] == "arn:aws:s3:::no-credentials"
        # Nothing changed in the account.
        versioning = admin_client("s3").get_bucket_versioning(Bucket="no-credentials")
        assert versioning.get("Status") is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
