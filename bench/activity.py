"""Activity benchmark: time from an alert's arrival to the recorded fix, activity vs compliance.

    .venv/bin/python bench/activity.py [--rounds 30]

One process: a moto server and the fake Lacework on 127.0.0.1, the daemon's engine
(every map of this tree installed, ``auto`` mode, SQLite store with
``synchronous = "full"``) and its inbox worker. Each round opens a security group to
``0.0.0.0/0`` on port 22, then hands the engine either

- an **activity** alert (``lacework-global-2``, "Security Group Change", naming the
  group): lw-map-aws-activity says the group was touched and the group is re-evaluated
  with every remediation of its type (the network map's ``revoke_world_ingress`` closes
  it); or
- a **compliance** alert (``AWS_CIS_4_1`` on the same group): the path a compliance
  assessment takes once its report exists.

The clock starts when the alert is committed to the inbox (``Engine.accept``, what the
webhook does before its 202) and stops when the action that revoked the rule is stored
``remediated``; the group is checked closed. Both include enrichment from the (local) fake
Lacework API. What no benchmark here can show: the compliance alert itself arrives only
after Lacework's next assessment (about once per 24 hours, remediation-catalog / protocol
notes), while an activity alert follows the CloudTrail event within minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ACCOUNT = "123456789012"
WORLD = "0.0.0.0/0"
SSH = {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": WORLD}]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


async def fixed_at(engine, alert_id: str, deadline: float) -> float:
    """time.time() at which an action of this alert was stored ``remediated``."""
    while time.monotonic() < deadline:
        for row in await engine.store.list_actions(limit=200):
            record = row.record
            if record.violation.alert_id == alert_id and str(record.status) == "remediated":
                return row.updated_at
        await asyncio.sleep(0.005)
    raise SystemExit(f"alert {alert_id}: no remediated action in time")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
    )
    from lw_remediate.config import Config
    from lw_remediate.ingest.alerts import parse_payload
    from lw_remediate.logs import configure_logging
    from lw_remediate.runtime import Runtime
    from lw_remediate.testing.fake_lacework import FakeLacework, load_fixture
    from lw_remediate.testing.moto import MotoServer

    configure_logging(level="warning")
    moto = MotoServer()
    ec2 = moto.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    template = load_fixture("api_v2_alert_details_activity_security_group_change.json")["data"]
    classic = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    times: dict[str, list[float]] = {"activity": [], "compliance": []}
    try:
        async with FakeLacework() as fake:
            with tempfile.TemporaryDirectory(prefix="lw-bench-activity-") as tmp:
                config = Config.model_validate(
                    {
                        "lacework": fake.config,
                        "aws": {
                            "region": "us-east-1",
                            "endpoint_url": moto.endpoint_url,
                            "role_name": "lw-remediate",
                        },
                        "store": {"path": str(Path(tmp) / "bench.sqlite3")},
                        "remediation": {"default_mode": "auto"},
                    }
                )
                runtime = Runtime(config)
                async with runtime:
                    engine = runtime.engine
                    stop = asyncio.Event()
                    worker = asyncio.create_task(engine.run_worker(stop))
                    n = 800000
                    for i in range(args.rounds):
                        for kind in ("activity", "compliance"):
                            n += 1
                            group = ec2.create_security_group(
                                GroupName=f"g{n}", Description="bench", VpcId=vpc
                            )["GroupId"]
                            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=[SSH])
                            arn = f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group/{group}"
                            if kind == "activity":
                                details = copy.deepcopy(template)
                                details["alertId"] = n
                                details["entityMap"]["Resource"][0]["KEY"]["value"] = group
                                fake.add_alert(n, details)
                                rule = "lacework-global-2"
                            else:
                                fake.add_compliance_alert(
                                    n, "AWS_CIS_4_1", [(arn, "us-east-1", ACCOUNT)]
                                )
                                rule = "AWS_CIS_4_1"
                            body = {**classic, "event_id": str(n), "rec_id": rule}
                            started = time.time()
                            await engine.accept(parse_payload(body))
                            done = await fixed_at(engine, str(n), time.monotonic() + 60)
                            [sg] = ec2.describe_security_groups(GroupIds=[group])["SecurityGroups"]
                            assert not sg["IpPermissions"], sg["IpPermissions"]
                            times[kind].append(done - started)
                        if i == 0:
                            times = {k: [] for k in times}  # first round warms up
                    stop.set()
                    await worker
    finally:
        moto.stop()
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cpus; {args.rounds - 1} rounds")
    for kind, values in times.items():
        ms = [v * 1000 for v in values]
        print(
            f"{kind:<10} alert arrival -> recorded fix: p50 {statistics.median(ms):7.1f} ms   "
            f"p99 {percentile(ms, 0.99):7.1f} ms   (n={len(ms)})"
        )


if __name__ == "__main__":
    asyncio.run(main())
