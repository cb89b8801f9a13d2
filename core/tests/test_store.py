"""The SQLite store: durable inbox with group commit, dedupe, claims, actions."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from lw_remediate import ActionRecord, Mode, Plan, Status, Violation
from lw_remediate.store import SqliteStore


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "s.sqlite3"))
    await s.open()
    yield s
    await s.close()


async def test_enqueue_is_durable_and_dedupes(store, tmp_path):
    first = await store.enqueue([("classic:1", "classic", "1", {"event_id": "1"})])
    again = await store.enqueue([("classic:1", "classic", "1", {"event_id": "1"})])
    assert first[0][1] is True and again == [(first[0][0], False)]
    # Another connection sees the row at once: it was committed before enqueue returned.
    conn = sqlite3.connect(str(tmp_path / "s.sqlite3"))
    assert conn.execute("SELECT COUNT(*) FROM inbox").fetchone() == (1,)
    conn.close()


async def test_concurrent_deliveries_share_commits(store):
    n = 200
    results = await asyncio.gather(
        *(store.enqueue([(f"classic:{i}", "classic", str(i), '{"raw": true}')]) for i in range(n))
    )
    assert sorted(r[0][0] for r in results) == list(range(1, n + 1))
    assert store.commits < n / 4, f"{store.commits} commits for {n} concurrent deliveries"


async def test_claim_requeue_and_retry(store):
    await store.enqueue([("k1", "classic", "1", {}), ("k2", "classic", "2", {})])
    claimed = await store.claim_due(now=1e12, limit=10)
    assert [r.state for r in await store.list_inbox()] == ["processing", "processing"]
    assert [r.attempts for r in claimed] == [1, 1]
    assert await store.claim_due(now=1e12, limit=10) == []
    assert await store.requeue_processing() == 2
    again = await store.claim_due(now=1e12, limit=1)
    attempts = await store.retry_later(again[0].id, next_attempt_at=2e12, error="api down")
    assert attempts == 2
    assert await store.next_due_at() is not None
    due = await store.claim_due(now=1e12, limit=10)
    assert [r.delivery_key for r in due] == ["k2"]  # k1 waits until its retry time


async def test_actions_round_trip_and_dedupe(store):
    violation = Violation(
        "LW_S3_16", "arn:aws:s3:::b", "123456789012", "us-east-1", reason="VersioningNotEnabled"
    )
    vid = await store.add_violation(None, violation)
    assert await store.add_violation(None, violation) == vid
    other_reason = await store.add_violation(
        None, Violation("LW_S3_16", "arn:aws:s3:::b", "123456789012", reason="X")
    )
    assert other_reason != vid
    record, created = await store.create_action(
        vid, None, ActionRecord("s3.enable_versioning", violation, Mode.AUTO)
    )
    assert created
    record.plan = Plan("enable", data={"x": 1})
    record.before_image = {"Status": None}
    record.status, record.state = Status.REMEDIATED, "done"
    await store.save_action(record)
    same, created_again = await store.create_action(
        vid, None, ActionRecord("s3.enable_versioning", violation, Mode.AUTO)
    )
    assert not created_again and same.id == record.id
    row = await store.get_action(record.id)
    assert row.record.status is Status.REMEDIATED
    assert row.record.before_image == {"Status": None}
    assert row.record.plan.summary == "enable"
    assert row.record.violation == violation
    assert await store.unfinished_actions() == []


async def test_audit_trail(store):
    await store.audit("approved", "approved by alice", actor="alice", action_id="a1", data={"x": 1})
    (event,) = await store.audit_events(action_id="a1")
    assert (event.actor, event.kind, event.data) == ("alice", "approved", {"x": 1})
