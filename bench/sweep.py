"""Sweep benchmark: `lw-remediate sweep` vs Cloud Custodian, same moto server, same run.

    .venv/bin/python bench/sweep.py [--n 100 1000] [--rate 0] [--concurrency 8]

For each N, in one moto server (this process, 127.0.0.1):

1. N buckets with a ``public-read`` ACL and a fake Lacework ``AWS_CIS_S3`` report that
   lists them under LW_S3_1; then ``lw-remediate sweep --account 123456789012 --rule
   LW_S3_1 --mode auto --json`` as a subprocess (a fresh store, the default
   ``synchronous = "full"``; the ``s3.remove_public_acl_grants`` remediation: check,
   plan, apply, verify, everything recorded).
2. moto reset, the same N public buckets again; then ``custodian run`` of a policy with
   the ``global-grants`` filter and the ``delete-global-grants`` action (AllUsers and
   AuthenticatedUsers) as a subprocess, pointed at moto with ``AWS_ENDPOINT_URL``.

Each wall time runs from starting the process to its exit (interpreter start-up
included for both); afterwards every bucket must have lost its AllUsers grant. The
sweep is measured unpaced by default (``--rate 0``): Custodian has no pacing either.
Custodian (pinned) is installed on first use in its own virtualenv, ``.venv/c7n``: it
needs a newer botocore than the one aiobotocore pins in the project's ``.venv``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
C7N_VERSION = "0.9.53"
C7N_VENV = ROOT / ".venv" / "c7n"
CUSTODIAN = C7N_VENV / "bin" / "custodian"
ACCOUNT = "123456789012"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
POLICY = """\
policies:
  - name: s3-delete-global-grants
    resource: aws.s3
    filters:
      - type: global-grants
    actions:
      - type: delete-global-grants
        grantees:
          - "http://acs.amazonaws.com/groups/global/AllUsers"
          - "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
"""


def ensure_custodian() -> str:
    if not CUSTODIAN.exists():
        print(f"installing c7n=={C7N_VERSION} into {C7N_VENV} (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(C7N_VENV)], check=True)
        subprocess.run(
            [str(C7N_VENV / "bin" / "pip"), "install", "--quiet", f"c7n=={C7N_VERSION}"],
            check=True,
        )
    out = subprocess.run([str(CUSTODIAN), "version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def bucket_names(n: int) -> list[str]:
    return [f"bench-public-{i:05d}" for i in range(n)]


def make_public_buckets(moto, names: list[str]) -> None:
    s3 = moto.client("s3")

    def one(name: str) -> None:
        s3.create_bucket(Bucket=name, ACL="public-read")

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, names))


def still_public(moto, names: list[str]) -> int:
    s3 = moto.client("s3")

    def one(name: str) -> bool:
        grants = s3.get_bucket_acl(Bucket=name)["Grants"]
        return any(g["Grantee"].get("URI") == ALL_USERS for g in grants)

    with ThreadPoolExecutor(16) as pool:
        return sum(pool.map(one, names))


def report(names: list[str]) -> dict:
    from lw_remediate.testing.fake_lacework import load_fixture

    base = load_fixture("api_v2_report_aws_cis_s3_legacy.json")["data"][0]
    rec = next(r for r in base["recommendations"] if r["REC_ID"] == "LW_S3_1")
    rec.update(
        SUPPRESSIONS=[],
        VIOLATIONS=[
            {
                "resource": f"arn:aws:s3:::{n}",
                "region": "us-east-1",
                "reasons": ["ReadAccessGranted"],
            }
            for n in names
        ],
    )
    base["recommendations"] = [rec]
    base["reportTime"] = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return base


def sweep_config(workdir: Path, moto_url: str, lacework: dict, args, n: int) -> Path:
    lines = [
        "[lacework]",
        *(f'{k} = "{v}"' for k, v in lacework.items()),
        "[aws]",
        'region = "us-east-1"',
        f'endpoint_url = "{moto_url}"',
        "[store]",
        f'path = "{workdir / f"sweep-{n}.sqlite3"}"',
        "[remediation]",
        f"concurrency = {args.concurrency}",
        "[sweep]",
        f"concurrency_per_region = {args.concurrency}",
        f"rate_per_region = {args.rate}",
        "progress_seconds = 3600",
    ]
    path = workdir / f"sweep-{n}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def aws_env(moto_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LW_", "AWS_"))}
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    if moto_url:
        env["AWS_ENDPOINT_URL"] = moto_url
    return env


class RequestCounter(logging.Handler):
    """Counts the requests moto's werkzeug server logs (one record per request)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "HTTP/1.1" in record.getMessage():
            self.count += 1


REQUESTS = RequestCounter()


