"""End-to-end benchmark: `lw-remediate serve` vs a bare script doing the same outside calls.

    .venv/bin/python bench/e2e.py                         # short defaults for a 2-core box
    .venv/bin/python bench/e2e.py --alerts 1000 --buckets 200 --rate-seconds 10  # issue 14
    .venv/bin/python bench/e2e.py --soak 10000            # RSS after 10,000 more alerts
    .venv/bin/python bench/e2e.py --rounds 3              # the throughput pairs 3 times, medians

Four processes, as an operator runs it: this one (load generator, bare ceiling,
measurements), ``lw-remediate serve`` (SQLite store, synchronous=full), a moto server
that counts the requests it serves, and the kit's fake Lacework. Each alert is a
distinct classic webhook for LW_S3_16 (``s3.enable_versioning``); the fake Lacework
answers its details with one bucket of ``--buckets``.

Measured in one run:

* **throughput**, dry-run and auto: ``--alerts`` webhooks sent at once (``--senders``
  connections), alerts per second from the first send to the last action recorded;
* the **bare ceiling** of each mode: per alert one Lacework details GET, then the AWS
  calls the action makes (dry-run: the check's ``GetBucketVersioning``; auto: that, and
  on a bucket not yet versioned the re-read, ``PutBucketVersioning`` and the verify
  read), through one reused aiobotocore client and one HTTP session, with the daemon's
  ``[remediation] concurrency``;
* **latency** from the send of a webhook to its action's record in the store (the
  action's ``updated_at``), p50/p99, at fixed rates (``--rates``, dry-run);
* **CPU ms per action** (user+system time of the serve process / actions, over the
  throughput phase; everything it does, outside calls excluded since moto and the fake
  Lacework run elsewhere), **AWS requests per action** (counted at moto);
* **ready time** (start of the process to the first 200 from ``/readyz``), **RSS**
  idle (just after ready) and after every phase;
* the **PostgreSQL column**: the dry-run and auto bursts again with ``serve`` on the
  PostgreSQL store (a throwaway local cluster started from the installed binaries,
  fsync and synchronous commit on like SQLite's ``full``; or ``--store-url``, an empty
  database of your own), and their throughput against SQLite's (issue 16: no worse than
  half of SQLite on one instance). Without PostgreSQL the column is left out, and says
  why.

Each phase has its own buckets, so auto always starts from unversioned buckets.

``--rounds N`` runs the four throughput runs (dry-run and auto, daemon and bare) N times,
each round with fresh daemons and buckets, the bare script first in every other round;
the ratios and CPU figures reported are then the medians over the rounds, with each
round's beside them. On a shared machine the load changes from one minute to the
next, and one pass charges that change to whichever side ran last.
``--json`` prints one JSON document instead of the table (the smoke test reads it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

ACCOUNT = "123456789012"
REGION = "us-east-1"
TOKEN = "bench-e2e-token-0123456789abcdef"
KEY_ID = "BENCHE2E_0123456789ABCDEF"
SECRET = "_bench-e2e-secret-0123456789abcdef"
#: Alert ids: phase * PHASE + i; the alert names bucket ``e2e-<phase>-<i % buckets>``.
PHASE = 10_000_000
FINAL = ("planned", "remediated", "resolved", "failed", "refused", "unverified", "manual")


def bucket(phase: int, i: int, buckets: int) -> str:
    return f"e2e-{phase}-{i % buckets:05d}"


# -- the helper processes -------------------------------------------------------------


def serve_moto(port: int) -> None:
    """moto's WSGI app on 127.0.0.1:port, counting requests by operation; ``count`` on
    stdin answers the counts so far as JSON."""
    import io
    import logging
    from urllib.parse import parse_qs

    from moto.moto_server.threaded_moto_server import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()
    served: dict[str, int] = {}

    def operation(environ: dict[str, Any]) -> str:
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:
            return str(target)
        if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length)
            environ["wsgi.input"] = io.BytesIO(body)
            action = parse_qs(body.decode()).get("Action")
            if action:
                return action[0]
        query = environ.get("QUERY_STRING", "")
        sub = query.split("&", 1)[0].split("=", 1)[0]
        return f"{environ['REQUEST_METHOD']} s3 {sub}".rstrip()

    def counting(environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            name = operation(environ)
            with lock:
                served[name] = served.get(name, 0) + 1
        return app(environ, start_response)

    # werkzeug answers every request with "Connection: close": each AWS call of the
    # daemon and of the bare ceiling alike pays a TCP connect (AWS itself keeps them)
    server = make_server("127.0.0.1", port, counting, True, request_handler=MotoRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()

    def snapshot() -> str:
        with lock:
            return json.dumps(served)

    _answer_stdin(snapshot, server.shutdown)


def serve_lacework(port: int, buckets: int) -> None:
    """The kit's fake Lacework; any alert id is a compliance alert on one bucket."""
    from lw_remediate.testing.fake_lacework import FakeLacework, load_fixture

    template = load_fixture("api_v2_alert_details_compliance.json")["data"]
    template["policyId"] = "LW_S3_16"
    template["alertInfo"]["description"] = f"AWS Account {ACCOUNT} : LW_S3_16 bucket versioning"

    class Alerts(dict[str, Any]):
        def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
            if not key.isdigit():
                return default
            phase, i = divmod(int(key), PHASE)
            arn = f"arn:aws:s3:::{bucket(phase, i, buckets)}"
            resource = {"resource": arn, "resource_region": REGION, "account_id": ACCOUNT}
            return {
                **template,
                "alertId": int(key),
                "entityMap": {"Resource": [{"KEY": resource, "PROPS": {}}]},
            }

    async def main() -> None:
        fake = FakeLacework()
        fake.key_id, fake.secret = KEY_ID, SECRET
        fake.alerts = Alerts()
        await fake.start()
        # the fake keeps a request log; this process only reports its length
        port_note = fake.url.rsplit(":", 1)[1]
        print(port_note, flush=True)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        threading.Thread(
            target=_answer_stdin,
            args=(
                lambda: json.dumps({"requests": len(fake.requests)}),
                lambda: loop.call_soon_threadsafe(done.set),
            ),
            daemon=True,
        ).start()
        await done.wait()
        await fake.stop()

    del port  # the fake binds a free port itself and prints it
    asyncio.run(main())


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: v - before.get(k, 0) for k, v in sorted(after.items()) if v - before.get(k, 0)}


