"""End to end: the daemon on a loopback port, moto, and the fake Lacework API."""

from __future__ import annotations

import json

import pytest
import structlog

from lw_remediate.testing.fake_lacework import load_fixture

ACCOUNT = "123456789012"


def classic(event_id: str, rule_id: str = "LW_S3_16") -> dict[str, str]:
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id=rule_id)
    return body


@pytest.fixture
def unversioned(admin_client):
    s3 = admin_client("s3")
    s3.create_bucket(Bucket="e2e-unversioned")
    return s3


def versioning_alert(
    fake_lacework, event_id: str, bucket: str = "e2e-unversioned", account: str = ACCOUNT
):
    fake_lacework.add_compliance_alert(
        event_id, "lacework-global-97", [(f"arn:aws:s3:::{bucket}", "us-east-1", account)]
    )


async def test_classic_webhook_is_remediated_in_auto(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42011")
    status, body = await daemon.post(classic("42011"))
    assert status == 202, body
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"
    rows = await daemon.engine.store.list_actions()
    assert [(r.record.remediation_id, str(r.record.status)) for r in rows] == [
        ("s3.enable_versioning", "remediated")
    ]
    assert rows[0].record.before_image == {"Status": None}


async def test_dry_run_plans_and_leaves_the_bucket_alone(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon(remediation={"default_mode": "dry-run"})
    versioning_alert(fake_lacework, "42012")
    status, _ = await daemon.post(classic("42012"))
    assert status == 202
    await daemon.settle()
    assert "Status" not in unversioned.get_bucket_versioning(Bucket="e2e-unversioned")
    (row,) = await daemon.engine.store.list_actions()
    assert str(row.record.status) == "planned"
    assert row.record.plan.changes[0].after == "Enabled"


async def test_redelivery_answers_200_and_adds_no_work(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42013")
    first, _ = await daemon.post(classic("42013"))
    second, body = await daemon.post(classic("42013"))
    assert (first, second) == (202, 200)
    assert "duplicate" in body["status"]
    await daemon.settle()
    third, _ = await daemon.post(classic("42013"))
    assert third == 200
    await daemon.settle()
    assert len(await daemon.engine.store.list_actions()) == 1
    assert fake_lacework.count("/api/v2/Alerts/42013") == 1


async def test_an_accepted_webhook_answers_202_with_its_inbox_id(
    start_daemon, fake_lacework, unversioned
):
    daemon = await start_daemon(remediation={"default_mode": "dry-run"})
    versioning_alert(fake_lacework, "42014")
    async with daemon.http.post(daemon.webhook_url, json=classic("42014")) as resp:
        status, raw, content_type = resp.status, await resp.read(), resp.headers["Content-Type"]
    (row,) = await daemon.engine.store.list_inbox()
    assert status == 202
    assert content_type == "application/json; charset=utf-8"
    assert raw == json.dumps({"status": "accepted", "inbox_ids": [row.id]}).encode()
    await daemon.settle()


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
async def test_header_token_route_for_eventbridge_api_destinations(
    start_daemon, fake_lacework, unversioned, header
):
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42011")
    value = f"Bearer {daemon.token}" if header == "Authorization" else daemon.token
    body = load_fixture("eventbridge_new_violations_lw_s3_16.json")
    status, _ = await daemon.post(
        body, url=f"{daemon.url}/webhooks/lacework", headers={header: value}
    )
    assert status == 202
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"


async def _rejected(daemon, expected_status, **kw):
    status, body = await daemon.post(**kw) if "body" in kw else await daemon.post(None, **kw)
    assert status == expected_status, body
    assert isinstance(body, dict) and body.get("error")
    assert "\n" not in body["error"]
    assert await daemon.engine.store.inbox_counts() == {}
    return body


async def test_rejections_store_nothing(start_daemon):
    daemon = await start_daemon(server={"max_body_bytes": 4096})
    await _rejected(
        daemon, 401, body=classic("1"), url=f"{daemon.url}/webhooks/lacework/wrong-token"
    )
    await _rejected(daemon, 401, body=classic("1"), url=f"{daemon.url}/webhooks/lacework")
    await _rejected(
        daemon,
        401,
        body=classic("1"),
        url=f"{daemon.url}/webhooks/lacework",
        headers={"Authorization": "Bearer nope"},
    )
    await _rejected(daemon, 413, body={"event_id": "1", "pad": "x" * 10000})
    await _rejected(daemon, 400, data=b"{not json", headers={"Content-Type": "application/json"})
    body = await _rejected(daemon, 422, body={"hello": "world"})
    assert "shape" in body["error"]
    status, body = await daemon.post(load_fixture("webhook_classic_test_event.json"))
    assert status == 200
    assert await daemon.engine.store.inbox_counts() == {}


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        [1, 2],
        0,
        -1.5,
        "string",
        True,
        {},
        {"event_id": None},
        {"detail": None},
        {"detail": []},
        {"detail-type": "LaceworkEvents", "detail": {"EVENT_DETAILS": "x"}},
        {"Records": [{"body": "{bad"}]},
        {"Records": "x"},
        {"data": None},
        {"data": {"alertId": None}},
        {"event_id": {"nested": []}, "rec_id": 5},
        {"\u0000": "\ud7ff"},
    ],
)
async def test_never_a_500_for_any_json_body(start_daemon, body):
    daemon = await start_daemon()
    status, _ = await daemon.post(body)
    assert status in {200, 202, 400, 422}, status


async def test_account_outside_allow_list_is_refused(start_daemon, fake_lacework, admin_client):
    daemon = await start_daemon(aws={"accounts": ["210987654321"]})
    admin_client("s3").create_bucket(Bucket="e2e-unversioned")
    versioning_alert(fake_lacework, "42014")
    await daemon.post(classic("42014"))
    await daemon.settle()
    (row,) = await daemon.engine.store.list_actions()
    assert str(row.record.status) == "refused"
    assert "not in [aws] accounts" in row.record.detail
    assert row.record.calls == []


async def test_second_account_through_assumed_role(start_daemon, fake_lacework, admin_client):
    other = "210987654321"
    s3 = admin_client("s3", account=other)
    s3.create_bucket(Bucket="other-account-bucket")
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42015", bucket="other-account-bucket", account=other)
    await daemon.post(classic("42015"))
    await daemon.settle()
    assert s3.get_bucket_versioning(Bucket="other-account-bucket")["Status"] == "Enabled"
    roles = [arn for arn, _ in daemon.engine.aws.assumed]
    assert roles == [f"arn:aws:iam::{other}:role/lw-remediate"]


async def test_unknown_rule_is_recorded_as_no_remediation(start_daemon, fake_lacework):
    daemon = await start_daemon()
    fake_lacework.add_compliance_alert(
        "42016",
        "lacework-global-9999",
        [(f"arn:aws:ec2:us-east-1:{ACCOUNT}:instance/i-1", "us-east-1", ACCOUNT)],
    )
    await daemon.post(classic("42016", rule_id="lacework-global-9999"))
    await daemon.settle()
    (row,) = await daemon.engine.store.list_actions()
    assert str(row.record.status) == "no_remediation"


@pytest.mark.parametrize(("status", "count"), [(401, 1), (429, 2), (500, 4)])
async def test_lacework_errors_delay_work_but_lose_none(
    start_daemon, fake_lacework, unversioned, status, count
):
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42017")
    if status == 401:
        # Tokens revoked after the first one is issued: the client must refresh.
        await daemon.engine.lacework.alert_details("42017")
        fake_lacework.revoke_tokens()
    else:
        fake_lacework.fail_next(
            status,
            count=count,
            path_prefix="/api/v2/Alerts",
            retry_after=0.01 if status == 429 else None,
        )
    code, _ = await daemon.post(classic("42017"))
    assert code == 202
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"
    assert fake_lacework.count("/api/v2/Alerts/42017", status if status != 401 else 401) >= 1


async def test_enrichment_outage_requeues_then_succeeds(start_daemon, fake_lacework, unversioned):
    # More failures than one client call retries (max_attempts = 3): the alert goes back to
    # the inbox, is retried later, and is remediated once the API answers.
    daemon = await start_daemon()
    versioning_alert(fake_lacework, "42018")
    fake_lacework.fail_next(503, count=5, path_prefix="/api/v2/Alerts")
    await daemon.post(classic("42018"))
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"
    (inbox,) = await daemon.engine.store.list_inbox()
    assert inbox.attempts >= 2 and inbox.state == "done"


async def test_unenrichable_alert_ends_dead_and_listed(start_daemon, fake_lacework):
    daemon = await start_daemon(remediation={"enrich_max_attempts": 2})
    status, _ = await daemon.post(classic("404404"))  # the API never learns this alert
    assert status == 202
    await daemon.settle()
    (inbox,) = await daemon.engine.store.list_inbox(state="dead")
    assert inbox.event_id == "404404" and "no alert" in (inbox.last_error or "")
    assert await daemon.engine.store.list_actions() == []


async def test_timeouts_delay_but_lose_nothing(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon(lacework={"request_timeout_seconds": 0.2})
    versioning_alert(fake_lacework, "42019")
    fake_lacework.fail_next(200, count=1, path_prefix="/api/v2/Alerts", delay=1.0)
    await daemon.post(classic("42019"))
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"


async def test_health_readiness_and_metrics(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon()
    async with daemon.http.get(f"{daemon.url}/healthz") as resp:
        assert resp.status == 200
    async with daemon.http.get(f"{daemon.url}/readyz") as resp:
        assert resp.status == 200
        assert (await resp.json())["checks"] == {
            "store": True,
            "maps": True,
            "worker": True,
            "lacework": True,  # not rejected (verified in the background)
        }
    versioning_alert(fake_lacework, "42020")
    await daemon.post(classic("42020"))
    await daemon.post({"nope": 1})
    await daemon.settle()
    async with daemon.http.get(f"{daemon.url}/metrics") as resp:
        text = await resp.text()
    assert 'lw_remediate_alerts_received_total{result="accepted",shape="classic"} 1.0' in text
    assert 'lw_remediate_alerts_received_total{result="unknown_shape",shape="unknown"} 1.0' in text
    assert (
        'lw_remediate_actions_total{remediation_id="s3.enable_versioning",status="remediated"} 1.0'
        in text
    )
    assert 'lw_remediate_queue_depth{state="done"} 1.0' in text
    assert "lw_remediate_ingest_seconds_bucket" in text


async def test_secrets_never_reach_the_logs(start_daemon, fake_lacework, unversioned):
    # The action's ids are bound through contextvars, merged as configure_logging does.
    with structlog.testing.capture_logs(
        processors=[structlog.contextvars.merge_contextvars]
    ) as logs:
        daemon = await start_daemon()
        versioning_alert(fake_lacework, "42021")
        await daemon.post(classic("42021"))
        await daemon.post(classic("42021"), url=f"{daemon.url}/webhooks/lacework/wrong")
        await daemon.settle()
    text = json.dumps(logs, default=str)
    assert any(e["event"] == "action_finished" for e in logs)
    for secret in (daemon.token, fake_lacework.secret):
        assert secret not in text
    finished = next(e for e in logs if e["event"] == "action_finished")
    assert (
        finished["status"] == "remediated" and finished["remediation_id"] == "s3.enable_versioning"
    )


async def test_dead_alert_is_listed_and_can_be_retried(start_daemon, fake_lacework, unversioned):
    daemon = await start_daemon(
        remediation={"enrich_max_attempts": 1}, server={"admin_token": "admin-" + "x" * 24}
    )
    admin = {"Authorization": "Bearer admin-" + "x" * 24}
    await daemon.post(classic("42031"))  # Lacework does not know this alert yet
    await daemon.settle()
    async with daemon.http.get(f"{daemon.url}/admin/inbox?state=dead", headers=admin) as resp:
        (dead,) = await resp.json()
    assert dead["event_id"] == "42031" and dead["attempts"] == 1
    versioning_alert(fake_lacework, "42031")  # the cause is fixed
    async with daemon.http.post(
        f"{daemon.url}/admin/inbox/{dead['inbox_id']}/retry", json={"by": "ops"}, headers=admin
    ) as resp:
        assert resp.status == 200, await resp.text()
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"
    async with daemon.http.post(
        f"{daemon.url}/admin/inbox/{dead['inbox_id']}/retry", json={}, headers=admin
    ) as resp:
        assert resp.status == 409  # done now, not dead
    events = await daemon.engine.store.audit_events()
    assert any(e.kind == "inbox_retried" and e.actor == "ops" for e in events)


async def test_a_remediation_can_run_under_its_own_role(start_daemon, fake_lacework, unversioned):
    # e.g. privilege-sensitive remediations under a separate, separately audited role
    daemon = await start_daemon(
        remediation={"s3.enable_versioning": {"role_name": "lw-remediate-s3-only"}}
    )
    versioning_alert(fake_lacework, "42041")
    await daemon.post(classic("42041"))
    await daemon.settle()
    assert unversioned.get_bucket_versioning(Bucket="e2e-unversioned")["Status"] == "Enabled"
    assert [arn for arn, _ in daemon.engine.aws.assumed] == [
        f"arn:aws:iam::{ACCOUNT}:role/lw-remediate-s3-only"
    ]
