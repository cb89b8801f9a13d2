"""Fuzz campaign against a real daemon process (issue 15, "Done when").

    .venv/bin/python bench/fuzz.py [--requests 20000] [--concurrency 16] [--seed 1]

Runs ``lw-remediate serve`` as a subprocess (every secret configured: webhook and admin
tokens, the Lacework key id and secret, a Slack URL that cannot be reached) against a
moto server and the kit's fake Lacework API, then sends the requests that
``tests/fuzzing.py`` generates with hypothesis: mutated Lacework bodies of every shape,
arbitrary JSON, deep nesting, UTF-8 with and without BOM, UTF-16/32, lone surrogates,
random bytes, sizes past the 1 MiB cap; right, wrong, empty and non-ASCII tokens in the
path or a header; the admin API's routes with generated ids, queries and bodies.

Reported: answers by status, every 5xx (must be 0), whether the worker stayed alive
(``/readyz``, ``lw_remediate_worker_restarts_total``, the process), every configured
secret found in the daemon's log or in the store files (must be 0), and whether a valid
alert sent afterwards is remediated. Exit status 0 only when all of that holds.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402
from tests.fuzzing import Request, requests, send  # noqa: E402

from lw_remediate.testing.fake_lacework import FakeLacework, load_fixture  # noqa: E402
from lw_remediate.testing.moto import MotoServer, free_port  # noqa: E402

ACCOUNT = "123456789012"


def generate(count: int, seed_value: int) -> list[Request]:
    """``count`` requests from the strategies (generation only: no shrinking)."""
    out: list[Request] = []

    @seed(seed_value)
    @settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(requests(max_depth=300_000, max_size=1_200_000))
    def collect(request: Request) -> None:
        out.append(request)

    while len(out) < count:  # hypothesis may stop a little early; top up with a new seed
        collect()
        seed_value += 1
        collect = seed(seed_value)(collect)
    return out[:count]


def toml(data: dict[str, Any], prefix: str = "") -> str:
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    out = "\n".join(lines) + "\n"
    for key, value in tables:
        name = f"{prefix}.{key}" if prefix else key
        out += f"\n[{name}]\n" + toml(value, name)
    return out


async def wait_ready(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {proc.returncode} before it was ready")
        try:
            async with http.get(f"{url}/readyz") as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the daemon did not become ready")


async def campaign(args: argparse.Namespace) -> int:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's request lines
    started = time.monotonic()
    batch = generate(args.requests, args.seed)
    generated_in = time.monotonic() - started
    mix = collections.Counter(r.kind.split("/")[0] for r in batch)

    moto = MotoServer()
    workdir = Path(tempfile.mkdtemp(prefix="lw-fuzz-"))
    port = free_port()
    webhook, admin_token = secrets.token_urlsafe(24), "adm-" + secrets.token_urlsafe(24)
    slack = f"https://127.0.0.1:9/services/T{secrets.token_hex(4)}/B{secrets.token_hex(4)}/{secrets.token_hex(12)}"
    async with FakeLacework() as lacework:
        config = {
            "server": {
                "host": "127.0.0.1",
                "port": port,
                "webhook_token": webhook,
                "admin_token": admin_token,
            },
            "lacework": {**lacework.config, "max_attempts": 2},
            "aws": {
                "region": "us-east-1",
                "endpoint_url": moto.endpoint_url,
                "role_name": "lw-remediate",
            },
            "store": {"path": str(workdir / "lw.sqlite3")},
            "remediation": {
                "default_mode": "auto",
                "enrich_max_attempts": 1,
                "enrich_retry_seconds": 0.05,
            },
            "notify": {"slack": {"webhook_url": slack, "timeout_seconds": 1}},
        }
        (workdir / "config.toml").write_text(toml(config))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LW_", "AWS_"))}
        env.update(
            AWS_ACCESS_KEY_ID="testing",
            AWS_SECRET_ACCESS_KEY="testing",
            AWS_DEFAULT_REGION="us-east-1",
        )
        log_path = workdir / "daemon.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(  # noqa: ASYNC220 - started once, before the load
                [
                    sys.executable,
                    "-c",
                    "from lw_remediate.cli import main; main()",
                    "--log-level",
                    "debug",
                    "serve",
                    "--config",
                    str(workdir / "config.toml"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
            )
        url = f"http://127.0.0.1:{port}"
        statuses: collections.Counter[int] = collections.Counter()
        server_errors: list[str] = []
        no_answer: list[str] = []
        try:
            async with aiohttp.ClientSession() as http:
                await wait_ready(http, url, proc)
                queue: asyncio.Queue[Request] = asyncio.Queue()
                for request in batch:
                    queue.put_nowait(request)

                async def worker() -> None:
                    while not queue.empty():
                        request = queue.get_nowait()
                        try:
                            status, body = await send(
                                "127.0.0.1", port, request, webhook=webhook, admin=admin_token
                            )
                        except (OSError, TimeoutError) as exc:
                            no_answer.append(f"{request.method} {request.kind}: {exc!r}")
                            continue
                        statuses[status] += 1
                        if status >= 500:
                            server_errors.append(
                                f"{status} {request.method} {request.path[:60]} {request.kind}: "
                                f"{body[:160]!r}"
                            )

                sent = time.monotonic()
                await asyncio.gather(*(worker() for _ in range(args.concurrency)))
                sent_in = time.monotonic() - sent

                # Whatever the fuzz added at run time must not hold back the valid alert.
                auth = {"Authorization": f"Bearer {admin_token}"}
                async with http.get(f"{url}/admin/exemptions", headers=auth) as resp:
                    exemptions = await resp.json()
                for ex in exemptions:
                    if ex.get("source") != "config":
                        await http.delete(
                            f"{url}/admin/exemptions/{ex['id']}?by=fuzz", headers=auth
                        )
                await http.post(f"{url}/admin/kill-switch/off", json={"by": "fuzz"}, headers=auth)

                s3 = moto.client("s3")
                s3.create_bucket(Bucket="after-the-fuzz")
                lacework.add_compliance_alert(
                    "990001",
                    "lacework-global-97",
                    [("arn:aws:s3:::after-the-fuzz", "us-east-1", ACCOUNT)],
                )
                body = dict(load_fixture("webhook_classic_compliance_lw_s3_16.json"))
                body.update(event_id="990001", rec_id="LW_S3_16")
                async with http.post(f"{url}/webhooks/lacework/{webhook}", json=body) as resp:
                    valid_status = resp.status
                remediated = False
                for _ in range(1200):
                    state = s3.get_bucket_versioning(Bucket="after-the-fuzz").get("Status")
                    if state == "Enabled":
                        remediated = True
                        break
                    await asyncio.sleep(0.1)
                async with http.get(f"{url}/readyz") as resp:
                    ready = resp.status, await resp.json()
                async with http.get(f"{url}/metrics") as resp:
                    metrics = await resp.text()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    moto.stop()

    def metric(name: str) -> str:
        return next(
            (line.split()[-1] for line in metrics.splitlines() if line.startswith(name)), "?"
        )

    secret_values = {
        "webhook token": webhook,
        "admin token": admin_token,
        "lacework key id": lacework.key_id,
        "lacework secret": lacework.secret,
        "slack url": slack,
    }
    files = [log_path, *sorted(workdir.glob("lw.sqlite3*"))]  # noqa: ASYNC240 - after the run
    found = []
    for path in files:
        data = path.read_bytes()
        for name, value in secret_values.items():
            for form in {value, json.dumps(value)[1:-1]}:
                if form.encode() in data:
                    found.append(f"{name} in {path.name}")
    log_text = log_path.read_text("utf-8", "replace")
    crashed = log_text.count('"worker_crashed"')
    report = {
        "requests": len(batch),
        "mix": dict(mix),
        "generated_in_s": round(generated_in, 1),
        "sent_in_s": round(sent_in, 1),
        "statuses": dict(sorted(statuses.items())),
        "5xx": len(server_errors),
        "no_answer": len(no_answer),
        "worker": {
            "readyz": ready[0],
            "checks": ready[1].get("checks"),
            "restarts": metric("lw_remediate_worker_restarts_total"),
            "worker_crashed_log_lines": crashed,
            "process_exit_on_sigterm": proc.returncode,
        },
        "inbox": {
            s: metric(f'lw_remediate_queue_depth{{state="{s}"}}')
            for s in ("queued", "processing", "done", "dead")
        },
        "secrets_found": found,
        "files_searched": [p.name for p in files],
        "valid_alert_after": {"status": valid_status, "remediated": remediated},
    }
    print(json.dumps(report, indent=2))
    for line in server_errors[:20] + no_answer[:20]:
        print("  ", line)
    ok = (
        not server_errors
        and not no_answer
        and ready[0] == 200
        and report["worker"]["restarts"] == "0.0"
        and not crashed
        and not found
        and valid_status == 202
        and remediated
    )
    print("PASS" if ok else "FAIL", f"(workdir {workdir})")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    sys.exit(asyncio.run(campaign(parser.parse_args())))


if __name__ == "__main__":
    main()