def _answer_stdin(count: Any, stop: Any) -> None:
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "count":
            print(count(), flush=True)
        else:
            break
    stop()


class Helper:
    """A helper process answering ``count`` on stdin."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.first = self._line()

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"helper {self.proc.args} exited {self.proc.wait()}")
        return line.strip()

    def count(self) -> dict[str, int]:
        """Requests served so far, by operation."""
        assert self.proc.stdin is not None
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        counts: dict[str, int] = json.loads(self._line())
        return counts

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# -- the daemon -----------------------------------------------------------------------


def proc_cpu(pid: int) -> float:
    """User + system seconds of a process (every thread)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def aws_env() -> dict[str, str]:
    # PYTHONDONTWRITEBYTECODE would make every start compile the sources again: an
    # installed daemon runs from bytecode (pip compiles it), so the bench does too
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LW_", "AWS_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    return env


@dataclass
class Daemon:
    mode: str
    port: int
    store: Path
    proc: subprocess.Popen[bytes]
    log: Path
    ready_s: float = 0.0
    #: The PostgreSQL store's URL (None: the SQLite file ``store``).
    store_url: str | None = None


def start_daemon(
    mode: str,
    workdir: Path,
    moto_url: str,
    lacework_url: str,
    args: argparse.Namespace,
    *,
    store_url: str | None = None,
) -> Daemon:
    from lw_remediate.testing.moto import free_port

    port = free_port()
    name = f"{mode}-postgresql" if store_url else mode
    store = workdir / f"{name}.sqlite3"
    config = workdir / f"{name}.toml"
    config.write_text(
        "\n".join(
            [
                "[server]",
                'host = "127.0.0.1"',
                f"port = {port}",
                f'webhook_token = "{TOKEN}"',
                "[lacework]",
                'account = "customerdemo"',
                f'api_url = "{lacework_url}"',
                f'key_id = "{KEY_ID}"',
                f'secret = "{SECRET}"',
                "[aws]",
                f'region = "{REGION}"',
                f'endpoint_url = "{moto_url}"',
                *([f'role_name = "{args.role}"'] if args.role else []),
                "[store]",
                f'path = "{store}"',
                *([f'url = "{store_url}"'] if store_url else []),
                "[remediation]",
                f'default_mode = "{mode}"',
                f"concurrency = {args.concurrency}",
            ]
        )
        + "\n"
    )
    log = workdir / f"{name}.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                (
                    "import cProfile; from lw_remediate.cli import main; "
                    f"cProfile.run('main()', {str(workdir / f'{name}.prof')!r})"
                    if args.profile
                    else "from lw_remediate.cli import main; main()"
                ),
                "serve",
                "--config",
                str(config),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=aws_env(),
        )
    daemon = Daemon(mode, port, store, proc, log, store_url=store_url)
    asyncio.run(_wait_ready(daemon))
    daemon.ready_s = time.perf_counter() - started
    return daemon


