"""Clients shared across actions: one per (account, region, service, credentials), each
action's calls recorded into its own trail through the per-action context."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from lw_remediate import CheckResult, Plan, Remediation, RemediationOptions
from lw_remediate.aws.pool import ClientPool
from lw_remediate.aws.session import AwsSession
from lw_remediate.model import Mode, Status
from lw_remediate.pipeline.runner import Runner
from lw_remediate.policy import IamPolicy

BUCKETS = ("pool-bucket-a", "pool-bucket-b", "pool-bucket-c")


def pooled(moto_server: Any, pool: ClientPool) -> AwsSession:
    return AwsSession(
        account_id="123456789012",
        region="us-east-1",
        credentials=moto_server.admin_credentials("123456789012"),
        endpoint_url=moto_server.endpoint_url,
        pool=pool,
    )


async def test_concurrent_actions_on_one_client_record_only_their_own_calls(
    moto_server, admin_client, make_violation
):
    s3 = admin_client("s3")
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
    # Every action reads its bucket three times; the barrier makes the actions take
    # turns between reads, so their calls interleave on the one shared client.
    barrier = asyncio.Barrier(len(BUCKETS))
    clients: set[int] = set()

    async def check(ctx: Any, violation: Any) -> CheckResult:
        for _ in range(3):
            async with ctx.aws.client("s3") as client:
                clients.add(id(client))
                await client.get_bucket_versioning(Bucket=violation.resource_name)
            await barrier.wait()
        return CheckResult.violating("not versioned")

    async def plan(ctx: Any, violation: Any) -> Plan:
        return Plan("nothing")

    async def apply(ctx: Any, plan: Plan) -> dict[str, Any]:
        return {}

    async def verify(ctx: Any, violation: Any) -> Any:
        raise AssertionError("a dry run never verifies")

    rem = Remediation(
        id="test.read_three_times",
        rules=("LW_S3_16",),
        title="reads",
        description="reads its bucket three times",
        resource_type="s3:bucket",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify,
        options=RemediationOptions,
    )
    pool = ClientPool()
    runner = Runner()
    try:
        records = await asyncio.gather(
            *(
                runner.run(
                    rem,
                    make_violation("LW_S3_16", f"arn:aws:s3:::{bucket}"),
                    aws=pooled(moto_server, pool),
                    mode=Mode.DRY_RUN,
                )
                for bucket in BUCKETS
            )
        )
    finally:
        await pool.close()
    assert len(clients) == 1 and pool.created == 1  # one client served every action
    for bucket, record in zip(BUCKETS, records, strict=True):
        assert record.status is Status.RESOLVED
        assert [(c.operation, c.resource) for c in record.calls] == [
            ("GetBucketVersioning", f"arn:aws:s3:::{bucket}")
        ] * 3


async def test_calls_outside_an_action_are_not_recorded_into_it(moto_server, admin_client):
    admin_client("s3").create_bucket(Bucket="pool-bucket-a")
    pool = ClientPool()
    calls: list[Any] = []
    plain = pooled(moto_server, pool)
    recorded = plain.with_sink(calls.append)
    try:
        async with recorded.client("s3") as a:
            await a.get_bucket_versioning(Bucket="pool-bucket-a")
        async with plain.client("s3") as b:
            assert b is a
            await b.get_bucket_location(Bucket="pool-bucket-a")
    finally:
        await pool.close()
    assert [c.operation for c in calls] == ["GetBucketVersioning"]


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def factory(log: list[str]) -> Any:
    n = 0

    def make() -> Any:
        nonlocal n
        n += 1
        name = f"client-{n}"

        @asynccontextmanager
        async def cm() -> AsyncIterator[str]:
            log.append(f"open {name}")
            yield name
            log.append(f"close {name}")

        return cm()

    return make


async def test_a_client_is_closed_when_its_credentials_expire_once_no_action_holds_it():
    clock, log = Clock(), []
    pool = ClientPool(clock=clock)
    make = factory(log)
    async with pool.lease("key", make, expires_at=10) as first:
        clock.now = 11  # the credentials expired while an action holds the client
        async with pool.lease("key", make, expires_at=20) as second:
            assert (first, second) == ("client-1", "client-2")
        assert "close client-1" not in log  # still held
    assert log == ["open client-1", "open client-2", "close client-1"]
    async with pool.lease("key", make, expires_at=20) as third:
        assert third == "client-2"  # reused while its credentials are good
    await pool.close()
    assert log[-1] == "close client-2" and len(pool) == 0


async def test_the_provider_shares_clients_between_actions_and_closes_them(moto_server, tmp_path):
    from lw_remediate.aws.credentials import AwsProvider
    from lw_remediate.config import Config

    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "aws": {"endpoint_url": moto_server.endpoint_url, "region": "us-east-1"},
        }
    )
    async with AwsProvider(config.aws) as aws:
        one = await aws.session_for("123456789012", "us-east-1")
        two = await aws.session_for("123456789012", "us-east-1")
        async with one.client("s3") as a, two.client("s3") as b:
            assert a is b
        created = aws.pool.created
        assert len(aws.pool) == created >= 1
    assert len(aws.pool) == 0


async def test_concurrent_actions_ask_for_the_caller_identity_once(moto_server, tmp_path, caplog):
    from lw_remediate.aws.credentials import AwsProvider
    from lw_remediate.config import Config

    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "aws": {"endpoint_url": moto_server.endpoint_url, "region": "us-east-1"},
        }
    )
    async with AwsProvider(config.aws) as aws:
        with caplog.at_level(logging.INFO, logger="werkzeug"):
            sessions = await asyncio.gather(
                *(aws.session_for("123456789012", "us-east-1") for _ in range(5))
            )
        assert {s.account_id for s in sessions} == {"123456789012"}
    # moto's server logs one line per request; STS GetCallerIdentity is a POST to /
    served = [r.getMessage() for r in caplog.records if r.name == "werkzeug"]
    assert sum('"POST / HTTP/1.1"' in line for line in served) == 1, served


async def test_an_assume_role_in_flight_holds_up_only_the_actions_waiting_for_it(
    moto_server, tmp_path, monkeypatch
):
    from lw_remediate.aws import credentials
    from lw_remediate.config import Config

    config = Config.model_validate(
        {
            "store": {"path": str(tmp_path / "s.db")},
            "aws": {
                "endpoint_url": moto_server.endpoint_url,
                "region": "us-east-1",
                "role_name": "lw-remediate",
            },
        }
    )
    real_assume_role = credentials.assume_role
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_in_one_account(base: Any, role_arn: str, **kwargs: Any) -> Any:
        if ":111111111111:" in role_arn:  # STS taking its time for this account
            started.set()
            await release.wait()
        return await real_assume_role(base, role_arn, **kwargs)

    monkeypatch.setattr(credentials, "assume_role", slow_in_one_account)
    async with credentials.AwsProvider(config.aws) as aws:
        await aws.session_for("222222222222", "us-east-1")  # cached from now on
        waiting = [
            asyncio.create_task(aws.session_for("111111111111", "us-east-1")) for _ in range(2)
        ]
        await started.wait()
        # While that AssumeRole is in flight, a cached account and a new one are served
        # (the timeout only bounds a failing test: one lock for all would hold them up).
        cached = await asyncio.wait_for(aws.session_for("222222222222", "us-east-1"), 10)
        other = await asyncio.wait_for(aws.session_for("333333333333", "us-east-1"), 10)
        assert (cached.account_id, other.account_id) == ("222222222222", "333333333333")
        assert not any(task.done() for task in waiting)
        release.set()
        sessions = await asyncio.gather(*waiting)
        assert {s.account_id for s in sessions} == {"111111111111"}
    # One AssumeRole per account: the two actions waiting for the same credentials
    # shared one request, and the cached account made none again.
    assert sorted(arn.split(":")[4] for arn, _ in aws.assumed) == [
        "111111111111",
        "222222222222",
        "333333333333",
    ]
