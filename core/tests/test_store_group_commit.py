"""SQLite group commit of the pipeline's writes: concurrent actions share a transaction,
each write is durable when its caller resumes, and one failing write fails alone."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from lw_remediate import ActionRecord, Mode, Status, Violation
from lw_remediate.store import SqliteStore


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "s.sqlite3"))
    await s.open()
    yield s
    await s.close()


def committed(store: SqliteStore, sql: str) -> list[tuple]:
    """What another connection sees: only committed rows."""
    conn = sqlite3.connect(store.path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def violation(i: int) -> Violation:
    return Violation("LW_S3_16", f"arn:aws:s3:::bucket-{i}", "123456789012", "us-east-1")


async def test_concurrent_actions_share_commits_and_each_is_durable_on_return(store):
    n = 60

    async def one_action(i: int) -> str:
        vid = await store.add_violation(None, violation(i))
        record, created = await store.create_action(
            vid, None, ActionRecord("s3.enable_versioning", violation(i), Mode.DRY_RUN)
        )
        assert created and record.id
        record.status, record.state = Status.PLANNED, "done"
        await store.save_action(record)
        # returned: another connection sees the final state already
        (row,) = committed(store, f"SELECT status FROM actions WHERE id = '{record.id}'")
        assert row == ("planned",)
        await store.audit("planned", "dry run", actor="engine", action_id=record.id)
        return record.id

    ids = await asyncio.gather(*(one_action(i) for i in range(n)))
    assert len(set(ids)) == n
    assert committed(store, "SELECT COUNT(*) FROM actions WHERE status = 'planned'") == [(n,)]
    assert committed(store, "SELECT COUNT(*) FROM audit") == [(n,)]
    # 4 writes per action; concurrent ones shared transactions
    assert store.write_commits < 4 * n / 2, f"{store.write_commits} commits for {4 * n} writes"


async def test_a_failing_write_fails_alone_and_its_batch_commits(store):
    vid = await store.add_violation(None, violation(1))
    good = ActionRecord("s3.enable_versioning", violation(1), Mode.AUTO)
    orphan = ActionRecord("s3.enable_versioning", violation(2), Mode.AUTO)
    before = store.write_commits
    results = await asyncio.gather(
        store.create_action(vid, None, good),
        store.create_action(10_000, None, orphan),  # no such violation: foreign key fails
        store.audit("note", "kept", actor="test"),
        return_exceptions=True,
    )
    assert isinstance(results[1], sqlite3.IntegrityError)
    assert store.write_commits == before + 1  # the three shared one transaction
    assert results[0][1] is True
    assert committed(store, "SELECT id FROM actions") == [(good.id,)]
    assert committed(store, "SELECT detail FROM audit") == [("kept",)]
    # the connection is usable afterwards, outside any transaction
    again, created = await store.create_action(vid, None, good)
    assert not created and again.id == good.id
