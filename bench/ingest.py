"""Ingest benchmark: the durable daemon vs a bare aiohttp handler, same run, same machine.

    .venv/bin/python bench/ingest.py [--requests 4000] [--concurrency 64] [--rounds 3]

Each server runs in its own process; this process is the load generator. The bare
handler only parses JSON and answers 202. The daemon does everything it does for a
real webhook up to the answer: constant-time token check, body cap, JSON parse,
payload normalisation, the inbox commit to SQLite (WAL, synchronous=FULL) before
the 202, its metrics and its ``alert_received`` log line (at ``serve``'s default
level, info, through a pipe to a collector, as stderr goes to journald). Its worker
is off, so the figures are for ingest alone. Every request is a distinct classic
webhook (new event id), so each one is a real insert.

``daemon-postgresql`` is the same daemon on the PostgreSQL store: a throwaway local
cluster started from the installed binaries with fsync and synchronous commit on (the
durability of SQLite's FULL), or ``--store-url`` for a server of your own. Without
either that row is left out.

Besides requests per second, each row has the server's CPU time per request (user +
system over the measured requests; from /proc, so Linux only), in all and split into
its event loop's thread, its other threads (the SQLite store's) and the log collector
its stderr is piped to: on a shared machine it moves far less than throughput does. The
load generator's own CPU per request is printed beside them: where it is about one
core's worth at the rate reached, the generator, not the server, was the bound.
With ``TMPDIR`` on a tmpfs (``TMPDIR=/dev/shm``) the stores' files are in memory and
their fsyncs cost nothing: the difference from a run on disk is what durability costs.

The bare and SQLite servers take turns, ``--rounds`` times (bare, daemon-full,
daemon-normal, bare, ...), each round with fresh processes, and their figures are the
medians: on a shared machine the load changes from one minute to the next, and one pass
in a fixed order would charge that change to whichever server ran last. The PostgreSQL
row is one run, after the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

TOKEN = "bench-token-0123456789abcdef"


def serve(kind: str, port: int, workdir: str, store_url: str | None = None) -> None:
    if kind == "bare":

        async def handler(request: web.Request) -> web.Response:
            await request.json()
            return web.json_response({"status": "accepted"}, status=202)

        app = web.Application()
        app.router.add_post("/webhooks/lacework/{token}", handler)
    else:
        from lw_remediate.config import Config
        from lw_remediate.logs import configure_logging
        from lw_remediate.plugins import load_maps
        from lw_remediate.runtime import Runtime
        from lw_remediate.web.server import create_app

        # As `lw-remediate serve` runs by default: info, one JSON line per alert
        # (alert_received) on stderr, which is a pipe to a log collector as under
        # journald or a container runtime; here `cat` into a file in the work directory.
        Path(workdir).mkdir(parents=True, exist_ok=True)
        with open(Path(workdir) / f"{kind}.log", "ab") as sink:
            collector = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=sink)
        assert collector.stdin is not None
        configure_logging(
            level="info", json=True, stream=io.TextIOWrapper(collector.stdin, encoding="utf-8")
        )
        store: dict[str, str] = {"path": str(Path(workdir) / f"{kind}.sqlite3")}
        if kind == "daemon-postgresql":
            store["url"] = store_url or ""
        else:
            store["synchronous"] = kind.split("-")[1]
        config = Config.model_validate({"server": {"webhook_token": TOKEN}, "store": store})
        app = create_app(Runtime(config, registry=load_maps()), run_worker=False)
    web.run_app(app, host="127.0.0.1", port=port, access_log=None, print=None)


async def wait_ready(url: str) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(400):
            try:
                async with http.post(
                    url, json={"event_id": "warmup", "rec_id": "LW_S3_16"}
                ) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise RuntimeError(f"server at {url} did not start")


async def load(url: str, requests: int, concurrency: int, prefix: str) -> dict[str, float]:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(requests))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            for i in counter:
                body = {
                    "event_title": "New Violations",
                    "event_type": "Compliance",
                    "event_source": "AwsCompliance",
                    "event_id": f"{prefix}{i}",
                    "event_severity": "2",
                    "rec_id": "LW_S3_16",
                    "event_description": "AWS Account 123456789012 : LW_S3_16 bench",
                }
                start = time.perf_counter()
                async with http.post(
                    url, data=json.dumps(body), headers={"Content-Type": "application/json"}
                ) as resp:
                    await resp.read()
                    statuses[resp.status] = statuses.get(resp.status, 0) + 1
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "rps": requests / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "accepted": statuses.get(202, 0),
    }


def _cpu_seconds(stat_path: str) -> float:
    fields = Path(stat_path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_cpu(pid: int) -> dict[str, float]:
    """CPU seconds (user + system) so far of a server process: ``all`` its threads,
    its event ``loop`` (the main thread) alone, and its log ``collector`` (the ``cat``
    its stderr goes to, a child process). Figures that move far less with the
    machine's load than requests per second. Linux only (/proc); NaN elsewhere. The
    PostgreSQL server's own processes are not counted."""
    nan = float("nan")
    try:
        total = _cpu_seconds(f"/proc/{pid}/stat")
        loop = _cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
    except OSError:
        return {"all": nan, "loop": nan, "collector": nan}
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        collector = sum(_cpu_seconds(f"/proc/{child}/stat") for child in children)
    except OSError:
        collector = nan
    return {"all": total, "loop": loop, "collector": collector}


