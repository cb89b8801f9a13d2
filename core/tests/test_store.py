"""The store contract: every test here runs against SQLite and PostgreSQL (a throwaway
cluster, see ``lw_remediate.testing.postgres``) unless it names one backend."""

from __future__ import annotations

import asyncio
import sqlite3

import asyncpg
import pytest

from lw_remediate import ActionRecord, Mode, Plan, RecordedCall, Status, Violation
from lw_remediate.store import PostgresStore, SqliteStore
from lw_remediate.store.base import ChangeRow, ChangeUsage


@pytest.fixture(params=["sqlite", "postgresql"])
async def store(request, tmp_path):
    if request.param == "sqlite":
        s = SqliteStore(str(tmp_path / "s.sqlite3"))
    else:
        s = PostgresStore(await request.getfixturevalue("postgres_server").create_database())
    await s.open()
    yield s
    await s.close()


async def committed_rows(store, table: str) -> int:
    """Rows in ``table`` as another connection sees them."""
    if isinstance(store, SqliteStore):
        conn = sqlite3.connect(store.path)
        try:
            return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
        finally:
            conn.close()
    conn = await asyncpg.connect(store.url)
    try:
        return await conn.fetchval(f"SELECT COUNT(*) FROM {table}")
    finally:
        await conn.close()


async def test_enqueue_is_durable_and_dedupes(store):
    first = await store.enqueue([("classic:1", "classic", "1", {"event_id": "1"})])
    again = await store.enqueue([("classic:1", "classic", "1", {"event_id": "1"})])
    assert first[0][1] is True and again == [(first[0][0], False)]
    # Another connection sees the row at once: it was committed before enqueue returned.
    assert await committed_rows(store, "inbox") == 1


async def test_concurrent_deliveries_each_get_one_row(store):
    n = 200
    results = await asyncio.gather(
        *(store.enqueue([(f"classic:{i}", "classic", str(i), '{"raw": true}')]) for i in range(n))
    )
    assert len({r[0][0] for r in results}) == n and all(r[0][1] for r in results)
    assert await committed_rows(store, "inbox") == n
    # Group commit on both backends: concurrent deliveries share commits.
    assert store.commits < n / 4, f"{store.commits} commits for {n} concurrent deliveries"


async def test_a_group_commit_answers_repeated_and_known_keys_as_one_insert_after_another(store):
    ((known, _),) = await store.enqueue([("classic:k", "classic", "k", {"a": 0})])
    (a1, a2), (k,), (b,) = await asyncio.gather(
        store.enqueue(
            [("classic:a", "classic", "a", {"a": 1}), ("classic:a", "classic", "a", "x")]
        ),
        store.enqueue([("classic:k", "classic", "k", {"a": 0})]),
        store.enqueue([("classic:b", "classic", "b", b'{"a": 2}')]),
    )
    assert a1[1] is True and a2 == (a1[0], False)
    assert k == (known, False)
    assert b[1] is True and len({known, a1[0], b[0]}) == 3
    assert await committed_rows(store, "inbox") == 3
    assert (await store.get_inbox(b[0])).raw == b'{"a": 2}'


async def test_a_delivery_failing_in_a_group_commit_fails_only_its_own_caller(request, tmp_path):
    store = PostgresStore(await request.getfixturevalue("postgres_server").create_database())
    await store.open()
    try:
        results = await asyncio.gather(
            store.enqueue([("good-1", "classic", "1", {"a": 1})]),
            store.enqueue([("bad\x00key", "classic", "2", {"a": 2})]),  # PostgreSQL refuses NUL
            store.enqueue([("good-2", "classic", "3", {"a": 3})]),
            return_exceptions=True,
        )
        assert isinstance(results[1], asyncpg.PostgresError)
        assert results[0][0][1] is True and results[2][0][1] is True
        assert store.commits == 1  # one transaction, the failure confined to its savepoint
        assert sorted(r.delivery_key for r in await store.list_inbox()) == ["good-1", "good-2"]
    finally:
        await store.close()


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
    record.calls = [
        RecordedCall("redshift", "ModifyCluster", "redshift:ModifyCluster", "arn:c"),
        RecordedCall("redshift", "ModifyCluster", "kms:CreateGrant", "arn:k", dependent=True),
    ]
    record.status, record.state = Status.REMEDIATED, "done"
    await store.save_action(record)
    same, created_again = await store.create_action(
        vid, None, ActionRecord("s3.enable_versioning", violation, Mode.AUTO)
    )
    assert not created_again and same.id == record.id
    row = await store.get_action(record.id)
    assert row.record.status is Status.REMEDIATED
    assert row.record.before_image == {"Status": None}
    assert row.record.calls == record.calls  # a dependent action keeps its flag
    assert row.record.plan.summary == "enable"
    assert row.record.violation == violation
    assert await store.unfinished_actions() == []


