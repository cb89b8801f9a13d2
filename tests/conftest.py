"""Fixtures for cross-package tests: a real daemon on a loopback port.

``daemon`` runs the aiohttp app in the test's event loop (fast, inspectable);
``daemon_process`` runs ``lw-remediate serve`` as a subprocess (for crash tests).
Both talk to the kit's moto server and fake Lacework API, on 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from lw_remediate.config import Config
from lw_remediate.pipeline.engine import Engine
from lw_remediate.runtime import Runtime
from lw_remediate.testing.moto import free_port
from lw_remediate.web.server import create_app

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"

#: Sample third-party maps: their tests run from a copy outside the repository
#: (test_thirdparty_map.py), never in this process.
collect_ignore = ["thirdparty"]


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}.{key}" if prefix else key
        if "." in key:
            name = f'{prefix}."{key}"' if prefix else f'"{key}"'
        out += f"\n[{name}]\n" + to_toml(value, name)
    tomllib.loads(out)  # the helper must produce valid TOML
    return out


def daemon_config(
    moto_url: str, fake_lacework: Any, tmp_path: Path, **overrides: Any
) -> dict[str, Any]:
    config: dict[str, Any] = {
        "server": {
            "host": "127.0.0.1",
            "port": free_port(),
            "webhook_token": secrets.token_urlsafe(24),
        },
        "lacework": {**fake_lacework.config, "max_attempts": 3},
        "aws": {"region": "us-east-1", "endpoint_url": moto_url, "role_name": "lw-remediate"},
        "store": {"path": str(tmp_path / "lw.sqlite3")},
        "remediation": {"default_mode": "auto", "enrich_retry_seconds": 0.05},
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(config.get(section), dict):
            config[section] = {**config[section], **values}
        else:
            config[section] = values
    return config


@dataclass
class Daemon:
    """A daemon under test and the handles a test needs."""

    url: str
    token: str
    engine: Engine
    config: Config
    http: aiohttp.ClientSession
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def webhook_url(self) -> str:
        return f"{self.url}/webhooks/lacework/{self.token}"

    async def post(self, body: Any, *, url: str | None = None, **kw: Any) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"json": body} if "data" not in kw else {}
        async with self.http.post(url or self.webhook_url, **kwargs, **kw) as resp:
            text = await resp.text()
            try:
                import json

                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def settle(self, timeout: float = 30) -> dict[str, int]:
        """Wait until no inbox entry is queued or processing (polling a condition)."""
        deadline = time.monotonic() + timeout
        while True:
            counts = await self.engine.store.inbox_counts()
            if (
                not counts.get("queued")
                and not counts.get("processing")
                and not self.engine._inflight
            ):
                return counts
            if time.monotonic() > deadline:
                raise AssertionError(f"daemon did not settle: {counts}")
            await asyncio.sleep(0.02)


@pytest.fixture
async def start_daemon(
    moto_server, fake_lacework, tmp_path
) -> AsyncIterator[Callable[..., Awaitable[Daemon]]]:
    """``await start_daemon(remediation={"default_mode": "dry-run"})`` -> a running Daemon."""
    runners: list[web.AppRunner] = []
    sessions: list[aiohttp.ClientSession] = []

    async def _start(**overrides: Any) -> Daemon:
        data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, **overrides)
        config = Config.model_validate(_split(data))
        runtime = Runtime(config)
        engine = runtime.engine
        app = create_app(runtime)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", config.server.port)
        await site.start()
        runners.append(runner)
        http = aiohttp.ClientSession()
        sessions.append(http)
        return Daemon(
            f"http://127.0.0.1:{config.server.port}",
            data["server"]["webhook_token"],
            engine,
            config,
            http,
        )

    yield _start
    for http in sessions:
        await http.close()
    for runner in runners:
        await runner.cleanup()


def _split(data: dict[str, Any]) -> dict[str, Any]:
    """Mimic load_config's handling of [remediation."<id>"] tables for in-memory configs."""
    from lw_remediate.config.loading import _split_remediation_table

    copy = {k: (dict(v) if isinstance(v, dict) else v) for k, v in data.items()}
    _split_remediation_table(copy)
    return copy


class DaemonProcess:
    """``lw-remediate serve`` in a subprocess, killable with SIGKILL."""

    def __init__(self, config_path: Path, port: int, log_path: Path) -> None:
        self.config_path = config_path
        self.port = port
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from lw_remediate.cli import main; main()",
                "--log-level",
                "info",
                "serve",
                "--config",
                str(self.config_path),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )

    async def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as http:
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, (
                    self.log_path.read_text()[-3000:]
                )
                try:
                    async with http.get(f"http://127.0.0.1:{self.port}/readyz") as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("daemon did not become ready:\n" + self.log_path.read_text()[-3000:])

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
