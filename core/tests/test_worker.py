"""The worker supervisor: a crashed worker loop is restarted, counted and reported."""

from __future__ import annotations

import asyncio
import time

from lw_remediate.metrics import Metrics
from lw_remediate.pipeline.worker import Worker


class CrashingEngine:
    """An engine whose worker loop crashes ``crashes`` times, then runs until stopped."""

    def __init__(self, crashes: int) -> None:
        self.crashes = crashes
        self.metrics = Metrics()
        self.heartbeat: float | None = None
        self.runs = 0
        self.running = asyncio.Event()
        self.requeued = 0
        self.store = self

    async def recover(self) -> None:
        pass

    async def requeue_processing(self) -> int:
        self.requeued += 1
        return 0

    async def run_worker(self, stop: asyncio.Event) -> None:
        self.runs += 1
        if self.runs <= self.crashes:
            raise RuntimeError(f"bug number {self.runs}")
        self.running.set()
        await stop.wait()


async def test_a_crashed_worker_is_restarted_and_counted():
    engine = CrashingEngine(crashes=2)
    worker = Worker(engine, restart_delay=0.001)  # type: ignore[arg-type]
    await worker.start()
    await asyncio.wait_for(engine.running.wait(), timeout=10)
    assert worker.alive
    assert worker.restarts == 2 and engine.runs == 3
    assert "lw_remediate_worker_restarts_total 2.0" in engine.metrics.render().decode()
    await worker.stop(timeout=5)
    assert not worker.alive and engine.requeued == 1


async def test_a_stale_heartbeat_is_not_alive():
    engine = CrashingEngine(crashes=0)
    worker = Worker(engine, stale_after=30)  # type: ignore[arg-type]
    await worker.start()
    await asyncio.wait_for(engine.running.wait(), timeout=10)
    engine.heartbeat = time.monotonic() - 31
    assert not worker.alive
    await worker.stop(timeout=5)


# -- the real engine's worker loop: a backlog stays in the store ------------------------

BACKLOG = 50
ACCOUNT = "123456789012"


def _blocking_map(gate: asyncio.Event, entered: asyncio.Event, seen: list[str]):
    import types

    from lw_remediate import CheckResult, IamPolicy, Remediation, hookimpl

    async def check(ctx, violation):
        seen.append(violation.resource_arn)
        entered.set()
        await gate.wait()
        return CheckResult.compliant("fine")

    async def nothing(*_args):
        raise AssertionError("a compliant resource is never planned")

    remediation = Remediation(
        id="test.blocking_check",
        rules=("LW_S3_16",),
        title="a check that waits for the test",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=nothing,
        apply=nothing,
        verify=nothing,
    )

    @hookimpl
    def lw_remediate_remediations():
        return [remediation]

    return types.SimpleNamespace(lw_remediate_remediations=lw_remediate_remediations)


async def test_the_worker_holds_a_bounded_number_of_entries_and_finishes_the_backlog(
    moto_server, fake_lacework, tmp_path
):
    from lw_remediate.config import Config
    from lw_remediate.ingest.alerts import parse_payload
    from lw_remediate.plugins import load_maps
    from lw_remediate.runtime import Runtime
    from lw_remediate.testing.fake_lacework import load_fixture

    classic = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    gate, entered, seen = asyncio.Event(), asyncio.Event(), []
    registry = load_maps(
        extra_plugins=[("test-blocking", _blocking_map(gate, entered, seen))], entry_points=False
    )
    config = Config.model_validate(
        {
            "lacework": fake_lacework.config,
            "aws": {"region": "us-east-1", "endpoint_url": moto_server.endpoint_url},
            "store": {"path": str(tmp_path / "s.sqlite3")},
            "remediation": {"concurrency": 1},
        }
    )
    async with Runtime(config, registry=registry) as rt:
        engine = rt.engine
        for i in range(BACKLOG):
            arn = f"arn:aws:s3:::backlog-{i}"
            fake_lacework.add_compliance_alert(9000 + i, "LW_S3_16", [(arn, "us-east-1", ACCOUNT)])
            await engine.accept(parse_payload({**classic, "event_id": str(9000 + i)}))
        stop = asyncio.Event()
        loop = asyncio.create_task(engine.run_worker(stop))
        await entered.wait()  # one check runs (concurrency 1) and waits for the gate
        counts = await engine.store.inbox_counts()
        assert engine.max_inflight == 32
        assert counts == {"processing": 32, "queued": BACKLOG - 32}
        assert len(engine._inflight) == 32
        gate.set()
        while len(seen) < BACKLOG:  # the rest is claimed as entries finish
            entered.clear()
            await entered.wait()
        stop.set()
        await loop
        assert await engine.store.inbox_counts() == {"done": BACKLOG}
    assert sorted(seen) == sorted(f"arn:aws:s3:::backlog-{i}" for i in range(BACKLOG))