async def _wait_ready(daemon: Daemon) -> None:
    url = f"http://127.0.0.1:{daemon.port}/readyz"
    async with aiohttp.ClientSession() as http:
        while daemon.proc.poll() is None:
            try:
                async with http.get(url) as resp:
                    if resp.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.01)
    raise SystemExit(f"serve exited {daemon.proc.returncode}:\n{daemon.log.read_text()[-3000:]}")


def stop_daemon(daemon: Daemon, args: argparse.Namespace) -> None:
    daemon.proc.terminate()
    try:
        daemon.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        daemon.proc.kill()
        daemon.proc.wait()
    profile = daemon.log.with_suffix(".prof")
    if args.profile and profile.exists():
        Path(args.profile).mkdir(parents=True, exist_ok=True)
        shutil.copy(profile, Path(args.profile) / profile.name)


def webhook(alert_id: int) -> bytes:
    return json.dumps(
        {
            "event_title": "New Violations",
            "event_type": "Compliance",
            "event_source": "AwsCompliance",
            "event_id": str(alert_id),
            "event_severity": "4",
            "rec_id": "LW_S3_16",
            "event_description": f"AWS Account {ACCOUNT} : LW_S3_16 bucket versioning",
        }
    ).encode()


async def send_burst(daemon: Daemon, ids: list[int], senders: int) -> dict[int, float]:
    """Post every id as fast as ``senders`` connections go; the wall time of each send."""
    sent: dict[int, float] = {}
    queue = iter(ids)
    url = f"http://127.0.0.1:{daemon.port}/webhooks/lacework/{TOKEN}"
    headers = {"Content-Type": "application/json"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=senders)) as http:

        async def sender() -> None:
            for alert_id in queue:
                sent[alert_id] = time.time()
                async with http.post(url, data=webhook(alert_id), headers=headers) as resp:
                    if resp.status != 202:
                        raise SystemExit(f"webhook answered {resp.status}: {await resp.text()}")

        await asyncio.gather(*(sender() for _ in range(senders)))
    return sent


async def send_at_rate(daemon: Daemon, ids: list[int], rate: float) -> dict[int, float]:
    """Post one id every 1/rate seconds (each in its own task, so a slow answer does not
    delay the next send)."""
    sent: dict[int, float] = {}
    url = f"http://127.0.0.1:{daemon.port}/webhooks/lacework/{TOKEN}"
    headers = {"Content-Type": "application/json"}
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:

        async def one(alert_id: int) -> None:
            sent[alert_id] = time.time()
            async with http.post(url, data=webhook(alert_id), headers=headers) as resp:
                if resp.status != 202:
                    raise SystemExit(f"webhook answered {resp.status}: {await resp.text()}")

        start = loop.time()
        tasks = []
        for n, alert_id in enumerate(ids):
            delay = start + n / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(alert_id)))
        await asyncio.gather(*tasks)
    return sent


#: The finished actions of the alert ids in [lo, hi), and the first of them that ended dead.
RECORDED_SQL = (
    "SELECT i.event_id, a.status, a.updated_at FROM actions a JOIN inbox i"
    " ON a.inbox_id = i.id WHERE CAST(i.event_id AS BIGINT) >= {0}"
    " AND CAST(i.event_id AS BIGINT) < {1} AND a.status IN ({2})"
)
DEAD_SQL = (
    "SELECT event_id, last_error FROM inbox WHERE state = 'dead'"
    " AND CAST(event_id AS BIGINT) >= {0} AND CAST(event_id AS BIGINT) < {1} LIMIT 1"
)


