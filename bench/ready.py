"""Ready-time benchmark: process start to the first 200 from ``/readyz``, several runs.

    .venv/bin/python bench/ready.py [--runs 7]

Each run starts ``lw-remediate serve`` as its own process (``python -c "from
lw_remediate.cli import main; main()" serve --config ...``, as ``bench/e2e.py`` starts
it) on a fresh SQLite store, against a fake Lacework in this process, and polls
``/readyz`` every 10 ms from the moment the process is started until it answers 200;
then stops the daemon (SIGTERM) and waits for it to exit. It prints every run, the
median and the spread, and the machine's load average before and after (the figure
is wall time on a shared machine: run it more than once).

The same measurement as ``bench/e2e.py``'s "ready" figure, without the load phases
around it, so that a change to start-up can be measured on its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from e2e import aws_env  # bench/ is this script's directory: the same environment

TOKEN = "bench-webhook-token-0123456789abcdef"


def write_config(workdir: Path, run: int, port: int, lacework: dict[str, str]) -> Path:
    config = workdir / f"ready-{run}.toml"
    config.write_text(
        "\n".join(
            [
                "[server]",
                'host = "127.0.0.1"',
                f"port = {port}",
                f'webhook_token = "{TOKEN}"',
                "[lacework]",
                *(f'{k} = "{v}"' for k, v in lacework.items()),
                "[aws]",
                'region = "us-east-1"',
                "[store]",
                f'path = "{workdir / f"ready-{run}.sqlite3"}"',
            ]
        )
        + "\n"
    )
    return config


async def one_run(workdir: Path, run: int, lacework: dict[str, str]) -> float:
    from lw_remediate.testing.moto import free_port

    port = free_port()
    config = write_config(workdir, run, port, lacework)
    log_path = workdir / f"ready-{run}.log"
    url = f"http://127.0.0.1:{port}/readyz"
    with log_path.open("wb") as log:
        async with aiohttp.ClientSession() as http:
            started = time.perf_counter()
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from lw_remediate.cli import main; main()",
                "serve",
                "--config",
                str(config),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=aws_env(),
            )
            try:
                while proc.returncode is None:
                    try:
                        async with http.get(url) as resp:
                            if resp.status == 200:
                                return time.perf_counter() - started
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.01)
                text = log_path.read_text()[-3000:]
                raise SystemExit(f"serve exited {proc.returncode}:\n{text}")
            finally:
                if proc.returncode is None:
                    proc.send_signal(signal.SIGTERM)
                await asyncio.wait_for(proc.wait(), timeout=60)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    from lw_remediate.testing.fake_lacework import FakeLacework

    print(f"load before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}", flush=True)
    times: list[float] = []
    async with FakeLacework() as fake:
        with tempfile.TemporaryDirectory(prefix="lw-bench-ready-") as tmp:
            for run in range(args.runs):
                seconds = await one_run(Path(tmp), run, fake.config)
                times.append(seconds)
                print(f"run {run + 1}: ready after {seconds:.3f} s", flush=True)
    print(
        f"median {statistics.median(times):.3f} s, min {min(times):.3f} s, "
        f"max {max(times):.3f} s over {len(times)} runs; "
        f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus"
    )


if __name__ == "__main__":
    asyncio.run(main())