async def test_audit_trail(store):
    await store.audit("approved", "approved by alice", actor="alice", action_id="a1", data={"x": 1})
    (event,) = await store.audit_events(action_id="a1")
    assert (event.actor, event.kind, event.data) == ("alice", "approved", {"x": 1})


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (b'{"event_id": "1"}', "utf-8"),
        (b'\xef\xbb\xbf{"event_id": "1"}', "utf-8-sig"),
        ('{"event_id": "1"}'.encode("utf-16"), "utf-16"),
        ('{"event_id": "1"}'.encode("utf-32-le"), "utf-32-le"),
    ],
)
async def test_bodies_are_kept_as_received_and_read_back(store, raw, encoding):
    [(inbox_id, _)] = await store.enqueue([("k", "classic", "1", raw)])
    row = await store.get_inbox(inbox_id)
    assert row.raw == raw and row.encoding == encoding
    assert row.payload() == {"event_id": "1"}
    (claimed,) = await store.claim_due(9e18, 10)
    assert claimed.raw == raw and claimed.payload() == {"event_id": "1"}


async def test_an_unreadable_body_never_breaks_listing_or_claiming(store):
    # A row no decoder can read (bytes that are not the encoding recorded for them).
    [(inbox_id, _)] = await store.enqueue([("k", "classic", "1", b"\xff\xfe\x00{")])
    (row,) = await store.list_inbox()
    assert row.id == inbox_id
    with pytest.raises(ValueError, match=r"Expecting value|decode"):
        row.payload()
    assert [r.id for r in await store.claim_due(9e18, 10)] == [inbox_id]


V1_INBOX = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES ('schema_version', '1');
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY, delivery_key TEXT NOT NULL UNIQUE, shape TEXT NOT NULL,
    event_id TEXT NOT NULL, body TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'queued',
    attempts INTEGER NOT NULL DEFAULT 0, received_at REAL NOT NULL,
    next_attempt_at REAL NOT NULL, updated_at REAL NOT NULL, last_error TEXT
);
"""


async def test_a_version_1_store_is_migrated_and_its_rows_still_read(tmp_path):
    path = tmp_path / "v1.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(V1_INBOX)
    # Version 1 stored raw.decode("utf-8"): a BOM body kept its U+FEFF, which json.loads
    # of the text refuses (issue 15, case 1). Both rows must read back.
    for i, text in enumerate(('{"event_id": "1"}', '\ufeff{"event_id": "2"}'), 1):
        conn.execute(
            "INSERT INTO inbox (delivery_key, shape, event_id, body, received_at,"
            " next_attempt_at, updated_at) VALUES (?, 'classic', ?, ?, 0, 0, 0)",
            (f"classic:{i}", str(i), text),
        )
    conn.commit()
    conn.close()
    store = SqliteStore(str(path))
    await store.open()
    try:
        rows = await store.claim_due(9e18, 10)
        assert [r.payload() for r in rows] == [{"event_id": "1"}, {"event_id": "2"}]
        [(new_id, _)] = await store.enqueue([("classic:3", "classic", "3", b'{"event_id": "3"}')])
        assert (await store.get_inbox(new_id)).payload() == {"event_id": "3"}
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == ("2",)
    conn.close()


async def test_notice_every_once_per_interval(store):
    assert await store.notice_every("budget:global", 1000.0, 3600.0) is True
    assert await store.notice_every("budget:global", 2000.0, 3600.0) is False
    assert await store.notice_every("budget:rule", 2000.0, 3600.0) is True
    assert await store.notice_every("budget:global", 4600.0, 3600.0) is True
    assert await store.notice_every("budget:global", 5000.0, 3600.0) is False


async def test_a_single_process_has_no_orphans_and_releases_its_resource_locks(store):
    violation = Violation("LW_S3_16", "arn:aws:s3:::b", "123456789012")
    vid = await store.add_violation(None, violation)
    record, _ = await store.create_action(vid, None, ActionRecord("s3.x", violation, Mode.AUTO))
    record.state = "applying"
    await store.save_action(record)
    assert await store.orphaned_actions() == []
    async with (
        store.resource_lock("123456789012|arn:aws:s3:::b"),
        store.resource_lock("123456789012|arn:aws:s3:::c"),
    ):
        pass
    async with store.resource_lock("123456789012|arn:aws:s3:::b"):
        pass  # released above


async def test_change_usage_counts_the_changes_after_a_time_by_rule_and_account(store):
    def change(i: int, at: float, rule: str, account: str) -> ChangeRow:
        return ChangeRow(f"a{i}", at, "s3.x", rule, account, f"arn:aws:s3:::b{i}")

    rows = [
        change(0, 100.0, "LW_S3_16", "111111111111"),
        change(1, 200.0, "LW_S3_16", "111111111111"),
        change(2, 300.0, "LW_S3_16", "222222222222"),
        change(3, 400.0, "LW_S3_1", "111111111111"),
    ]
    for row in rows:
        await store.reserve_change(row, since=0, flap_since=0, decide=lambda counts: None)
    usage = await store.change_usage(150.0)
    assert usage == ChangeUsage(
        3, {"LW_S3_16": 2, "LW_S3_1": 1}, {"111111111111": 2, "222222222222": 1}
    )
    assert await store.change_usage(400.0) == ChangeUsage(0, {}, {})
