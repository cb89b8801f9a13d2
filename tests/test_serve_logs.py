"""At the default log level `serve` tells the journal where it listens (issue 18)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from lw_remediate.testing.moto import free_port

from .conftest import to_toml


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