async def recorded(daemon: Daemon, lo: int, hi: int) -> dict[int, tuple[str, float]]:
    """alert id -> (status, updated_at) of each finished action of the ids in [lo, hi)."""
    if daemon.store_url is None:
        return recorded_sqlite(daemon.store, lo, hi)
    import asyncpg

    conn = await asyncpg.connect(daemon.store_url)
    try:
        marks = ",".join(f"${3 + n}" for n in range(len(FINAL)))
        rows = await conn.fetch(RECORDED_SQL.format("$1", "$2", marks), lo, hi, *FINAL)
        dead = await conn.fetchrow(DEAD_SQL.format("$1", "$2"), lo, hi)
    finally:
        await conn.close()
    if dead:
        raise SystemExit(f"alert {dead[0]} ended dead: {dead[1]}")
    return {int(r[0]): (r[1], r[2]) for r in rows}


def recorded_sqlite(store: Path, lo: int, hi: int) -> dict[int, tuple[str, float]]:
    conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        marks = ",".join("?" * len(FINAL))
        rows = conn.execute(RECORDED_SQL.format("?", "?", marks), (lo, hi, *FINAL)).fetchall()
        dead = conn.execute(DEAD_SQL.format("?", "?"), (lo, hi)).fetchone()
    finally:
        conn.close()
    if dead:
        raise SystemExit(f"alert {dead[0]} ended dead: {dead[1]}")
    return {int(e): (s, u) for e, s, u in rows}


async def wait_recorded(
    daemon: Daemon, lo: int, hi: int, timeout: float
) -> dict[int, tuple[str, float]]:
    deadline = time.monotonic() + timeout
    while True:
        done = await recorded(daemon, lo, hi)
        if len(done) >= hi - lo:
            return done
        if daemon.proc.poll() is not None:
            raise SystemExit(f"serve exited:\n{daemon.log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{len(done)} of {hi - lo} actions recorded after {timeout:.0f} s; "
                f"log: {daemon.log}"
            )
        await asyncio.sleep(0.05)


@dataclass
class Phase:
    alerts: int
    seconds: float
    cpu_s: float
    aws_requests: dict[str, int]
    lacework_requests: int
    statuses: dict[str, int]
    latencies: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.alerts / self.seconds

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "alerts": self.alerts,
            "seconds": round(self.seconds, 3),
            "alerts_per_s": round(self.rate, 1),
            "cpu_ms_per_action": round(1000 * self.cpu_s / self.alerts, 2),
            "aws_requests_per_action": round(sum(self.aws_requests.values()) / self.alerts, 2),
            "aws_requests": self.aws_requests,
            "lacework_requests_per_action": round(self.lacework_requests / self.alerts, 2),
            "statuses": self.statuses,
        }
        if self.latencies:
            ordered = sorted(self.latencies)
            out["p50_ms"] = round(1000 * statistics.median(ordered), 1)
            out["p99_ms"] = round(1000 * ordered[max(0, int(len(ordered) * 0.99) - 1)], 1)
            out["max_ms"] = round(1000 * ordered[-1], 1)
        return out


async def daemon_phase(
    daemon: Daemon,
    moto: Helper,
    lacework: Helper,
    phase: int,
    count: int,
    *,
    senders: int,
    rate: float | None = None,
) -> Phase:
    ids = [phase * PHASE + i for i in range(count)]
    cpu0, aws0, lw0 = proc_cpu(daemon.proc.pid), moto.count(), lacework.count()
    first = time.time()
    if rate is None:
        sent = await send_burst(daemon, ids, senders)
    else:
        sent = await send_at_rate(daemon, ids, rate)
    done = await wait_recorded(daemon, ids[0], ids[-1] + 1, timeout=max(120.0, count / 2))
    cpu = proc_cpu(daemon.proc.pid) - cpu0
    last = max(updated for _, updated in done.values())
    statuses: dict[str, int] = {}
    for status, _ in done.values():
        statuses[status] = statuses.get(status, 0) + 1
    return Phase(
        alerts=count,
        seconds=last - first,
        cpu_s=cpu,
        aws_requests=delta(moto.count(), aws0),
        lacework_requests=sum(delta(lacework.count(), lw0).values()),
        statuses=statuses,
        latencies=[updated - sent[i] for i, (_, updated) in done.items()] if rate else [],
    )


