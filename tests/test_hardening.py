"""Issue 15: one bad body never stops the worker; no secret in logs; approvals bind to
the plan. Each numbered case of the issue has its regression test here, through the
real HTTP endpoint, the real worker, moto and the fake Lacework API."""

from __future__ import annotations

import json

import pytest
import structlog

from lw_remediate.logs import configure_logging
from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import daemon_config, to_toml

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


# -- case 4 and redaction by value ------------------------------------------------------


async def run_cli(*args: str) -> tuple[int, str, str]:
    import asyncio
    import os
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from lw_remediate.cli import main; main()",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    return proc.returncode or 0, out.decode(), err.decode()


def secrets_of(config) -> dict[str, str]:
    return {
        "webhook token": config.server.resolved_webhook_token(),
        "admin token": config.server.resolved_admin_token(),
        "lacework secret": config.lacework.resolved_secret(),
        "lacework key id": config.lacework.key_id,
        "slack url": config.notify.slack.resolved_url(),
    }


def assert_no_secret(where: str, data: bytes, secrets: dict[str, str]) -> None:
    for name, value in secrets.items():
        for form in {value, json.dumps(value)[1:-1]}:
            assert form.encode() not in data, f"the {name} appears in {where}"


async def test_case4_no_secret_in_logs_store_or_cli_output(
    start_daemon, fake_lacework, s3, tmp_path, moto_server
):
    """Case 4: the webhook token was logged in request paths, the Lacework key id was in
    the inbox's last_error, the alert_dead line and ``inbox list``."""
    log_path = tmp_path / "daemon.log"
    overrides = {
        "server": {
            "webhook_token": "wh-" + "t0k3n" * 5,
            "admin_token": "adm-" + "s3cr3t" * 4,
        },
        # The wrong secret: the token call is refused with a message naming the key id.
        "lacework": {**fake_lacework.config, "secret": "wrong-secret-" + "9" * 20},
        "remediation": {"enrich_max_attempts": 1},
        "notify": {"slack": {"webhook_url": "https://127.0.0.1:9/services/T0/B0/sl4ck"}},
    }
    with log_path.open("w") as stream:
        configure_logging(level="debug", json=True, stream=stream)
        daemon = await start_daemon(**overrides)
        secrets = secrets_of(daemon.config)
        assert all(secrets.values())
        versioning_alert(fake_lacework, "900004", "harden-a")
        status, _ = await daemon.post(classic("900004"))
        assert status == 202
        # A failing request logs its path: the token in it must not reach the log.
        await daemon.post(None, data=b"{", headers={"X-Api-Key": "nope"})
        await daemon.post(classic("900005"), url=f"{daemon.url}/webhooks/lacework/wrong")
        await daemon.settle()
        (dead,) = await daemon.engine.store.list_inbox(state="dead")
        assert "Lacework rejected the API key" in (dead.last_error or "")
        assert "***" in (dead.last_error or "")
        structlog.reset_defaults()  # the file closes here; the daemon stops later
    log_text = log_path.read_bytes()
    assert b'"alert_dead"' in log_text
    assert_no_secret("the log", log_text, secrets)
    store_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("lw.sqlite3*") if p.is_file())
    assert b"Lacework rejected the API key" in store_bytes
    assert_no_secret("the store", store_bytes, secrets)

    config_path = tmp_path / "cli.toml"
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, **overrides)
    config_path.write_text(to_toml(data))
    code, out, err = await run_cli("inbox", "list", "--config", str(config_path))
    assert code == 0, err
    assert "900004" in out
    assert_no_secret("inbox list", (out + err).encode(), secrets)


# -- case 5 -----------------------------------------------------------------------------


async def test_case5_retry_after_is_kept_by_the_inbox_retry(start_daemon, fake_lacework, s3):
    """A 429 with Retry-After: 120 was asked again after 0.5 s."""
    import asyncio
    import time

    daemon = await start_daemon()
    versioning_alert(fake_lacework, "900006", "harden-a")
    fake_lacework.fail_next(429, count=1, path_prefix="/api/v2/Alerts", retry_after=120)
    before = time.time()
    status, _ = await daemon.post(classic("900006"))
    assert status == 202
    for _ in range(1000):  # until the worker has put the alert back in the queue
        (row,) = await daemon.engine.store.list_inbox()
        if row.state == "queued" and row.last_error:
            break
        await asyncio.sleep(0.01)
    assert row.state == "queued" and "retry after 120s" in (row.last_error or "")
    assert row.next_attempt_at >= before + 120
    assert fake_lacework.count("/api/v2/Alerts/900006") == 1