@dataclass
class Run:
    seconds: float
    cpu: float  # user + system seconds of the tool's process
    requests: int  # requests moto served while it ran


async def timed(*cmd: str, env: dict[str, str]) -> tuple[Run, int, bytes, bytes]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    served = REQUESTS.count
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await proc.communicate()
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(seconds, cpu, REQUESTS.count - served), proc.returncode or 0, out, err


async def run_sweep(moto, fake, workdir: Path, args, names: list[str]) -> Run:
    moto.reset()
    make_public_buckets(moto, names)
    fake.add_report(ACCOUNT, "AWS_CIS_S3", report(names))
    config = sweep_config(workdir, moto.endpoint_url, fake.config, args, len(names))
    run, code, out, err = await timed(
        sys.executable,
        "-c",
        "from lw_remediate.cli import main; main()",
        "sweep",
        "--config",
        str(config),
        "--account",
        ACCOUNT,
        "--rule",
        "LW_S3_1",
        "--report-type",
        "AWS_CIS_S3",
        "--mode",
        "auto",
        "--json",
        env=aws_env(),
    )
    if code != 0:
        raise SystemExit(f"sweep exited {code}:\n{err.decode()[-3000:]}")
    statuses = json.loads(out)["sweep"]["statuses"]
    if statuses != {"remediated": len(names)}:
        raise SystemExit(f"sweep did not remediate every bucket: {statuses}")
    left = still_public(moto, names)
    if left:
        raise SystemExit(f"sweep left {left} bucket(s) public")
    return run


async def run_custodian(moto, workdir: Path, names: list[str]) -> Run:
    moto.reset()
    make_public_buckets(moto, names)
    policy = workdir / "policy.yml"
    policy.write_text(POLICY)
    out_dir = workdir / f"c7n-{len(names)}"
    run, code, _, err = await timed(
        str(CUSTODIAN),
        "run",
        "--cache-period",
        "0",  # no resource cache: each run lists the buckets it is given
        "-s",
        str(out_dir),
        "--region",
        "us-east-1",
        str(policy),
        env=aws_env(moto.endpoint_url),
    )
    if code != 0:
        raise SystemExit(f"custodian exited {code}:\n{err.decode()[-3000:]}")
    left = still_public(moto, names)
    if left:
        raise SystemExit(f"custodian left {left} bucket(s) public")
    return run


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[100, 1000])
    parser.add_argument(
        "--rate", type=float, default=0.0, help="[sweep] rate_per_region (0: unpaced)"
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=8,
        help="[sweep] concurrency_per_region and [remediation] concurrency",
    )
    args = parser.parse_args()
    version = ensure_custodian()

    from lw_remediate.testing.fake_lacework import FakeLacework
    from lw_remediate.testing.moto import MotoServer

    werkzeug = logging.getLogger("werkzeug")
    werkzeug.setLevel(logging.INFO)
    werkzeug.propagate = False
    werkzeug.handlers[:] = [REQUESTS]
    moto = MotoServer()
    results: dict[int, tuple[Run, Run]] = {}
    print(
        f"moto {moto.endpoint_url}; c7n {version}; sweep concurrency {args.concurrency}, "
        f"rate {args.rate or 'unpaced'}; python {sys.version.split()[0]}; {os.cpu_count()} cpus"
    )
    try:
        async with FakeLacework() as fake:
            with tempfile.TemporaryDirectory(prefix="lw-bench-sweep-") as tmp:
                workdir = Path(tmp)
                for n in args.n:
                    names = bucket_names(n)
                    sweep = await run_sweep(moto, fake, workdir, args, names)
                    c7n = await run_custodian(moto, workdir, names)
                    results[n] = (sweep, c7n)
                    print(
                        f"N={n:>5}: lw-remediate sweep {sweep.seconds:7.2f} s   "
                        f"custodian {c7n.seconds:7.2f} s   "
                        f"ratio sweep/custodian {sweep.seconds / c7n.seconds:5.2f}",
                        flush=True,
                    )
                    for name, r in (("sweep", sweep), ("custodian", c7n)):
                        print(
                            f"         {name:<9} cpu {r.cpu:6.2f} s, "
                            f"{r.requests / n:4.1f} AWS requests per bucket ({r.requests} in all)"
                        )
    finally:
        moto.stop()
    if len(results) > 1:
        small, large = min(results), max(results)
        sweep_growth = results[large][0].seconds / results[small][0].seconds
        c7n_growth = results[large][1].seconds / results[small][1].seconds
        print(
            f"growth N={small} -> N={large} (x{large / small:g} buckets): "
            f"sweep x{sweep_growth:.2f}, custodian x{c7n_growth:.2f}"
        )


if __name__ == "__main__":
    asyncio.run(main())