# -- the bare ceiling -----------------------------------------------------------------


async def bare_phase(
    moto: Helper,
    lacework: Helper,
    moto_url: str,
    lacework_url: str,
    phase: int,
    args: Any,
    mode: str,
) -> Phase:
    """The same outside calls per alert, with one reused client and no daemon."""
    import aioboto3
    from aiobotocore.config import AioConfig

    ids = iter(phase * PHASE + i for i in range(args.alerts))
    session = aioboto3.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )
    config = AioConfig(s3={"addressing_style": "path"}, max_pool_connections=args.concurrency)
    cpu0 = time.process_time()
    aws0, lw0 = moto.count(), lacework.count()
    statuses: dict[str, int] = {}
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as http,
        session.client("s3", endpoint_url=moto_url, config=config) as s3,
    ):
        async with http.post(
            f"{lacework_url}/api/v2/access/tokens",
            json={"keyId": KEY_ID, "expiryTime": 3600},
            headers={"X-LW-UAKS": SECRET},
        ) as resp:
            token = (await resp.json())["token"]
        auth = {"Authorization": f"Bearer {token}"}

        async def status_of(name: str) -> str | None:
            got = await s3.get_bucket_versioning(Bucket=name, ExpectedBucketOwner=ACCOUNT)
            return got.get("Status")

        locks: dict[str, asyncio.Lock] = {}

        async def worker() -> None:
            for alert_id in ids:
                async with http.get(
                    f"{lacework_url}/api/v2/Alerts/{alert_id}",
                    params={"scope": "Details"},
                    headers=auth,
                ) as resp:
                    details = (await resp.json())["data"]
                arn = details["entityMap"]["Resource"][0]["KEY"]["resource"]
                name = arn.rsplit(":", 1)[1]
                # one action per bucket at a time, as the daemon's per-resource lock does
                async with locks.setdefault(name, asyncio.Lock()):
                    await one(name)

        async def one(name: str) -> None:
            status = await status_of(name)
            if mode == "dry-run" or status == "Enabled":
                outcome = "planned" if mode == "dry-run" else "resolved"
            else:
                await status_of(name)  # re-read before the write
                await s3.put_bucket_versioning(
                    Bucket=name,
                    ExpectedBucketOwner=ACCOUNT,
                    VersioningConfiguration={"Status": "Enabled"},
                )
                outcome = "remediated" if await status_of(name) == "Enabled" else "failed"
            statuses[outcome] = statuses.get(outcome, 0) + 1

        await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return Phase(
        alerts=args.alerts,
        seconds=time.perf_counter() - started,
        cpu_s=time.process_time() - cpu0,
        aws_requests=delta(moto.count(), aws0),
        lacework_requests=sum(delta(lacework.count(), lw0).values()),
        statuses=statuses,
    )


# -- the run --------------------------------------------------------------------------


def make_buckets(moto_url: str, phases: list[int], buckets: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import boto3
    import botocore.config

    s3 = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=botocore.config.Config(s3={"addressing_style": "path"}),
    )
    names = [bucket(p, j, buckets) for p in phases for j in range(buckets)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: s3.create_bucket(Bucket=n), names))


@contextmanager
def helpers(buckets: int) -> Iterator[tuple[Helper, Helper, str, str]]:
    from lw_remediate.testing.moto import free_port

    moto_port = free_port()
    moto = Helper("--serve-moto", str(moto_port))
    lacework = Helper("--serve-lacework", "0", "--buckets", str(buckets))
    try:
        lacework_url = f"http://127.0.0.1:{lacework.first}"
        lacework._line()  # "ready"
        yield moto, lacework, f"http://127.0.0.1:{moto_port}", lacework_url
    finally:
        lacework.stop()
        moto.stop()


@contextmanager
def postgresql_store(args: argparse.Namespace) -> Iterator[tuple[str | None, str]]:
    """(the URL of an empty database, "") for the PostgreSQL column, or (None, why it
    is left out): ``--store-url``, else a throwaway durable cluster."""
    if args.no_postgresql:
        yield None, "left out (--no-postgresql)"
        return
    if args.store_url:
        yield args.store_url, ""
        return
    from lw_remediate.testing.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        yield None, "left out: no PostgreSQL binaries (install postgresql, or pass --store-url)"
        return
    server = PostgresServer(bindir, durable=True).start()
    try:
        yield asyncio.run(server.create_database()), ""
    finally:
        server.stop()


