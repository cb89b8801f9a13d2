"""The safety envelope end to end: the daemon on a loopback port, moto, fake Lacework.

Approvals, exemptions (live tags), budgets, the kill switch, the flap guard, undo,
scoped credentials and the admin API, each through the real HTTP and store path.
Time is moved with the safety clock (``engine.safety.clock``), never slept through.
"""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from lw_map_s3.remediations.versioning import REMEDIATION as VERSIONING
from lw_remediate.model import Status
from lw_remediate.notify import NotificationKind
from lw_remediate.operate.control import Control
from lw_remediate.testing.fake_lacework import load_fixture
from lw_remediate.web.admin import housekeeping_round

ACCOUNT = "123456789012"
ADMIN = "admin-" + secrets.token_urlsafe(24)
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


class Recorder:
    """A notifier that keeps what it is sent."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent = []

    async def notify(self, notification) -> None:
        self.sent.append(notification)

    def kinds(self, kind):
        return [n for n in self.sent if n.kind is kind]


def classic(event_id: str, rule_id: str) -> dict[str, str]:
    body = load_fixture("webhook_classic_compliance_lw_s3_16.json")
    body.update(event_id=event_id, rec_id=rule_id)
    return body


class Alerts:
    """Posts compliance alerts for buckets: the fake API learns them first."""

    def __init__(self, daemon, fake_lacework) -> None:
        self.daemon = daemon
        self.fake = fake_lacework
        self.n = 50000

    async def post(self, rule: str, *buckets: str, settle: bool = True) -> int:
        self.n += 1
        resources = [(f"arn:aws:s3:::{b}", "us-east-1", ACCOUNT) for b in buckets]
        self.fake.add_compliance_alert(str(self.n), rule, resources)
        status, body = await self.daemon.post(classic(str(self.n), rule))
        assert status == 202, body
        if settle:
            await self.daemon.settle()
        return status


async def start(start_daemon, fake_lacework, **overrides):
    server = {"admin_token": ADMIN, **overrides.pop("server", {})}
    daemon = await start_daemon(server=server, **overrides)
    recorder = Recorder()
    daemon.engine.notifiers.notifiers.append(recorder)
    return daemon, Alerts(daemon, fake_lacework), recorder


async def admin(daemon, method: str, path: str, body=None, *, token: str | None = ADMIN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": body} if body is not None else {}
    async with daemon.http.request(
        method, f"{daemon.url}{path}", headers=headers, **kwargs
    ) as resp:
        return resp.status, json.loads(await resp.text())


async def actions_by_bucket(daemon):
    rows = await daemon.engine.store.list_actions(limit=1000)
    return {r.record.violation.resource_name: r.record for r in reversed(rows)}


async def audit_kinds(daemon, action_id=None):
    events = await daemon.engine.store.audit_events(action_id=action_id, limit=1000)
    return [(e.kind, e.actor) for e in reversed(events)]


def touch(path: str) -> None:
    Path(path).touch()


def versioning(s3, bucket):
    return s3.get_bucket_versioning(Bucket=bucket).get("Status")


@pytest.fixture
def s3(admin_client):
    return admin_client("s3")


# -- approvals ---------------------------------------------------------------------------


async def test_approved_action_runs_after_a_fresh_check(start_daemon, fake_lacework, s3):
    for bucket in ("appr-a", "appr-b"):
        s3.create_bucket(Bucket=bucket)
    daemon, alerts, recorder = await start(
        start_daemon, fake_lacework, remediation={"default_mode": "approve"}
    )
    await alerts.post("LW_S3_16", "appr-a", "appr-b")
    actions = await actions_by_bucket(daemon)
    a, b = actions["appr-a"], actions["appr-b"]
    assert {a.status, b.status} == {Status.AWAITING_APPROVAL}
    assert a.plan.changes[0].after == "Enabled"
    assert versioning(s3, "appr-a") is None and versioning(s3, "appr-b") is None
    requested = recorder.kinds(NotificationKind.APPROVAL_REQUESTED)
    assert {n.action_id for n in requested} == {a.id, b.id}
    assert all(n.data["plan"]["summary"] for n in requested)

    status, body = await admin(daemon, "POST", f"/admin/actions/{a.id}/approve", {"by": "alice"})
    assert status == 200, body
    assert body["status"] == "remediated" and body["mode"] == "approve"
    assert versioning(s3, "appr-a") == "Enabled"
    row = await daemon.engine.store.get_action(a.id)
    assert row.approver == "alice"
    ops = [c.operation for c in row.record.calls]
    assert ops.count("GetBucketVersioning") >= 2 and "PutBucketVersioning" in ops
    assert ("approved", "alice") in await audit_kinds(daemon, a.id)

    # Someone fixes appr-b by hand before it is approved: the fresh check sees it.
    s3.put_bucket_versioning(Bucket="appr-b", VersioningConfiguration={"Status": "Enabled"})
    status, body = await admin(daemon, "POST", f"/admin/actions/{b.id}/approve", {"by": "bob"})
    assert status == 200, body
    assert body["status"] == "resolved", body
    calls = (await daemon.engine.store.get_action(b.id)).record.calls
    assert "PutBucketVersioning" not in [c.operation for c in calls]

    # Approving twice is refused, and changes nothing.
    status, body = await admin(daemon, "POST", f"/admin/actions/{a.id}/approve", {"by": "eve"})
    assert status == 409 and "awaiting approval" in body["error"]


async def test_expired_approval_does_not_run(start_daemon, fake_lacework, s3):
    for bucket in ("exp-a", "exp-b"):
        s3.create_bucket(Bucket=bucket)
    daemon, alerts, recorder = await start(
        start_daemon,
        fake_lacework,
        remediation={"default_mode": "approve"},
        safety={"approval_ttl_seconds": 3600},
    )
    await alerts.post("LW_S3_16", "exp-a", "exp-b")
    actions = await actions_by_bucket(daemon)
    later = time.time() + 3601
    daemon.engine.safety.clock = lambda: later

    status, body = await admin(daemon, "POST", f"/admin/actions/{actions['exp-a'].id}/approve")
    assert status == 409 and "approval window" in body["error"], body
    row = await daemon.engine.store.get_action(actions["exp-a"].id)
    assert row.record.status is Status.REFUSED
    assert row.record.detail.startswith("approval expired")
    assert versioning(s3, "exp-a") is None
    assert ("approval_expired", "lw-remediate") in await audit_kinds(daemon, row.record.id)

    # The daemon's housekeeping ends the other one without anybody asking.
    await housekeeping_round(Control(daemon.engine))
    row = await daemon.engine.store.get_action(actions["exp-b"].id)
    assert row.record.status is Status.REFUSED and "approval expired" in row.record.detail
    assert versioning(s3, "exp-b") is None
    refused = [n for n in recorder.kinds(NotificationKind.OUTCOME) if n.status == "refused"]
    assert {n.action_id for n in refused} == {actions["exp-a"].id, actions["exp-b"].id}


async def test_reject_closes_the_action(start_daemon, fake_lacework, s3):
    s3.create_bucket(Bucket="rej")
    daemon, alerts, _ = await start(
        start_daemon, fake_lacework, remediation={"default_mode": "approve"}
    )
    await alerts.post("LW_S3_16", "rej")
    action = (await actions_by_bucket(daemon))["rej"]
    status, body = await admin(
        daemon, "POST", f"/admin/actions/{action.id}/reject", {"by": "carol", "reason": "freeze"}
    )
    assert status == 200, body
    assert body["status"] == "refused" and body["detail"] == "rejected by carol: freeze"
    assert versioning(s3, "rej") is None
    assert ("rejected", "carol") in await audit_kinds(daemon, action.id)
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/approve")
    assert status == 409


# -- exemptions --------------------------------------------------------------------------


async def test_tag_exemption_read_from_the_live_bucket(start_daemon, fake_lacework, s3):
    for bucket in ("tagged", "untagged"):
        s3.create_bucket(Bucket=bucket)
    s3.put_bucket_tagging(
        Bucket="tagged", Tagging={"TagSet": [{"Key": "lw-remediate:skip", "Value": "true"}]}
    )
    daemon, alerts, _ = await start(
        start_daemon,
        fake_lacework,
        exemptions=[
            {
                "id": "skip-tag",
                "tag": {"key": "lw-remediate:skip", "value": "true"},
                "owner": "web-team",
                "reason": "owners opt out by tag",
            }
        ],
    )
    await alerts.post("LW_S3_16", "tagged", "untagged")
    actions = await actions_by_bucket(daemon)
    assert actions["tagged"].status is Status.EXEMPTED
    assert "skip-tag" in actions["tagged"].detail and "web-team" in actions["tagged"].detail
    assert actions["tagged"].calls == []  # the remediation never touched it
    assert versioning(s3, "tagged") is None
    assert actions["untagged"].status is Status.REMEDIATED
    assert ("exempted", "lw-remediate") in await audit_kinds(daemon, actions["tagged"].id)
    # The tags were read in a session narrowed to what the core needs for that.
    policies = [p for _, p in daemon.engine.aws.assumed if p]
    tag_policies = [p for p in policies if "s3:GetBucketTagging" in json.dumps(p)]
    assert tag_policies and "s3:PutBucketVersioning" not in json.dumps(tag_policies)

    # Read live, every time: once the tag is gone, the bucket is remediated.
    s3.delete_bucket_tagging(Bucket="tagged")
    await alerts.post("LW_S3_16", "tagged")
    assert (await actions_by_bucket(daemon))["tagged"].status is Status.REMEDIATED
    assert versioning(s3, "tagged") == "Enabled"


async def test_expired_exemption_no_longer_stops_the_action(start_daemon, fake_lacework, s3):
    for bucket in ("old-ex", "soon-ex"):
        s3.create_bucket(Bucket=bucket)
    expires = time.time() + 3600
    daemon, alerts, recorder = await start(
        start_daemon,
        fake_lacework,
        exemptions=[
            {
                "id": "long-gone",
                "arn": "arn:aws:s3:::old-ex",
                "owner": "a",
                "reason": "r",
                "expires": "2020-01-01T00:00:00Z",
            },
            {
                "id": "soon",
                "arn": "arn:aws:s3:::soon-*",
                "rule": "lacework-global-97",
                "owner": "b",
                "reason": "until the migration",
                "expires": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires)),
            },
        ],
    )
    await alerts.post("LW_S3_16", "old-ex", "soon-ex")
    actions = await actions_by_bucket(daemon)
    assert actions["old-ex"].status is Status.REMEDIATED
    assert actions["soon-ex"].status is Status.EXEMPTED and "soon" in actions["soon-ex"].detail
    # Reported once (by the first to meet it: housekeeping or an action), not per action.
    events = await daemon.engine.store.audit_events(limit=1000)
    assert [(e.kind, e.actor) for e in events].count(("exemption_expired", "lw-remediate")) == 1
    expired = recorder.kinds(NotificationKind.EXEMPTION_EXPIRED)
    assert [n.text for n in expired] == [
        "exemption long-gone expired; matching violations are remediated again"
    ]

    # Once "soon" expires it stops applying too (and is reported once).
    after = expires + 1
    daemon.engine.safety.clock = lambda: after
    await alerts.post("LW_S3_16", "soon-ex")
    assert (await actions_by_bucket(daemon))["soon-ex"].status is Status.REMEDIATED
    assert versioning(s3, "soon-ex") == "Enabled"
    assert len(recorder.kinds(NotificationKind.EXEMPTION_EXPIRED)) == 2
    status, listed = await admin(daemon, "GET", "/admin/exemptions")
    assert status == 200
    assert {e["id"]: e["expired"] for e in listed} == {"long-gone": True, "soon": True}


async def test_exempted_resource_is_tagged_kaholo_style(start_daemon, fake_lacework, s3):
    s3.create_bucket(Bucket="site-bucket")
    s3.put_bucket_tagging(
        Bucket="site-bucket", Tagging={"TagSet": [{"Key": "team", "Value": "web"}]}
    )
    daemon, alerts, _ = await start(
        start_daemon,
        fake_lacework,
        exemptions=[{"arn": "arn:aws:s3:::site-*", "owner": "web", "reason": "site"}],
        safety={"tag_exempted_resources": ["s3.enable_versioning"]},
    )
    await alerts.post("LW_S3_16", "site-bucket")
    action = (await actions_by_bucket(daemon))["site-bucket"]
    assert action.status is Status.EXEMPTED and "tagged lw-remediate:exempted=true" in action.detail
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket="site-bucket")["TagSet"]}
    assert tags == {"team": "web", "lw-remediate:exempted": "true"}  # other tags kept
    assert versioning(s3, "site-bucket") is None


# -- budgets -----------------------------------------------------------------------------


@pytest.mark.parametrize("budget", ["per_rule_per_hour", "per_account_per_hour", "global_per_hour"])
async def test_budget_stops_the_n_plus_first_change(start_daemon, fake_lacework, s3, budget):
    buckets = [f"budget-{i}" for i in range(3)]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    daemon, alerts, recorder = await start(start_daemon, fake_lacework, budgets={budget: 2})
    await alerts.post("LW_S3_16", *buckets)  # three changes at once, two allowed
    statuses = sorted(str(a.status) for a in (await actions_by_bucket(daemon)).values())
    assert statuses == ["refused", "remediated", "remediated"]
    refused = next(
        a for a in (await actions_by_bucket(daemon)).values() if a.status is Status.REFUSED
    )
    assert (
        refused.detail.startswith("budget exceeded") and f"budgets.{budget} = 2" in refused.detail
    )
    assert versioning(s3, refused.violation.resource_name) is None
    assert "PutBucketVersioning" not in [c.operation for c in refused.calls]
    assert len(recorder.kinds(NotificationKind.BUDGET_EXCEEDED)) == 1
    assert ("budget", "lw-remediate") in await audit_kinds(daemon, refused.id)

    # An hour later the budget has room again.
    later = time.time() + 3601
    daemon.engine.safety.clock = lambda: later
    await alerts.post("LW_S3_16", refused.violation.resource_name)
    assert versioning(s3, refused.violation.resource_name) == "Enabled"


# -- the kill switch ---------------------------------------------------------------------


async def test_kill_switch_file_pauses_apply_while_ingest_answers_202(
    start_daemon, fake_lacework, s3
):
    s3.create_bucket(Bucket="paused")
    daemon, alerts, recorder = await start(start_daemon, fake_lacework)
    switch = daemon.engine.safety.kill_switch
    touch(switch.path)  # by hand, as an operator on the host would
    assert await alerts.post("LW_S3_16", "paused") == 202
    action = (await actions_by_bucket(daemon))["paused"]
    assert action.status is Status.AWAITING_APPROVAL
    assert action.detail.startswith("paused by the kill switch")
    assert action.plan is not None and action.plan.changes  # planning went on
    assert "PutBucketVersioning" not in [c.operation for c in action.calls]
    assert versioning(s3, "paused") is None
    assert len(recorder.kinds(NotificationKind.KILL_SWITCH)) == 1
    status, state = await admin(daemon, "GET", "/admin/kill-switch")
    assert status == 200 and state["on"] is True and state["paused"] == [action.id]

    # Approving while the switch is on is refused; off, then approve runs it.
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/approve")
    assert status == 409 and "kill switch on" in body["error"]
    status, state = await admin(daemon, "POST", "/admin/kill-switch/off", {"by": "dave"})
    assert status == 200 and state["on"] is False and not switch.is_on()
    status, body = await admin(
        daemon, "POST", f"/admin/actions/{action.id}/approve", {"by": "dave"}
    )
    assert status == 200 and body["status"] == "remediated" and body["mode"] == "auto"
    assert versioning(s3, "paused") == "Enabled"


async def test_kill_switch_through_the_api_pauses_every_apply(start_daemon, fake_lacework, s3):
    buckets = [f"ks-{i}" for i in range(4)]
    for bucket in buckets:
        s3.create_bucket(Bucket=bucket)
    daemon, alerts, recorder = await start(start_daemon, fake_lacework)
    status, state = await admin(
        daemon, "POST", "/admin/kill-switch/on", {"by": "erin", "reason": "incident 7"}
    )
    assert status == 200 and state["on"] and state["by"] == "erin"
    for bucket in buckets:  # ingest keeps answering 202 while paused
        assert await alerts.post("LW_S3_16", bucket, settle=False) == 202
    await daemon.settle()
    actions = await actions_by_bucket(daemon)
    assert {str(a.status) for a in actions.values()} == {"awaiting_approval"}
    assert all(versioning(s3, b) is None for b in buckets)
    assert [n.text for n in recorder.kinds(NotificationKind.KILL_SWITCH)] == [
        "kill switch ON by erin: every apply is paused (incident 7)"
    ]
    kinds = await audit_kinds(daemon)
    assert ("kill_switch_on", "erin") in kinds and kinds.count(("paused", "lw-remediate")) == 4


# -- the flap guard ----------------------------------------------------------------------


async def test_flapping_resource_is_left_alone(start_daemon, fake_lacework, s3):
    s3.create_bucket(Bucket="flappy")
    daemon, alerts, recorder = await start(
        start_daemon, fake_lacework, safety={"flap_max_changes": 2}
    )
    for _ in range(2):  # remediated; someone (IaC) suspends it again
        await alerts.post("LW_S3_16", "flappy")
        assert versioning(s3, "flappy") == "Enabled"
        s3.put_bucket_versioning(Bucket="flappy", VersioningConfiguration={"Status": "Suspended"})
    await alerts.post("LW_S3_16", "flappy")
    action = (await actions_by_bucket(daemon))["flappy"]
    assert action.status is Status.REFUSED and action.detail.startswith("flapping:")
    assert action.calls == []  # not even read
    assert versioning(s3, "flappy") == "Suspended"
    assert len(recorder.kinds(NotificationKind.FLAPPING)) == 1
    await alerts.post("LW_S3_16", "flappy")  # still left alone, no second notification
    assert (await actions_by_bucket(daemon))["flappy"].detail.startswith("flapping:")
    assert len(recorder.kinds(NotificationKind.FLAPPING)) == 1

    status, flapping = await admin(daemon, "GET", "/admin/flapping")
    assert status == 200 and [f["resource_arn"] for f in flapping] == ["arn:aws:s3:::flappy"]
    status, cleared = await admin(
        daemon,
        "POST",
        "/admin/flapping/clear",
        {"resource_arn": "arn:aws:s3:::flappy", "rule_id": "lacework-global-97", "by": "frank"},
    )
    assert status == 200 and cleared[0]["cleared_by"] == "frank"
    await alerts.post("LW_S3_16", "flappy")
    assert versioning(s3, "flappy") == "Enabled"
    assert ("flap_cleared", "frank") in await audit_kinds(daemon)


# -- undo --------------------------------------------------------------------------------


def public_grants(s3, bucket):
    grants = s3.get_bucket_acl(Bucket=bucket)["Grants"]
    return {g["Permission"] for g in grants if g["Grantee"].get("URI") == ALL_USERS}


async def test_undo_restores_an_acl_and_refuses_after_it_changed_again(
    start_daemon, fake_lacework, s3
):
    for bucket in ("undo-me", "changed-since"):
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
        assert public_grants(s3, bucket) == {"READ"}
    daemon, alerts, _ = await start(start_daemon, fake_lacework)
    await alerts.post("LW_S3_1", "undo-me", "changed-since")
    actions = await actions_by_bucket(daemon)
    assert {str(a.status) for a in actions.values()} == {"remediated"}
    assert public_grants(s3, "undo-me") == set() == public_grants(s3, "changed-since")

    status, body = await admin(
        daemon, "POST", f"/admin/actions/{actions['undo-me'].id}/undo", {"by": "gina"}
    )
    assert status == 200, body
    assert body["status"] == "reverted" and "restored the ACL" in body["detail"]
    assert public_grants(s3, "undo-me") == {"READ"}
    assert ("undone", "gina") in await audit_kinds(daemon, actions["undo-me"].id)

    # Somebody changes the ACL again: undo would clobber it, so it is refused.
    s3.put_bucket_acl(Bucket="changed-since", ACL="authenticated-read")
    before = s3.get_bucket_acl(Bucket="changed-since")["Grants"]
    action_id = actions["changed-since"].id
    status, body = await admin(daemon, "POST", f"/admin/actions/{action_id}/undo", {"by": "gina"})
    assert status == 409 and "changed since" in body["error"], body
    assert s3.get_bucket_acl(Bucket="changed-since")["Grants"] == before
    row = await daemon.engine.store.get_action(action_id)
    assert row.record.status is Status.REMEDIATED
    assert ("undo_refused", "gina") in await audit_kinds(daemon, action_id)

    # A reverted action cannot be reverted twice.
    status, body = await admin(daemon, "POST", f"/admin/actions/{actions['undo-me'].id}/undo")
    assert status == 409 and "already reverted" in body["error"]


# -- scoped credentials ------------------------------------------------------------------


def without_sids(document):
    statements = [{k: v for k, v in st.items() if k != "Sid"} for st in document["Statement"]]
    return {**document, "Statement": statements}


def moto_assumed_roles(account=ACCOUNT):
    from moto.sts.models import sts_backends

    return sts_backends[account]["aws"].assumed_roles


@pytest.mark.parametrize("session_policy", [True, False])
async def test_session_policy_reaches_assume_role(start_daemon, fake_lacework, s3, session_policy):
    s3.create_bucket(Bucket="scoped")
    _, alerts, _ = await start(start_daemon, fake_lacework, aws={"session_policy": session_policy})
    await alerts.post("LW_S3_16", "scoped")
    assert versioning(s3, "scoped") == "Enabled"
    received = [
        r for r in moto_assumed_roles() if r.session_name == "lw-remediate-s3-enable_versioning"
    ]
    assert len(received) == 1
    assert received[0].role_arn == f"arn:aws:iam::{ACCOUNT}:role/lw-remediate"
    if not session_policy:
        assert received[0].policy is None
        return
    declared = VERSIONING.policy_for(revert=True).render(account=ACCOUNT)
    sent = json.loads(received[0].policy)
    assert without_sids(sent) == without_sids(declared)  # Sids may be dropped for size
    actions = {a for st in declared["Statement"] for a in st["Action"]}
    assert actions == {"s3:GetBucketVersioning", "s3:PutBucketVersioning"}


# -- the admin API -----------------------------------------------------------------------


async def test_admin_api_needs_its_own_token(start_daemon):
    daemon = await start_daemon(server={"admin_token": ADMIN})
    for token in (None, "wrong-token", daemon.token):
        status, body = await admin(daemon, "GET", "/admin/actions", token=token)
        assert status == 401 and body == {"error": "missing or wrong admin token"}
        status, _ = await admin(daemon, "POST", "/admin/kill-switch/on", {}, token=token)
        assert status == 401
    assert not daemon.engine.safety.kill_switch.is_on()
    async with daemon.http.get(f"{daemon.url}/admin/actions", headers={"X-Api-Key": ADMIN}) as resp:
        assert resp.status == 200
    # The admin token never opens the webhook either.
    status, _ = await daemon.post(
        classic("1", "LW_S3_16"), url=f"{daemon.url}/webhooks/lacework/{ADMIN}"
    )
    assert status == 401


async def test_admin_api_is_off_without_a_token(start_daemon):
    daemon = await start_daemon()
    status, body = await admin(daemon, "GET", "/admin/actions", token=daemon.token)
    assert status == 404 and "admin API is off" in body["error"]


async def test_admin_token_must_differ_from_the_webhook_token(start_daemon):
    from lw_remediate.errors import ConfigError

    token = secrets.token_urlsafe(24)
    with pytest.raises(ConfigError, match="must differ"):
        await start_daemon(server={"webhook_token": token, "admin_token": token})


async def test_each_admin_call(start_daemon, fake_lacework, s3):
    s3.create_bucket(Bucket="adm")
    daemon, alerts, _ = await start(
        start_daemon, fake_lacework, remediation={"default_mode": "approve"}
    )
    await alerts.post("LW_S3_16", "adm")
    action = (await actions_by_bucket(daemon))["adm"]

    status, listed = await admin(daemon, "GET", "/admin/actions?status=awaiting_approval")
    assert status == 200 and [a["action_id"] for a in listed] == [action.id]
    assert (await admin(daemon, "GET", "/admin/actions?status=nope"))[0] == 400
    assert (await admin(daemon, "GET", "/admin/actions?limit=x"))[0] == 400
    status, shown = await admin(daemon, "GET", f"/admin/actions/{action.id}")
    assert status == 200 and shown["status"] == "awaiting_approval"
    assert shown["approval"]["expires_at"] and shown["approval"]["decision"] is None
    assert [e["kind"] for e in shown["audit"]] == ["approval_requested"]
    assert (await admin(daemon, "GET", "/admin/actions/nope"))[0] == 404
    for verb in ("approve", "reject", "undo"):
        assert (await admin(daemon, "POST", f"/admin/actions/nope/{verb}", {}))[0] == 404

    status, added = await admin(
        daemon,
        "POST",
        "/admin/exemptions",
        {"arn": "arn:aws:s3:::adm-*", "owner": "o", "reason": "r", "by": "hank"},
    )
    assert status == 201 and added["created_by"] == "hank" and added["source"] == "store"
    status, body = await admin(daemon, "POST", "/admin/exemptions", {"owner": "o", "reason": "r"})
    assert status == 400 and "at least one of" in body["error"]
    status, body = await admin(
        daemon, "POST", "/admin/exemptions", {"remediation": "s3.nope", "owner": "o", "reason": "r"}
    )
    assert status == 400 and "s3.nope" in body["error"]
    status, listed = await admin(daemon, "GET", "/admin/exemptions")
    assert [e["id"] for e in listed] == [added["id"]]
    status, _ = await admin(daemon, "DELETE", f"/admin/exemptions/{added['id']}?by=hank")
    assert status == 200
    assert (await admin(daemon, "DELETE", f"/admin/exemptions/{added['id']}"))[0] == 404
    assert (await admin(daemon, "GET", "/admin/exemptions"))[1] == []

    status, state = await admin(daemon, "POST", "/admin/kill-switch/on", {"reason": "drill"})
    assert status == 200 and state["by"] == "admin-api"
    status, state = await admin(daemon, "POST", "/admin/kill-switch/off")
    assert status == 200 and not state["on"]
    assert (await admin(daemon, "GET", "/admin/flapping")) == (200, [])
    status, body = await admin(
        daemon, "POST", "/admin/flapping/clear", {"resource_arn": "arn:aws:s3:::adm"}
    )
    assert status == 404
    assert (await admin(daemon, "POST", "/admin/flapping/clear", {}))[0] == 400

    async with daemon.http.post(
        f"{daemon.url}/admin/actions/{action.id}/reject",
        data=b"{not json",
        headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
    ) as resp:
        assert resp.status == 400
    daemon.config.remediations["s3.enable_versioning"] = {"mode": "off"}
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/approve")
    assert status == 409 and "is off in the configuration" in body["error"]
    del daemon.config.remediations["s3.enable_versioning"]
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/reject", {"by": "ivy"})
    assert status == 200 and body["status"] == "refused"
    status, body = await admin(daemon, "POST", f"/admin/actions/{action.id}/undo", {"by": "ivy"})
    assert status == 409 and "nothing was applied" in body["error"]

    status, events = await admin(daemon, "GET", "/admin/audit?limit=100")
    assert status == 200
    kinds = [(e["kind"], e["actor"]) for e in events]
    for expected in [
        ("exemption_added", "hank"),
        ("exemption_removed", "hank"),
        ("kill_switch_on", "admin-api"),
        ("kill_switch_off", "admin-api"),
        ("rejected", "ivy"),
        ("undo_refused", "ivy"),
    ]:
        assert expected in kinds
    assert all(e["at"].endswith("Z") for e in events)
    status, events = await admin(daemon, "GET", f"/admin/audit?action_id={action.id}")
    assert {e["action_id"] for e in events} == {action.id}


# -- the CLI next to a running daemon ----------------------------------------------------


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
    return proc.returncode, out.decode(), err.decode()


async def test_cli_controls_a_running_daemon_through_the_shared_store(
    start_daemon, fake_lacework, moto_server, s3, tmp_path
):
    from .conftest import to_toml

    s3.create_bucket(Bucket="cli-bucket")
    daemon, alerts, _ = await start(start_daemon, fake_lacework)
    config = tmp_path / "cli.toml"
    config.write_text(
        to_toml(
            {
                "aws": {
                    "region": "us-east-1",
                    "endpoint_url": moto_server.endpoint_url,
                    "role_name": "lw-remediate",
                },
                "store": {"path": daemon.config.store.path},
            }
        )
    )
    code, out, err = await run_cli("kill-switch", "on", "--by", "kim", "--config", str(config))
    assert code == 0, err
    assert daemon.engine.safety.kill_switch.is_on()  # the daemon sees the same file
    await alerts.post("LW_S3_16", "cli-bucket")
    action = (await actions_by_bucket(daemon))["cli-bucket"]
    assert action.status is Status.AWAITING_APPROVAL and versioning(s3, "cli-bucket") is None

    code, out, err = await run_cli("kill-switch", "status", "--json", "--config", str(config))
    assert json.loads(out)["paused"] == [action.id]
    code, out, err = await run_cli("approve", action.id, "--config", str(config))
    assert code == 1 and "kill switch on by kim" in err and len(err.strip().splitlines()) == 1
    code, out, err = await run_cli("kill-switch", "off", "--by", "kim", "--config", str(config))
    assert code == 0 and f"wait for approval: {action.id}" in out
    code, out, err = await run_cli("approve", action.id, "--by", "kim", "--config", str(config))
    assert code == 0, err
    assert out.startswith(f"action {action.id}: remediated")
    assert versioning(s3, "cli-bucket") == "Enabled"
    row = await daemon.engine.store.get_action(action.id)  # the daemon's view of the store
    assert row.record.status is Status.REMEDIATED and row.approver == "kim"
    code, out, err = await run_cli("audit", "--action", action.id, "--config", str(config))
    assert "approved" in out and "kim" in out