def run_one(
    kind: str, args: argparse.Namespace, workdir: str, store_url: str | None = None
) -> dict[str, float]:
    from lw_remediate.testing.moto import free_port

    port = free_port()
    command = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--workdir", workdir]
    proc = subprocess.Popen(command + (["--store-url", store_url] if store_url else []))
    try:
        url = f"http://127.0.0.1:{port}/webhooks/lacework/{TOKEN}"
        asyncio.run(wait_ready(url))
        asyncio.run(
            load(url, min(500, args.requests), args.concurrency, "warm-")
        )  # warm-up, not counted
        before = server_cpu(proc.pid)
        mine = os.times()
        result = asyncio.run(load(url, args.requests, args.concurrency, f"{kind}-"))
        spent = os.times()
        after = server_cpu(proc.pid)
        load_cpu = spent.user + spent.system - mine.user - mine.system
        result["generator_us"] = load_cpu * 1e6 / args.requests
        per_request = {k: (after[k] - before[k]) * 1e6 / args.requests for k in before}
        result["cpu_us"] = per_request["all"] + per_request["collector"]
        result["loop_us"] = per_request["loop"]
        result["threads_us"] = per_request["all"] - per_request["loop"]
        result["collector_us"] = per_request["collector"]
        return result
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--serve", choices=["bare", "daemon-full", "daemon-normal", "daemon-postgresql"]
    )
    parser.add_argument("--store-url", help="PostgreSQL URL (default: a throwaway local cluster)")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workdir")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workdir, args.store_url)
        return
    kinds = ("bare", "daemon-full", "daemon-normal")
    rounds: dict[str, list[dict[str, float]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory() as workdir:
        for n in range(args.rounds):
            for kind in kinds:
                rounds[kind].append(run_one(kind, args, str(Path(workdir) / f"{n}")))
        results = {
            kind: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
            for kind, runs in rounds.items()
        }
        postgres = postgresql_row(args, workdir)
        if postgres is not None:
            results["daemon-postgresql"] = postgres
            rounds["daemon-postgresql"] = [postgres]
    print(
        f"{args.requests} requests, concurrency {args.concurrency}, one machine, same run, "
        f"median of {args.rounds} round(s); load average {os.getloadavg()[0]:.2f}"
    )
    print(
        f"{'server':<18} {'accepted/s':>11} {'p50 ms':>8} {'p99 ms':>8} {'202s':>6}"
        f" {'CPU us/req':>10} {'loop':>5} {'thr.':>5} {'log':>5} {'gen.':>5}  per round"
    )
    for kind, r in results.items():
        each = " ".join(f"{x['rps']:.0f}" for x in rounds[kind])
        print(
            f"{kind:<18} {r['rps']:>11.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f}"
            f" {r['accepted']:>6.0f} {r['cpu_us']:>10.0f} {r['loop_us']:>5.0f}"
            f" {r['threads_us']:>5.0f} {r['collector_us']:>5.0f} {r['generator_us']:>5.0f}  {each}"
        )
    print(
        "CPU us/req: the server's, all its threads and its log collector; loop: its event"
        " loop's thread; thr.: its other threads (the SQLite store's); log: the collector"
        " its stderr is piped to; gen.: this process, the load generator (not the server's)"
    )
    for kind in ("daemon-full", "daemon-normal"):
        ratio = results[kind]["rps"] / results["bare"]["rps"]
        per_round = " ".join(
            f"{d['rps'] / b['rps']:.2f}" for d, b in zip(rounds[kind], rounds["bare"], strict=True)
        )
        print(
            f"ratio {kind}/bare throughput: {ratio:.2f}x (target >= 0.90x); per round {per_round}"
        )
    if "daemon-postgresql" in results:
        ratio = results["daemon-postgresql"]["rps"] / results["daemon-full"]["rps"]
        print(f"ratio daemon-postgresql/daemon-full throughput: {ratio:.2f}x (target >= 0.50x)")


def postgresql_row(args: argparse.Namespace, workdir: str) -> dict[str, float] | None:
    """The daemon on PostgreSQL: ``--store-url``, else a throwaway durable cluster."""
    if args.store_url:
        return run_one("daemon-postgresql", args, workdir, args.store_url)
    from lw_remediate.testing.postgres import PostgresServer, find_bindir

    bindir = find_bindir()
    if bindir is None:
        print("daemon-postgresql: left out (no PostgreSQL binaries; or pass --store-url)")
        return None
    server = PostgresServer(bindir, durable=True).start()
    try:
        url = asyncio.run(server.create_database())
        return run_one("daemon-postgresql", args, workdir, url)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