def postgresql_column(
    args: argparse.Namespace,
    workdir: Path,
    outside: tuple[Helper, Helper, str, str],
    sqlite: dict[str, Any],
) -> dict[str, Any]:
    """The dry-run and auto bursts (phases 5 and 6) with serve on PostgreSQL."""
    moto, lacework, moto_url, lacework_url = outside
    with postgresql_store(args) as (url, why):
        if url is None:
            return {"left_out": why}
        column: dict[str, Any] = {}
        for phase, mode, key in ((5, "dry-run", "dry_run"), (6, "auto", "auto")):
            daemon = start_daemon(mode, workdir, moto_url, lacework_url, args, store_url=url)
            try:
                column[f"ready_s_{key}"] = round(daemon.ready_s, 3)
                column[key] = asyncio.run(
                    daemon_phase(daemon, moto, lacework, phase, args.alerts, senders=args.senders)
                ).summary()
            finally:
                stop_daemon(daemon, args)
    column["vs_sqlite"] = {
        key: round(column[key]["alerts_per_s"] / sqlite[key]["alerts_per_s"], 2)
        for key in ("dry_run", "auto")
    }
    return column


#: The four throughput runs of a round.
PAIRS = ("dry_run", "bare_dry_run", "auto", "bare_auto")
#: Phase ids of the extra rounds: 100 + 10 * round + 1..4 (as phases 1..4 of round 0).
ROUND_PHASE = 100


