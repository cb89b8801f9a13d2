"""What only the PostgreSQL store has: versioned migrations and several instances on
one database (leases, SKIP LOCKED claims, take-over, budgets and approvals across
instances). Runs against a throwaway cluster (``postgres_server``)."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from lw_remediate import ActionRecord, Mode, Violation
from lw_remediate.errors import StoreUnavailable
from lw_remediate.store import PostgresStore
from lw_remediate.store.base import ChangeRow
from lw_remediate.store.postgres_schema import LATEST, MIGRATIONS, current_version, migrate


@pytest.fixture
async def instances(postgres_url):
    """Two instances (two stores, two owners) on one database."""
    a = PostgresStore(postgres_url, owner="vm-a")
    b = PostgresStore(postgres_url, owner="vm-b")
    await a.open()
    await b.open()
    yield a, b
    await a.close()
    await b.close()


async def sql(url: str, query: str, *args):
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(query, *args)
    finally:
        await conn.close()


async def test_an_empty_database_is_migrated_once(postgres_url):
    store = PostgresStore(postgres_url)
    await store.open()
    assert store.applied == [v for v, _, _ in MIGRATIONS]
    await store.close()
    again = PostgresStore(postgres_url)
    await again.open()
    assert again.applied == []
    await again.close()
    rows = await sql(postgres_url, "SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, LATEST + 1))


async def test_instances_starting_together_migrate_once(postgres_url):
    stores = [PostgresStore(postgres_url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    assert sorted(v for s in stores for v in s.applied) == list(range(1, LATEST + 1))
    await asyncio.gather(*(s.close() for s in stores))


@pytest.mark.parametrize("version", range(1, LATEST))
async def test_every_earlier_version_is_migrated_and_its_rows_still_work(postgres_url, version):
    conn = await asyncpg.connect(postgres_url)
    try:
        assert await migrate(conn, target=version) == list(range(1, version + 1))
        await conn.execute(
            "INSERT INTO inbox (delivery_key, shape, event_id, body, body_encoding,"
            " received_at, next_attempt_at, updated_at) VALUES ('k', 'classic', '1', $1,"
            " 'utf-8', 0, 0, 0)",
            b'{"event_id": "1"}',
        )
        assert await current_version(conn) == version
    finally:
        await conn.close()
    store = PostgresStore(postgres_url)
    await store.open()
    try:
        assert store.applied == list(range(version + 1, LATEST + 1))
        (row,) = await store.claim_due(9e18, 10)
        assert row.payload() == {"event_id": "1"} and row.attempts == 1
        assert (await store.enqueue([("k", "classic", "1", b"{}")]))[0][1] is False
    finally:
        await store.close()


async def test_a_newer_database_is_refused(postgres_url):
    store = PostgresStore(postgres_url)
    await store.open()
    await store.close()
    await sql(
        postgres_url,
        "INSERT INTO schema_migrations (version, description, applied_at) VALUES ($1, 'x', 0)",
        LATEST + 1,
    )
    with pytest.raises(StoreUnavailable, match="newer than this lw-remediate"):
        await PostgresStore(postgres_url).open()


async def test_an_unreachable_server_is_one_clear_error_without_the_password():
    store = PostgresStore("postgresql://lw:s3cr3t-pw@127.0.0.1:1/db")
    with pytest.raises(StoreUnavailable, match="cannot open the PostgreSQL store") as info:
        await store.open()
    assert not store.is_open
    assert "s3cr3t-pw" not in str(info.value)


async def test_instances_claiming_at_once_get_disjoint_rows(instances):
    a, b = instances
    await a.enqueue([(f"k{i}", "classic", str(i), {}) for i in range(40)])
    claims = await asyncio.gather(*(s.claim_due(9e18, 3) for s in (a, b) * 10))
    ids = [r.id for claim in claims for r in claim]
    assert len(ids) == len(set(ids)) == 40


async def test_a_live_instances_claims_stay_its_own_and_a_dead_ones_are_taken_over(instances):
    a, b = instances
    await a.enqueue([("k1", "classic", "1", {}), ("k2", "classic", "2", {})])
    claimed = await a.claim_due(9e18, 10)
    assert len(claimed) == 2
    # b starting (or stopping) gives back only its own claims, never a live instance's.
    assert await b.requeue_processing() == 0
    assert await b.claim_due(9e18, 10) == []
    # a renews its leases while it lives ...
    await a.renew_leases()
    assert await b.claim_due(9e18, 10) == []
    # ... and when it dies they run out: b takes the rows over, each once.
    await sql(b.url, "UPDATE inbox SET lease_until = 0 WHERE claimed_by = 'vm-a'")
    taken = await b.claim_due(9e18, 10)
    assert sorted(r.delivery_key for r in taken) == ["k1", "k2"]
    assert [r.attempts for r in taken] == [2, 2]
    assert await a.claim_due(9e18, 10) == []


async def test_unfinished_actions_are_resumed_by_their_owner_or_after_its_lease(instances):
    a, b = instances
    violation = Violation("LW_S3_16", "arn:aws:s3:::b", "123456789012")
    vid = await a.add_violation(None, violation)
    record, _ = await a.create_action(vid, None, ActionRecord("s3.x", violation, Mode.AUTO))
    record.state = "applying"
    await a.save_action(record)
    assert await b.unfinished_actions() == []  # a is alive and holds it
    assert [r.record.id for r in await a.unfinished_actions()] == [record.id]
    await sql(a.url, "UPDATE actions SET lease_until = 0 WHERE owner = 'vm-a'")
    taken = await asyncio.gather(b.unfinished_actions(), b.unfinished_actions())
    assert sorted(len(t) for t in taken) in ([0, 1], [1, 1])
    assert {r.record.id for t in taken for r in t} == {record.id}
    assert await a.unfinished_actions() == []  # b holds it now


async def test_budgets_are_exact_across_instances(instances):
    a, b = instances
    limit = 5

    def decide(counts):
        return "over budget" if counts.total >= limit else None

    async def reserve(store, i):
        change = ChangeRow(f"act-{i}", 1000.0 + i, "s3.x", "R", "123456789012", f"arn:{i}")
        return await store.reserve_change(change, since=0, flap_since=0, decide=decide)

    results = await asyncio.gather(*(reserve(s, i) for i, s in enumerate((a, b) * 15)))
    assert results.count(None) == limit
    assert results.count("over budget") == 30 - limit
    (row,) = await sql(a.url, "SELECT COUNT(*) AS n FROM changes")
    assert row["n"] == limit


async def test_an_approval_raced_from_two_instances_is_granted_once(instances):
    a, b = instances
    violation = Violation("LW_S3_16", "arn:aws:s3:::b", "123456789012")
    for i in range(10):
        vid = await a.add_violation(None, violation)
        record, _ = await a.create_action(
            vid, None, ActionRecord(f"s3.x{i}", violation, Mode.APPROVE)
        )
        record.state = "awaiting_approval"
        await a.save_action(record)
        await a.request_approval(record.id, requested_at=0, expires_at=9e18)
        wins = await asyncio.gather(
            a.claim_approval(record.id, by="alice", now=1),
            b.claim_approval(record.id, by="bob", now=1),
        )
        assert sorted(wins) == [False, True]
        approval = await b.get_approval(record.id)
        assert approval.decision == "approved"
        assert approval.decided_by == (await a.get_action(record.id)).approver


async def test_redelivery_to_another_instance_is_a_duplicate(instances):
    a, b = instances
    results = await asyncio.gather(
        *(s.enqueue([("classic:42", "classic", "42", json.dumps({}))]) for s in (a, b) * 5)
    )
    assert sum(created for ((_, created),) in results) == 1
    assert len({inbox_id for ((inbox_id, _),) in results}) == 1


def test_store_migrate_command_on_an_empty_database_then_again(cli, postgres_url):
    env = {"LW_REMEDIATE_STORE_URL": postgres_url}
    first = cli("store", "migrate", env=env)
    assert first.returncode == 0, first.stderr
    assert f"postgresql store at schema version {LATEST}" in first.stdout
    assert "applied: " + ", ".join(str(v) for v in range(1, LATEST + 1)) in first.stdout
    again = cli("store", "migrate", "--json", env=env)
    assert again.returncode == 0, again.stderr
    data = json.loads(again.stdout)
    assert data["applied"] == [] and data["history"] == list(range(1, LATEST + 1))


def test_store_migrate_names_a_bad_url_or_an_unreachable_server_in_one_line(cli):
    bad = cli("store", "migrate", env={"LW_REMEDIATE_STORE_URL": "mysql://x@h/db"})
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [bad.stderr.strip()]
    assert "store.url" in bad.stderr and "postgresql://" in bad.stderr
    down = cli(
        "store", "migrate", env={"LW_REMEDIATE_STORE_URL": "postgresql://lw:pw-9f3k2@127.0.0.1:1/x"}
    )
    assert down.returncode == 2
    assert len(down.stderr.strip().splitlines()) == 1, down.stderr
    assert "cannot open the PostgreSQL store" in down.stderr
    assert "pw-9f3k2" not in down.stderr + down.stdout


def test_sqlite_store_migrate_reports_its_version(cli, tmp_path):
    done = cli("store", "migrate", env={"LW_REMEDIATE_STORE_PATH": str(tmp_path / "s.db")})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("sqlite store at schema version 2")


async def test_a_sweep_runs_in_one_instance_and_another_continues_it(instances):
    a, b = instances
    lives = {"vm-a": True, "vm-b": True}

    def alive(owner, updated_at, now, sweep_id):
        return lives[owner]

    claims = await asyncio.gather(
        a.claim_sweep("k", {"r": 1}, owner="vm-a", now=1.0, alive=alive),
        b.claim_sweep("k", {"r": 1}, owner="vm-b", now=1.0, alive=alive),
    )
    running = [c for c in claims if c.running_owner is None]
    busy = [c for c in claims if c.running_owner is not None]
    assert len(running) == 1 and len(busy) == 1 and running[0].run == 1
    assert busy[0].sweep_id == running[0].sweep_id
    owner = busy[0].running_owner
    # The owner dies: the other instance continues the same sweep as its second run.
    lives[owner] = False
    other, other_name = (b, "vm-b") if owner == "vm-a" else (a, "vm-a")
    again = await other.claim_sweep("k", {"r": 1}, owner=other_name, now=2.0, alive=alive)
    assert (again.sweep_id, again.run, again.running_owner) == (running[0].sweep_id, 2, None)
    assert (await a.get_sweep(again.sweep_id))["owner"] == other_name
