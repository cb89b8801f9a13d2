"""Several instances on one PostgreSQL database, through the safety envelope and the
engine's hooks: the kill switch thrown through one instance stops the other's next
apply, budgets (and their notification) are exact across instances, the resource lock
holds across them, NOTIFY wakes them, a dead instance's actions are taken over."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets

import asyncpg
import pytest
import structlog

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Mode,
    Plan,
    Remediation,
    Status,
    VerifyResult,
    Violation,
)
from lw_remediate.aws.credentials import AwsProvider
from lw_remediate.aws.session import AwsSession
from lw_remediate.config import Config
from lw_remediate.notify import NotificationKind, Notifiers
from lw_remediate.pipeline.runner import Runner
from lw_remediate.safety import Safety
from lw_remediate.store import PostgresStore

ACCOUNT = "123456789012"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent = []

    async def notify(self, notification) -> None:
        self.sent.append(notification)


def counting_remediation(applied: list[str]) -> Remediation:
    async def check(ctx, violation):
        return CheckResult.violating("still there")

    async def plan(ctx, violation):
        return Plan("flip", [Change("flip", violation.resource_arn, False, True)])

    async def apply(ctx, plan):
        applied.append(ctx.violation.resource_arn)
        return {"flipped": True}

    async def verify(ctx, violation):
        return VerifyResult.verified("flipped")

    return Remediation(
        id="test.flip_thing",
        rules=("LW_S3_16",),
        title="flip",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify,
    )


@pytest.fixture
async def two(postgres_url, tmp_path):
    """Two instances on one database, each with its own store and safety envelope
    (and its own kill-switch file directory, as two VMs would have)."""
    made = []
    for name in ("vm-a", "vm-b"):
        store = PostgresStore(postgres_url, owner=name)
        await store.open()

        def safety(store=store, name=name, **sections) -> Safety:
            config = Config.model_validate(
                {
                    "store": {"url": postgres_url, "path": str(tmp_path / name / "s.db")},
                    **sections,
                }
            )
            return Safety(
                config=config,
                store=store,
                aws=AwsProvider(config.aws),
                notifiers=Notifiers([Recorder()]),
            )

        made.append((store, safety))
    yield made
    for store, _ in made:
        await store.close()


async def new_record(store, bucket: str) -> ActionRecord:
    v = Violation("LW_S3_16", f"arn:aws:s3:::{bucket}", ACCOUNT, "us-east-1")
    v = dataclasses.replace(v, reason=secrets.token_hex(4))
    vid = await store.add_violation(None, v)
    record, _ = await store.create_action(vid, None, ActionRecord("test.flip_thing", v, Mode.AUTO))
    return record


def session() -> AwsSession:
    return AwsSession(account_id=ACCOUNT, region="us-east-1")


async def run(store, safety, rem, bucket) -> ActionRecord:
    runner = Runner(journal=store.journal(), guard=safety.before_apply)
    record = await new_record(store, bucket)
    return await runner.run(rem, record.violation, aws=session(), mode=Mode.AUTO, record=record)


async def test_the_kill_switch_thrown_through_one_instance_stops_the_others_next_apply(two):
    (store_a, make_a), (store_b, make_b) = two
    safety_a, safety_b = make_a(), make_b()
    applied: list[str] = []
    rem = counting_remediation(applied)
    state = await safety_a.turn_kill_switch_on(by="ops", reason="drill", now=1.0)
    assert state.on and state.by == "ops"
    seen_by_b = await safety_b.kill_switch_state()
    assert seen_by_b.on and seen_by_b.by == "ops" and seen_by_b.reason == "drill"
    record = await run(store_b, safety_b, rem, "b1")
    assert applied == []
    assert record.status is Status.AWAITING_APPROVAL and "by ops: drill" in record.detail
    # Turned off through b, a applies again.
    assert await safety_b.turn_kill_switch_off() is True
    assert not (await safety_a.kill_switch_state()).on
    record = await run(store_a, safety_a, rem, "a1")
    assert applied == ["arn:aws:s3:::a1"] and record.status is Status.REMEDIATED


async def test_budgets_are_exact_across_instances_and_notified_once(two):
    (store_a, make_a), (store_b, make_b) = two
    budgets = {"budgets": {"global_per_hour": 3}}
    safety_a, safety_b = make_a(**budgets), make_b(**budgets)
    applied: list[str] = []
    rem = counting_remediation(applied)
    records = await asyncio.gather(
        *(
            run(store, safety, rem, f"b{i}")
            for i, (store, safety) in enumerate([(store_a, safety_a), (store_b, safety_b)] * 6)
        )
    )
    assert len(applied) == 3
    assert sum(r.status is Status.REMEDIATED for r in records) == 3
    assert sum(r.status is Status.REFUSED for r in records) == 9
    notices = [
        n
        for s in (safety_a, safety_b)
        for n in s.notifiers.notifiers[0].sent
        if n.kind is NotificationKind.BUDGET_EXCEEDED
    ]
    assert len(notices) == 1


async def waiting_for_lock(url: str) -> None:
    """Until the server reports a session waiting for an advisory lock."""
    conn = await asyncpg.connect(url)
    try:
        query = "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted)"
        # The condition is in the server (no event to wait on): ask until it holds.
        while not await conn.fetchval(query):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    finally:
        await conn.close()


async def test_the_resource_lock_holds_across_instances(two):
    (store_a, _), (store_b, _) = two
    order: list[str] = []
    async with store_a.resource_lock("123456789012|arn:aws:s3:::b"):
        order.append("a in")

        async def b() -> None:
            async with store_b.resource_lock("123456789012|arn:aws:s3:::b"):
                order.append("b in")

        task = asyncio.create_task(b())
        await asyncio.wait_for(waiting_for_lock(store_a.url), 30)
        assert order == ["a in"]  # b waits on the server
        # Another resource is not held up.
        async with store_b.resource_lock("123456789012|arn:aws:s3:::other"):
            order.append("b other")
        order.append("a out")
    await asyncio.wait_for(task, 30)
    assert order == ["a in", "b other", "a out", "b in"]


async def test_a_delivery_to_one_instance_wakes_the_other(two):
    (store_a, _), (store_b, _) = two
    woken = asyncio.Event()
    store_b.subscribe(woken.set)
    await store_a.enqueue([("classic:1", "classic", "1", {})])
    await asyncio.wait_for(woken.wait(), 30)


async def test_a_lost_listen_connection_is_restored_and_wakes_the_instance(two):
    """B's LISTEN backend is terminated (as a fail-over or an operator would): B LISTENs
    again on a new connection, wakes its worker once (what was sent meanwhile is lost),
    and a later delivery through A wakes B by NOTIFY again. No worker runs here, so no
    poll can stand in for the notification."""
    (store_a, _), (store_b, _) = two
    woken = asyncio.Event()
    store_b.subscribe(woken.set)
    old_pid = store_b._listener.connection.get_server_pid()
    with structlog.testing.capture_logs() as logs:
        async with store_a.pool.acquire() as conn:
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", old_pid)
        await asyncio.wait_for(woken.wait(), 60)  # the LISTEN is back: look at the inbox
    events = [e["event"] for e in logs if e["event"].startswith("store_")]
    assert events[0] == "store_listen_lost" and events[-1] == "store_listen_restored"
    new_pid = store_b._listener.connection.get_server_pid()
    assert new_pid != old_pid
    woken.clear()
    await store_a.enqueue([("classic:2", "classic", "2", {})])
    await asyncio.wait_for(woken.wait(), 60)
    assert store_b._listener.connection.get_server_pid() == new_pid  # by NOTIFY, not a 2nd loss


async def test_a_dead_instances_unfinished_actions_are_taken_over_once(two):
    (store_a, _), (store_b, _) = two
    record = await new_record(store_a, "b1")
    record.state = "applying"
    await store_a.save_action(record)
    assert await store_b.orphaned_actions() == []  # a is alive
    assert await store_a.orphaned_actions() == []  # never one's own
    conn = await asyncpg.connect(store_a.url)
    try:
        await conn.execute("UPDATE actions SET lease_until = 0 WHERE owner = 'vm-a'")
    finally:
        await conn.close()
    taken = await asyncio.gather(store_b.orphaned_actions(), store_b.orphaned_actions())
    assert [r.record.id for t in taken for r in t] == [record.id]
    assert await store_a.orphaned_actions() == []  # b holds it now, and renews it


async def test_an_approved_action_belongs_to_the_instance_that_approved_it(two):
    """It waited for approval far longer than its creator's lease: the approving
    instance takes the lease with the approval, so no other instance takes over the
    run it is about to start."""
    (store_a, _), (store_b, _) = two
    record = await new_record(store_a, "approved-1")
    record.state = "awaiting_approval"
    await store_a.save_action(record)
    await store_a.request_approval(record.id, requested_at=0, expires_at=9e18)
    conn = await asyncpg.connect(store_a.url)
    try:
        await conn.execute("UPDATE actions SET lease_until = 0")  # a day later, say
        assert await store_b.claim_approval(record.id, by="bob", now=1)
        owner = await conn.fetchval("SELECT owner FROM actions WHERE id = $1", record.id)
    finally:
        await conn.close()
    assert owner == "vm-b"
    assert await store_a.orphaned_actions() == []
    assert await store_b.orphaned_actions() == []