def round_figures(runs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """A round's ratios (daemon / bare throughput, same round) and the daemon's own CPU:
    its process CPU per action less what the same outside calls cost the bare script's
    process (the client side of the HTTP calls)."""
    return {
        "ratios": {
            f"{mode}_vs_bare": round(
                runs[mode]["alerts_per_s"] / runs[f"bare_{mode}"]["alerts_per_s"], 2
            )
            for mode in ("dry_run", "auto")
        },
        "own_cpu_ms_per_action": {
            mode: round(
                runs[mode]["cpu_ms_per_action"] - runs[f"bare_{mode}"]["cpu_ms_per_action"], 2
            )
            for mode in ("dry_run", "auto")
        },
        "alerts_per_s": {key: runs[key]["alerts_per_s"] for key in PAIRS},
    }


def another_round(
    n: int, workdir: Path, outside: tuple[Helper, Helper, str, str], args: argparse.Namespace
) -> dict[str, dict[str, Any]]:
    """Round ``n`` > 0 of the four throughput runs, fresh daemons and buckets; the bare
    script goes first in odd rounds."""
    moto, lacework, moto_url, lacework_url = outside
    base = ROUND_PHASE + 10 * n
    (workdir / f"round{n}").mkdir(exist_ok=True)
    make_buckets(moto_url, [base + k for k in (1, 2, 3, 4)], args.buckets)
    runs: dict[str, dict[str, Any]] = {}
    for offset, mode, key in ((0, "dry-run", "dry_run"), (2, "auto", "auto")):

        def daemon_run(offset: int = offset, mode: str = mode, key: str = key) -> None:
            daemon = start_daemon(mode, workdir / f"round{n}", moto_url, lacework_url, args)
            try:
                runs[key] = asyncio.run(
                    daemon_phase(
                        daemon, moto, lacework, base + 1 + offset, args.alerts, senders=args.senders
                    )
                ).summary()
            finally:
                stop_daemon(daemon, args)

        def bare_run(offset: int = offset, mode: str = mode, key: str = key) -> None:
            runs[f"bare_{key}"] = asyncio.run(
                bare_phase(moto, lacework, moto_url, lacework_url, base + 2 + offset, args, mode)
            ).summary()

        for step in (bare_run, daemon_run) if n % 2 else (daemon_run, bare_run):
            step()
    return runs


def machine() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    # phases: 1 dry-run daemon, 2 dry-run bare, 3 auto daemon, 4 auto bare,
    # 5 dry-run and 6 auto daemon on PostgreSQL, 10+k the k-th fixed rate (dry-run), 9 the soak
    rate_phases = [10 + k for k in range(len(args.rates))]
    result: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "alerts": args.alerts,
            "buckets": args.buckets,
            "concurrency": args.concurrency,
            "senders": args.senders,
            "rates": args.rates,
            "rate_seconds": args.rate_seconds,
            "soak": args.soak,
            "rounds": args.rounds,
        },
    }
    with (
        tempfile.TemporaryDirectory(prefix="lw-bench-e2e-") as tmp,
        helpers(args.buckets) as (moto, lacework, moto_url, lacework_url),
    ):
        workdir = Path(tmp)
        make_buckets(moto_url, [1, 2, 3, 4, 5, 6, 9, *rate_phases], args.buckets)

        # the bytecode an installed daemon would have (not timed)
        subprocess.run(
            [sys.executable, "-c", "from lw_remediate.plugins import load_maps; load_maps()"],
            env=aws_env(),
            capture_output=True,
            check=True,
        )
        dry = start_daemon("dry-run", workdir, moto_url, lacework_url, args)
        try:
            result["ready_s"] = round(dry.ready_s, 3)
            time.sleep(1.0)  # idle: what the process holds once it settled
            result["rss_idle_mb"] = round(proc_rss_mb(dry.proc.pid), 1)
            burst = asyncio.run(
                daemon_phase(dry, moto, lacework, 1, args.alerts, senders=args.senders)
            )
            result["dry_run"] = burst.summary()
            latency: dict[str, Any] = {}
            for phase, rate in zip(rate_phases, args.rates, strict=True):
                count = max(1, round(rate * args.rate_seconds))
                fixed = asyncio.run(
                    daemon_phase(dry, moto, lacework, phase, count, senders=1, rate=rate)
                )
                latency[f"{rate:g}"] = fixed.summary()
            result["latency"] = latency
            total = args.alerts + sum(v["alerts"] for v in latency.values())
            if args.soak:
                asyncio.run(daemon_phase(dry, moto, lacework, 9, args.soak, senders=args.senders))
                total += args.soak
            result["rss_after_load_mb"] = round(proc_rss_mb(dry.proc.pid), 1)
            result["alerts_before_rss"] = total
        finally:
            stop_daemon(dry, args)
        result["bare_dry_run"] = asyncio.run(
            bare_phase(moto, lacework, moto_url, lacework_url, 2, args, "dry-run")
        ).summary()

        auto = start_daemon("auto", workdir, moto_url, lacework_url, args)
        result["ready_s_auto"] = round(auto.ready_s, 3)
        try:
            result["auto"] = asyncio.run(
                daemon_phase(auto, moto, lacework, 3, args.alerts, senders=args.senders)
            ).summary()
        finally:
            stop_daemon(auto, args)
        result["bare_auto"] = asyncio.run(
            bare_phase(moto, lacework, moto_url, lacework_url, 4, args, "auto")
        ).summary()
        rounds = [{key: result[key] for key in PAIRS}]
        for n in range(1, args.rounds):
            outside = (moto, lacework, moto_url, lacework_url)
            rounds.append(another_round(n, workdir, outside, args))
        result["postgresql"] = postgresql_column(
            args, workdir, (moto, lacework, moto_url, lacework_url), result
        )
    per_round = [round_figures(r) for r in rounds]
    result["rounds"] = per_round
    # medians over the rounds (one round: that round's figures)
    result["ratios"] = {
        key: round(statistics.median(r["ratios"][key] for r in per_round), 2)
        for key in ("dry_run_vs_bare", "auto_vs_bare")
    }
    result["own_cpu_ms_per_action"] = {
        key: round(statistics.median(r["own_cpu_ms_per_action"][key] for r in per_round), 2)
        for key in ("dry_run", "auto")
    }
    result["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return result


def print_table(r: dict[str, Any]) -> None:
    m, s = r["machine"], r["settings"]
    print(
        f"{m['cpus']} cpus ({m['cpu_model']}), python {m['python']}, load average "
        f"{m['load_average']} before, {m['load_average_after']} after"
    )
    print(
        f"{s['alerts']} alerts on {s['buckets']} buckets, [remediation] concurrency "
        f"{s['concurrency']}, {s['senders']} senders"
    )
    print(f"{'run':<16} {'alerts/s':>9} {'cpu ms/action':>14} {'AWS req/action':>15}  statuses")
    for key in ("dry_run", "bare_dry_run", "auto", "bare_auto"):
        v = r[key]
        print(
            f"{key:<16} {v['alerts_per_s']:>9.1f} {v['cpu_ms_per_action']:>14.2f} "
            f"{v['aws_requests_per_action']:>15.2f}  {v['statuses']}"
        )
    for rate, v in r["latency"].items():
        print(
            f"dry-run at {rate}/s: {v['alerts']} alerts, receipt -> recorded p50 {v['p50_ms']} ms, "
            f"p99 {v['p99_ms']} ms, max {v['max_ms']} ms"
        )
    print(
        f"ready {r['ready_s']} s (auto daemon {r['ready_s_auto']} s); RSS idle {r['rss_idle_mb']} MB, after "
        f"{r['alerts_before_rss']} alerts {r['rss_after_load_mb']} MB"
    )
    own = r["own_cpu_ms_per_action"]
    print(
        f"daemon CPU per action beyond the bare script's (outside calls excluded): "
        f"dry-run {own['dry_run']} ms, auto {own['auto']} ms"
        + (f" (medians of {len(r['rounds'])} rounds)" if len(r["rounds"]) > 1 else "")
    )
    q = r["ratios"]
    print(
        f"ratio daemon/bare, same run: dry-run {q['dry_run_vs_bare']}x, auto {q['auto_vs_bare']}x"
        + (f" (medians of {len(r['rounds'])} rounds)" if len(r["rounds"]) > 1 else "")
    )
    if len(r["rounds"]) > 1:
        for n, rnd in enumerate(r["rounds"]):
            a, rq, rc = rnd["alerts_per_s"], rnd["ratios"], rnd["own_cpu_ms_per_action"]
            print(
                f"  round {n}: dry-run {a['dry_run']:.1f} vs {a['bare_dry_run']:.1f}/s "
                f"{rq['dry_run_vs_bare']}x, auto {a['auto']:.1f} vs {a['bare_auto']:.1f}/s "
                f"{rq['auto_vs_bare']}x; own CPU {rc['dry_run']} / {rc['auto']} ms"
            )
    pg = r["postgresql"]
    if "left_out" in pg:
        print(f"PostgreSQL store: {pg['left_out']}")
        return
    for key in ("dry_run", "auto"):
        v = pg[key]
        print(
            f"{'pg ' + key:<16} {v['alerts_per_s']:>9.1f} {v['cpu_ms_per_action']:>14.2f} "
            f"{v['aws_requests_per_action']:>15.2f}  {v['statuses']}"
        )
    print(
        f"ratio PostgreSQL/SQLite store, same run: dry-run {pg['vs_sqlite']['dry_run']}x, "
        f"auto {pg['vs_sqlite']['auto']}x (target >= 0.5x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--alerts", type=int, default=300, help="alerts per throughput run")
    parser.add_argument("--buckets", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=8, help="[remediation] concurrency")
    parser.add_argument("--senders", type=int, default=16, help="webhook connections of a burst")
    parser.add_argument("--rates", type=float, nargs="*", default=[20.0, 100.0])
    parser.add_argument("--rate-seconds", type=float, default=5.0)
    parser.add_argument("--soak", type=int, default=0, help="extra alerts before RSS after load")
    parser.add_argument(
        "--role",
        help="[aws] role_name for the daemons: each action's session is the role assumed "
        "with the remediation's declared policy (cached per account and policy), as in "
        "production; the bare script keeps the default credentials",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="times to run the throughput pairs (medians)"
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument(
        "--profile",
        metavar="DIR",
        help="run serve under cProfile; <mode>.prof files are copied to DIR (slower)",
    )
    parser.add_argument(
        "--store-url",
        metavar="URL",
        help="the PostgreSQL column on this empty database instead of a throwaway cluster",
    )
    parser.add_argument("--no-postgresql", action="store_true", help="leave that column out")
    parser.add_argument("--serve-moto", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve-lacework", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_moto is not None:
        serve_moto(args.serve_moto)
        return
    if args.serve_lacework is not None:
        serve_lacework(args.serve_lacework, args.buckets)
        return
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