# -- case 8: approvals bind to the plan ---------------------------------------------------


def public_statement(sid: str, bucket: str) -> dict:
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": f"arn:aws:s3:::{bucket}/*",
    }


def put_policy(s3, bucket: str, *sids: str) -> None:
    statements = [public_statement(sid, bucket) for sid in sids]
    s3.put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": statements})
    )


def policy_sids(s3, bucket: str) -> list[str]:
    try:
        policy = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])
    except s3.exceptions.from_code("NoSuchBucketPolicy"):
        return []
    return [s.get("Sid") for s in policy["Statement"]]


def sids_removed(plan: dict) -> list[str]:
    return [
        c["before"]["Sid"] for c in plan["changes"] if c["operation"] == "remove_policy_statement"
    ]


async def test_case8_an_approval_applies_only_the_approved_plan(start_daemon, fake_lacework, s3):
    from .test_safety_e2e import admin, audit_kinds, start

    bucket = "harden-a"
    put_policy(s3, bucket, "Open")
    daemon, alerts, _ = await start(
        start_daemon, fake_lacework, remediation={"default_mode": "approve"}
    )
    await alerts.post("LW_S3_11", bucket)
    (row,) = await daemon.engine.store.list_actions()
    action = row.record
    assert action.status is not None and str(action.status) == "awaiting_approval"
    assert sids_removed(action.plan.to_dict()) == ["Open"]

    put_policy(s3, bucket, "Open", "AlsoOpen")  # a second public statement meanwhile
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/approve", {"by": "ann"})
    assert status == 200, body
    assert body["status"] == "awaiting_approval", body
    assert body["detail"].startswith("the plan changed since it was approved")
    assert policy_sids(s3, bucket) == ["Open", "AlsoOpen"]  # nothing applied

    events = await daemon.engine.store.audit_events(action_id=action.id, limit=100)
    superseded = next(e for e in events if e.kind == "approval_superseded")
    old, new = superseded.data["approved_plan"], superseded.data["new_plan"]
    assert sids_removed(old) == ["Open"]
    assert sids_removed(new) == ["Open", "AlsoOpen"]
    kinds = [k for k, _ in await audit_kinds(daemon, action.id)]
    assert kinds == [
        "approval_requested",
        "approved",
        "approval_superseded",
        "approval_requested",
    ]
    requested = [e for e in events if e.kind == "approval_requested"]
    assert {len(e.data["plan"]["changes"]) for e in requested} == {
        len(old["changes"]),
        len(new["changes"]),
    }
    stored = (await daemon.engine.store.get_action(action.id)).record
    assert stored.plan.to_dict() == new
    assert (await daemon.engine.store.get_action(action.id)).approver is None

    # Approving the new plan applies exactly it.
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/approve", {"by": "bo"})
    assert status == 200, body
    assert body["status"] == "remediated", body
    assert policy_sids(s3, bucket) == []


# -- cases 9 and 10: exemptions and the one action schema ---------------------------------


async def test_case9_an_expiry_is_audited_once(start_daemon, fake_lacework, s3):
    from lw_remediate.operate.control import Control
    from lw_remediate.web.admin import housekeeping_round

    from .test_safety_e2e import start

    daemon, alerts, _ = await start(
        start_daemon,
        fake_lacework,
        exemptions=[
            {
                "id": "gone",
                "arn": "arn:aws:s3:::harden-*",
                "owner": "a",
                "reason": "r",
                "expires": "2020-01-01T00:00:00Z",
            }
        ],
    )
    await alerts.post("LW_S3_16", "harden-a", "harden-b")  # two actions meet the expiry
    await alerts.post("LW_S3_16", "harden-a")  # and a later alert
    assert versioned(s3, "harden-a") and versioned(s3, "harden-b")
    await housekeeping_round(Control(daemon.engine))  # and the daemon's housekeeping
    events = await daemon.engine.store.audit_events(limit=1000)
    assert [e.kind for e in events].count("exemption_expired") == 1


async def test_case10_exemptions_that_could_never_match_are_refused(start_daemon, fake_lacework):
    from .test_safety_e2e import admin, start

    daemon, _, _ = await start(start_daemon, fake_lacework)
    base = {"owner": "ops", "reason": "why", "by": "ann"}
    status, body = await admin(daemon, "POST", "/admin/exemptions", {**base, "rule": "LW_S3_999"})
    assert status == 400 and "no installed remediation handles 'LW_S3_999'" in body["error"]
    status, body = await admin(
        daemon,
        "POST",
        "/admin/exemptions",
        {**base, "rule": "LW_S3_16", "remediation": "s3.remove_public_policy_statements"},
    )
    assert status == 400 and "does not handle 'LW_S3_16'" in body["error"], body
    status, body = await admin(daemon, "POST", "/admin/exemptions", {**base, "rule": "LW_S3_16"})
    assert status == 201 and body["warnings"] == [
        "no expiry: this exemption holds until it is removed (give expires, e.g. 90d, to review it)"
    ]
    status, body = await admin(
        daemon, "POST", "/admin/exemptions", {**base, "rule": "LW_S3_16", "expires": "2999-01-01"}
    )
    assert status == 201 and "warnings" not in body
    listed = (await admin(daemon, "GET", "/admin/exemptions"))[1]
    assert len(listed) == 2


async def test_case10_one_action_schema_for_the_admin_api_and_history(
    start_daemon, fake_lacework, s3, tmp_path, moto_server
):
    from .test_safety_e2e import ADMIN, admin, start

    daemon, alerts, _ = await start(start_daemon, fake_lacework)
    await alerts.post("LW_S3_16", "harden-a")
    status, listed = await admin(daemon, "GET", "/admin/actions")
    assert status == 200
    (from_api,) = listed
    status, shown = await admin(daemon, "GET", f"/admin/actions/{from_api['action_id']}")
    assert {k: v for k, v in shown.items() if k not in ("approval", "audit")} == from_api

    data = daemon_config(
        moto_server.endpoint_url,
        fake_lacework,
        tmp_path,
        server={"admin_token": ADMIN},
    )
    config_path = tmp_path / "cli.toml"
    config_path.write_text(to_toml(data))
    code, out, err = await run_cli("history", "--json", "--config", str(config_path))
    assert code == 0, err
    (from_cli,) = json.loads(out)
    assert from_cli == from_api
    assert from_api["action_id"] and from_api["status"] == "remediated"
    assert from_api["violation"]["resource_arn"] == from_api["resource_arn"]


# -- cases 2 and 3: bodies that can never succeed, tokens that cannot be right ------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nests deeper than"),
        (b'{"a":' * 5_000 + b"1" + b"}" * 5_000, "nests deeper than"),
        (b'{"event_id": "\\ud800", "rec_id": "LW_S3_16"}', "lone surrogate"),
        (b'{"\\udfff": 1, "event_id": "1", "rec_id": "LW_S3_16"}', "lone surrogate"),
        (b'{"event_id": "\xed\xa0\x80", "rec_id": "LW_S3_16"}', "not valid UTF-8"),
        ('{"event_id": "900007", "rec_id": "LW_S3_16"}'.encode("utf-16"), "looks like utf-16"),
        ('{"event_id": "900007", "rec_id": "LW_S3_16"}'.encode("utf-16-be"), "utf-16-be"),
        ('{"event_id": "900007", "rec_id": "LW_S3_16"}'.encode("utf-32"), "looks like utf-32"),
    ],
)
async def test_case2_bodies_that_can_never_succeed_are_400(start_daemon, raw, reason):
    """They were 503 ("retry later"), so Lacework would send them again and again."""
    daemon = await start_daemon()
    status, body = await daemon.post(None, data=raw)
    assert status == 400, body
    assert reason in body["error"] and "\n" not in body["error"]
    assert await daemon.engine.store.inbox_counts() == {}


@pytest.mark.parametrize(
    "header",
    [
        {"X-Api-Key": "t\u00f6ken-\u2603"},
        {"Authorization": "Bearer \u00e9\u00e9\u00e9"},
    ],
)
async def test_case3_non_ascii_tokens_are_401_not_503(start_daemon, header):
    from .fuzzing import Request, send
    from .test_safety_e2e import ADMIN

    daemon = await start_daemon(server={"admin_token": ADMIN})
    port = daemon.config.server.port
    ((name, value),) = header.items()
    for method, path in (
        ("POST", "/webhooks/lacework"),
        ("GET", "/admin/actions"),
        ("POST", "/admin/kill-switch/off"),
        ("GET", "/admin/sweeps"),
    ):
        # Raw bytes on the wire, UTF-8 encoded, as curl sends them.
        request = Request(method, path, [(name, value.encode())], b"{}")
        status, body = await send("127.0.0.1", port, request, webhook=daemon.token, admin=ADMIN)
        assert status == 401, (path, body)
