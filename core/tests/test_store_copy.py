"""``lw-remediate store copy --from sqlite:PATH --to postgresql://...``: history, inbox
and safety state arrive with their ids; a non-empty target is refused."""

from __future__ import annotations

import json

from lw_remediate import ActionRecord, Mode, Plan, Status, Violation
from lw_remediate.store import PostgresStore, SqliteStore
from lw_remediate.store.base import ChangeRow, ExemptionRow


async def filled_sqlite(path: str) -> dict:
    store = SqliteStore(path)
    await store.open()
    try:
        [(first, _)] = await store.enqueue([("classic:1", "classic", "1", b'{"event_id": "1"}')])
        await store.enqueue([("classic:2", "classic", "2", '\ufeff{"event_id": "2"}'.encode())])
        await store.mark_inbox(first, "done")
        violation = Violation("LW_S3_16", "arn:aws:s3:::b", "123456789012", reason="R")
        vid = await store.add_violation(first, violation)
        record, _ = await store.create_action(
            vid, first, ActionRecord("s3.enable_versioning", violation, Mode.AUTO)
        )
        record.plan = Plan("enable", data={"x": 1})
        record.before_image = {"Status": None}
        record.status, record.state = Status.REMEDIATED, "done"
        await store.save_action(record)
        await store.audit("approved", "by alice", actor="alice", action_id=record.id)
        await store.reserve_change(
            ChangeRow(record.id, 100.0, "s3.enable_versioning", "LW_S3_16", "123456789012", "arn"),
            since=0,
            flap_since=0,
            decide=lambda counts: None,
        )
        await store.request_approval(record.id, requested_at=1.0, expires_at=2.0)
        await store.add_exemption(ExemptionRow("ex-1", {"arn": "arn:aws:s3:::b"}, 5.0, "bob"))
        await store.flag_flapping("LW_S3_16", "123456789012", "arn", changes=4, now=6.0)
        await store.notice_once("expired:ex-0", 7.0)
        claim = await store.claim_sweep(
            "k", {"r": 1}, owner="h:1:t", now=8.0, alive=lambda *a: False
        )
        await store.sweep_inbox(claim.sweep_id, claim.run)
    finally:
        await store.close()
    return {"action_id": record.id, "sweep_id": claim.sweep_id}


async def test_copy_moves_every_table_and_keeps_ids(cli, tmp_path, postgres_url):
    path = str(tmp_path / "old.sqlite3")
    made = await filled_sqlite(path)
    done = cli("store", "copy", "--from", f"sqlite:{path}", "--to", postgres_url, "--json")
    assert done.returncode == 0, done.stderr
    copied = json.loads(done.stdout)["copied"]
    assert copied["inbox"] == 3 and copied["actions"] == 1 and copied["sweeps"] == 1
    assert postgres_url not in done.stdout

    store = PostgresStore(postgres_url)
    await store.open()
    try:
        inbox = await store.list_inbox()
        assert [r.payload() for r in inbox if r.shape == "classic"] == [
            {"event_id": "2"},
            {"event_id": "1"},
        ]
        row = await store.get_action(made["action_id"])
        assert row.record.status is Status.REMEDIATED and row.record.plan.summary == "enable"
        assert row.record.before_image == {"Status": None}
        assert (await store.audit_events(action_id=made["action_id"]))[0].actor == "alice"
        assert (await store.get_approval(made["action_id"])).expires_at == 2.0
        assert [e.id for e in await store.list_exemptions()] == ["ex-1"]
        assert [f.changes for f in await store.list_flapping()] == [4]
        assert await store.notice_once("expired:ex-0", 9.0) is False
        assert (await store.get_sweep(made["sweep_id"]))["request"] == {"r": 1}
        # Sequences continue after the copied ids.
        [(new_id, created)] = await store.enqueue([("classic:3", "classic", "3", b"{}")])
        assert created and new_id > max(r.id for r in inbox)
        # The queued alert is still due for the worker.
        assert [r.delivery_key for r in await store.claim_due(9e18, 10)] == [
            "classic:2",
            "classic:3",
        ]
    finally:
        await store.close()

    again = cli("store", "copy", "--from", f"sqlite:{path}", "--to", postgres_url)
    assert again.returncode == 1
    assert "not empty" in again.stderr and len(again.stderr.strip().splitlines()) == 1


def test_copy_names_bad_arguments_in_one_line(cli, tmp_path):
    bad = cli("store", "copy", "--from", str(tmp_path / "x.db"), "--to", "postgresql://h/db")
    assert bad.returncode == 2 and "sqlite:PATH" in bad.stderr
    missing = cli(
        "store", "copy", "--from", f"sqlite:{tmp_path}/none.db", "--to", "postgresql://h/d"
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr
