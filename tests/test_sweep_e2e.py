"""End to end: sweeps over the fake Lacework Reports API and moto, two accounts.

Account 123456789012 has the legacy ``AWS_CIS_S3`` report (the bundled fixture, plus a
suppressed bucket listed among the violations); account 210987654321 has a current
``AWS_CIS_14`` report (``lacework-global-*`` ids) with a violating bucket and a
recommendation whose STATUS is ``Suppressed``. Each account is reached through
AssumeRole. Pause points are explicit (a credentials request that waits for an
event), never timing.
"""

from __future__ import annotations

import asyncio
import json
import os
import pty
import signal
import sys
import time
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from lw_remediate.model import Status
from lw_remediate.operate.sweep import Sweep, SweepStore, build_request
from lw_remediate.safety import Decision
from lw_remediate.testing.fake_lacework import load_fixture

from .conftest import daemon_config, to_toml

ACCOUNT = "123456789012"
OTHER = "210987654321"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
RULES = ["LW_S3_1", "LW_S3_2", "LW_S3_6"]
REPORT_TYPES = ["AWS_CIS_S3", "AWS_CIS_14"]
#: The buckets the reports say violate and that are not suppressed: (account, bucket).
VIOLATING = {
    (ACCOUNT, "lacework-remediation-test"),
    (ACCOUNT, "example-public-logs"),
    (OTHER, "other-public"),
}
FAST = {
    "rate_per_region": 0,
    "lacework_requests_per_minute": 6000,
    "progress_seconds": 0.05,
    "backoff_seconds": 0.01,
}


def legacy_report(report_time: str = "2022-10-10T16:19:48.940Z") -> dict:
    report = load_fixture("api_v2_report_aws_cis_s3_legacy.json")["data"][0]
    report["reportTime"] = report_time
    for rec in report["recommendations"]:
        if rec["REC_ID"] == "LW_S3_1":  # the suppressed bucket is listed too: it must be skipped
            rec["VIOLATIONS"].append(
                {
                    "resource": "arn:aws:s3:::example-static-site",
                    "region": "us-east-1",
                    "reasons": ["ReadAccessGranted"],
                }
            )
    return report


def current_report(report_time: str = "2024-05-02T04:12:09.118Z") -> dict:
    report = load_fixture("api_v2_report_aws_cis14_lacework_global.json")["data"][0]
    report.update(accountId=OTHER, reportTime=report_time)
    for rec in report["recommendations"]:
        rec["ACCOUNT_ID"] = OTHER
        for row in rec["VIOLATIONS"]:
            row["resource"] = row["resource"].replace(ACCOUNT, OTHER)
        if rec["REC_ID"] == "lacework-global-130":
            rec["VIOLATIONS"] = [
                {"resource": "arn:aws:s3:::other-public", "region": "us-east-1", "reasons": []}
            ]
    suppressed = dict(report["recommendations"][0])
    suppressed.update(
        REC_ID="lacework-global-135",  # LW_S3_6: AuthenticatedUsers READ
        STATUS="Suppressed",
        VIOLATIONS=[{"resource": "arn:aws:s3:::other-authenticated", "region": "us-east-1"}],
    )
    report["recommendations"].append(suppressed)
    return report


@pytest.fixture
def estate(admin_client, fake_lacework):
    """The buckets of both accounts and the two reports; returns {(account, bucket): client}."""
    east = admin_client("s3")
    west = admin_client("s3", region="us-west-2")
    other = admin_client("s3", account=OTHER)
    east.create_bucket(Bucket="lacework-remediation-test")
    # Explicit grants: moto's canned "public-read-write" grants READ only.
    owner = east.get_bucket_acl(Bucket="lacework-remediation-test")["Owner"]["ID"]
    east.put_bucket_acl(
        Bucket="lacework-remediation-test",
        GrantFullControl=f'id="{owner}"',
        GrantRead=f'uri="{ALL_USERS}"',
        GrantWrite=f'uri="{ALL_USERS}"',
    )
    west.create_bucket(
        Bucket="example-public-logs",
        ACL="public-read",
        CreateBucketConfiguration={"LocationConstraint": "us-west-2"},
    )
    east.create_bucket(Bucket="example-static-site", ACL="public-read")
    other.create_bucket(Bucket="other-public", ACL="public-read")
    other.create_bucket(Bucket="other-authenticated", ACL="authenticated-read")
    fake_lacework.add_report(ACCOUNT, "AWS_CIS_S3", legacy_report())
    fake_lacework.add_report(OTHER, "AWS_CIS_14", current_report())
    return {
        (ACCOUNT, "lacework-remediation-test"): east,
        (ACCOUNT, "example-public-logs"): west,
        (ACCOUNT, "example-static-site"): east,
        (OTHER, "other-public"): other,
        (OTHER, "other-authenticated"): other,
    }


LANE = ["lane-1", "lane-2", "lane-3"]


@pytest.fixture
def one_lane(admin_client, fake_lacework):
    """Three public buckets in one account and region: one lane, so with
    ``concurrency_per_region = 1`` the actions run strictly one after another."""
    s3 = admin_client("s3", account=OTHER)
    for name in LANE:
        s3.create_bucket(Bucket=name, ACL="public-read")
    report = current_report()
    for rec in report["recommendations"]:
        if rec["REC_ID"] == "lacework-global-130":
            rec["VIOLATIONS"] = [
                {"resource": f"arn:aws:s3:::{name}", "region": "us-east-1"} for name in LANE
            ]
    fake_lacework.add_report(OTHER, "AWS_CIS_14", report)
    return s3


def still_public(s3) -> list[str]:
    return [
        name
        for name in LANE
        if any(
            g["Grantee"].get("URI") == ALL_USERS for g in s3.get_bucket_acl(Bucket=name)["Grants"]
        )
    ]


def lane_request(daemon):
    return request_for(daemon, accounts=[OTHER], report_types=["AWS_CIS_14"], rules=["LW_S3_1"])


def group_grants(estate, key) -> set[tuple[str, str]]:
    acl = estate[key].get_bucket_acl(Bucket=key[1])
    return {
        (g["Grantee"]["URI"].rsplit("/", 1)[-1], g["Permission"])
        for g in acl["Grants"]
        if g["Grantee"].get("Type") == "Group"
    }


def public(estate) -> set[tuple[str, str]]:
    """The buckets that still grant AllUsers or AuthenticatedUsers anything."""
    return {key for key in estate if group_grants(estate, key) - {("LogDelivery", "WRITE")}}


def request_for(daemon, **kw):
    kw.setdefault("accounts", [ACCOUNT, OTHER])
    kw.setdefault("rules", RULES)
    kw.setdefault("report_types", REPORT_TYPES)
    kw.setdefault("mode", "auto")
    return build_request(daemon.config, daemon.engine.registry, **kw)


async def sweep_once(daemon, **kw) -> Sweep:
    return await Sweep(daemon.engine, request_for(daemon, **kw)).run()


async def puts(daemon) -> list[str]:
    """Every PutBucketAcl the audit trail recorded: one per bucket and rule fixed."""
    rows = await daemon.engine.store.list_actions(limit=1000)
    return sorted(
        r.record.violation.resource_name
        for r in rows
        for c in r.record.calls
        if c.operation == "PutBucketAcl"
    )


class Hold:
    """Makes the ``at``-th AWS credentials request wait for ``release``: a pause point
    inside an action that has passed the gate and holds its lane's slot."""

    def __init__(self, engine, at: int) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()
        self.calls = 0
        original = engine.aws.session_for

        async def session_for(*args, **kwargs):
            self.calls += 1
            if self.calls == at:
                self.entered.set()
                await self.release.wait()
            return await original(*args, **kwargs)

        engine.aws.session_for = session_for


# -- the sweep itself ----------------------------------------------------------------------


async def test_sweep_fixes_exactly_the_violating_resources_in_the_right_accounts(
    start_daemon, estate
):
    daemon = await start_daemon(sweep=FAST)
    sweep = await sweep_once(daemon)
    assert sweep.state == "completed"
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}
    assert group_grants(estate, (ACCOUNT, "example-static-site")) == {("AllUsers", "READ")}
    assert group_grants(estate, (OTHER, "other-authenticated")) == {("AuthenticatedUsers", "READ")}
    snap = sweep.snapshot()
    # lacework-remediation-test violates LW_S3_1 and LW_S3_2: two violations, two fixes.
    assert (snap["total"], snap["done"], snap["skipped"]) == (4, 4, 0)
    assert snap["statuses"] == {"remediated": 4}
    assert snap["rules"]["LW_S3_1"] == {"violations": 3, "remediated": 3}
    assert snap["rules"]["LW_S3_2"] == {"violations": 1, "remediated": 1}
    by_report = {(r["account_id"], r["report_type"]): r for r in snap["reports"]}
    assert by_report[(ACCOUNT, "AWS_CIS_S3")]["status"] == "ok"
    assert by_report[(ACCOUNT, "AWS_CIS_S3")]["suppressed_resources"] == 1
    assert by_report[(OTHER, "AWS_CIS_14")]["suppressed"] == 1
    assert by_report[(ACCOUNT, "AWS_CIS_14")]["status"] == "missing"
    rows = await daemon.engine.store.list_actions()
    assert {(r.record.violation.account_id, r.record.violation.resource_name) for r in rows} == (
        VIOLATING
    )
    assert all(r.record.remediation_id == "s3.remove_public_acl_grants" for r in rows)
    roles = {arn for arn, _ in daemon.engine.aws.assumed}
    assert roles == {f"arn:aws:iam::{a}:role/lw-remediate" for a in (ACCOUNT, OTHER)}
    west = next(r for r in rows if r.record.violation.resource_name == "example-public-logs")
    assert west.record.violation.region == "us-west-2"


async def test_a_second_run_finds_nothing_left_to_do(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST)
    await sweep_once(daemon)
    before = await daemon.engine.store.count_actions()
    writes = await puts(daemon)
    again = await sweep_once(daemon)
    snap = again.snapshot()
    assert again.state == "completed"
    assert (snap["total"], snap["done"], snap["skipped"]) == (4, 4, 4)
    assert snap["statuses"] == {} and again.records == []
    assert await daemon.engine.store.count_actions() == before
    assert await puts(daemon) == writes
    assert again.id != (await SweepStore(daemon.engine.store).list())[1]["id"]


async def test_a_newer_report_that_still_lists_a_fixed_bucket_is_acted_on(
    start_daemon, estate, fake_lacework
):
    daemon = await start_daemon(sweep=FAST)
    await sweep_once(daemon)
    estate[(OTHER, "other-public")].put_bucket_acl(Bucket="other-public", ACL="public-read")
    later = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 60))
    fake_lacework.add_report(OTHER, "AWS_CIS_14", current_report(report_time=later))
    sweep = await sweep_once(daemon)
    snap = sweep.snapshot()
    assert (snap["skipped"], snap["statuses"]) == (3, {"remediated": 1})
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}
    assert (await puts(daemon)).count("other-public") == 2


async def test_dry_run_plans_then_auto_applies_and_off_stays_off(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST, remediation={"default_mode": "dry-run"})
    planned = await sweep_once(daemon, mode=None)
    assert planned.snapshot()["statuses"] == {"planned": 4}
    assert len(public(estate)) == 5
    assert (await sweep_once(daemon, mode="dry-run")).snapshot()["skipped"] == 4
    applied = await sweep_once(daemon, mode="auto")
    assert applied.snapshot()["statuses"] == {"remediated": 4}
    assert len(public(estate)) == 2

    off = await start_daemon(
        sweep=FAST,
        remediation={"s3.remove_public_acl_grants": {"mode": "off"}},
        store={"path": str(Path(daemon.config.store.path).with_name("off.sqlite3"))},
    )
    estate[(OTHER, "other-public")].put_bucket_acl(Bucket="other-public", ACL="public-read")
    refused = await sweep_once(off, mode="auto")
    assert refused.snapshot()["statuses"] == {"refused": 4}
    assert all("is off in the configuration" in r.detail for r in refused.records)
    assert (OTHER, "other-public") in public(estate)


async def test_exemptions_and_budgets_through_the_engine_gate(start_daemon, estate):
    """The sweep decides nothing itself: whatever the engine's gate says holds. Each
    sweep decides exempted/refused violations again (exemptions expire, budgets refill)."""
    daemon = await start_daemon(sweep=FAST | {"concurrency_per_region": 1})
    passed: list[str] = []

    def exempt_logs(candidate):
        if candidate.violation.resource_name == "example-public-logs":
            return Decision(Status.EXEMPTED, "exemption logs-bucket (owner data-team)")
        return None

    def budget_of_two(candidate):
        if len(passed) >= 2:
            return Decision(Status.REFUSED, "budget: 2 changes per hour overall")
        passed.append(candidate.violation.resource_name)
        return None

    daemon.engine.gates[:0] = [exempt_logs, budget_of_two]
    sweep = await sweep_once(daemon)
    snap = sweep.snapshot()
    assert snap["statuses"] == {"exempted": 1, "refused": 1, "remediated": 2}
    grant = {"LW_S3_1": ("AllUsers", "READ"), "LW_S3_2": ("AllUsers", "WRITE")}
    for record in sweep.records:
        v = record.violation
        there = grant[v.rule_id] in group_grants(estate, (v.account_id, v.resource_name))
        assert there is (record.status is not Status.REMEDIATED), record
    (exempted,) = [r for r in sweep.records if r.status is Status.EXEMPTED]
    assert exempted.violation.resource_name == "example-public-logs"
    assert "owner data-team" in exempted.detail
    (refused,) = [r for r in sweep.records if r.status is Status.REFUSED]
    assert refused.detail.startswith("budget:") and refused.calls == []
    daemon.engine.gates.remove(exempt_logs)
    daemon.engine.gates.remove(budget_of_two)
    second = await sweep_once(daemon)
    assert second.snapshot()["statuses"] == {"remediated": 2}
    assert second.snapshot()["skipped"] == 2
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}


async def test_config_exemptions_and_budgets_hold_in_a_sweep(start_daemon, estate):
    """The safety envelope as configured: an ARN exemption, a tag exemption read live
    from the bucket, and a per-account budget of one change an hour."""
    estate[(OTHER, "other-public")].put_bucket_tagging(
        Bucket="other-public", Tagging={"TagSet": [{"Key": "public-by-design", "Value": "yes"}]}
    )
    daemon = await start_daemon(
        sweep=FAST,
        exemptions=[
            {
                "arn": "arn:aws:s3:::example-public-logs",
                "owner": "data-team",
                "reason": "public log archive",
            },
            {
                "tag": {"key": "public-by-design", "value": "yes"},
                "owner": "web-team",
                "reason": "public website",
            },
        ],
        budgets={"per_account_per_hour": 1},
    )
    sweep = await sweep_once(daemon)
    snap = sweep.snapshot()
    assert snap["statuses"] == {"exempted": 2, "refused": 1, "remediated": 1}
    exempted = {
        r.violation.resource_name: r.detail for r in sweep.records if r.status is Status.EXEMPTED
    }
    assert set(exempted) == {"example-public-logs", "other-public"}
    assert "owner data-team" in exempted["example-public-logs"]
    assert "public-by-design" in exempted["other-public"]
    (refused,) = [r for r in sweep.records if r.status is Status.REFUSED]
    assert refused.violation.resource_name == "lacework-remediation-test"
    assert "budgets.per_account_per_hour = 1" in refused.detail
    assert group_grants(estate, (ACCOUNT, "example-public-logs")) == {("AllUsers", "READ")}
    assert group_grants(estate, (OTHER, "other-public")) == {("AllUsers", "READ")}
    assert (
        len(group_grants(estate, (ACCOUNT, "lacework-remediation-test"))) == 1
    )  # one of two fixed
    # Within the hour: the fix is not repeated, the others are decided again (same answers).
    again = await sweep_once(daemon)
    assert again.snapshot()["statuses"] == {"exempted": 2, "refused": 1}
    assert again.snapshot()["skipped"] == 1
    assert len(await puts(daemon)) == 1


async def test_kill_switch_parks_a_sweep_and_a_later_auto_sweep_applies(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST)
    switch = daemon.engine.safety.kill_switch  # the file whose presence pauses every apply
    switch.turn_on(by="test", reason="sweep under the kill switch", now=time.time())
    parked = await sweep_once(daemon)
    assert parked.snapshot()["statuses"] == {"awaiting_approval": 4}
    assert all("kill switch" in r.detail for r in parked.records)
    assert len(public(estate)) == 5 and await puts(daemon) == []
    assert switch.turn_off()
    applied = await sweep_once(daemon)  # auto: a parked action is not work done
    assert applied.snapshot()["statuses"] == {"remediated": 4}
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}


# -- interruption and resumption -------------------------------------------------------------


async def test_stop_finishes_running_actions_starts_no_more_and_a_rerun_continues(
    start_daemon, one_lane
):
    daemon = await start_daemon(sweep=FAST | {"concurrency_per_region": 1})
    hold = Hold(daemon.engine, at=2)
    request = lane_request(daemon)
    first = Sweep(daemon.engine, request)
    running = asyncio.create_task(first.run())
    await hold.entered.wait()  # the first action is done, the second in flight
    first.stop()  # what Ctrl-C does
    hold.release.set()
    await running
    snap = first.snapshot()
    assert first.state == "interrupted"
    assert (snap["total"], snap["done"], snap["not_started"]) == (3, 2, 1)
    assert snap["statuses"] == {"remediated": 2}
    assert still_public(one_lane) == ["lane-3"]
    assert await puts(daemon) == ["lane-1", "lane-2"]
    row = await SweepStore(daemon.engine.store).get(first.id)
    assert (row["state"], row["done"], row["not_started"]) == ("interrupted", 2, 1)

    second = await Sweep(daemon.engine, request).run()
    assert (second.id, second.run_number) == (first.id, 2)
    snap = second.snapshot()
    assert second.state == "completed"
    assert (snap["skipped"], snap["statuses"]) == (2, {"remediated": 1})
    assert still_public(one_lane) == []
    assert await puts(daemon) == LANE  # each bucket written once over both runs
    row = await SweepStore(daemon.engine.store).get(first.id)
    assert (row["state"], row["runs"]) == ("completed", 2)


async def test_an_abandoned_action_is_finished_by_the_next_run_not_repeated(start_daemon, one_lane):
    daemon = await start_daemon(sweep=FAST | {"concurrency_per_region": 1})
    hold = Hold(daemon.engine, at=2)
    request = lane_request(daemon)
    first = Sweep(daemon.engine, request)
    running = asyncio.create_task(first.run())
    await hold.entered.wait()
    running.cancel()  # a second Ctrl-C: the running action is abandoned half-way
    with pytest.raises(asyncio.CancelledError):
        await running
    assert first.state == "interrupted"
    (abandoned,) = await SweepStore(daemon.engine.store).unfinished(first.id)
    assert (abandoned.record.violation.resource_name, abandoned.record.state) == ("lane-2", "new")

    second = await Sweep(daemon.engine, request).run()
    snap = second.snapshot()
    assert (second.id, snap["resumed"], snap["skipped"]) == (first.id, 1, 2)
    assert snap["statuses"] == {"remediated": 2}
    assert await SweepStore(daemon.engine.store).unfinished(first.id) == []
    rows = await daemon.engine.store.list_actions()
    assert len(rows) == 3  # one action per violation: the abandoned one finished in place
    assert {str(r.record.status) for r in rows} == {"remediated"}
    assert await puts(daemon) == LANE
    assert still_public(one_lane) == []


# -- throttling ------------------------------------------------------------------------------


async def test_lacework_429_backs_off_and_retries(start_daemon, estate, fake_lacework):
    daemon = await start_daemon(sweep=FAST)
    # The client makes 3 attempts ([lacework] max_attempts in these tests); the sweep
    # waits and asks again, so 4 refusals in a row still end in the report.
    fake_lacework.fail_next(429, count=4, path_prefix="/api/v2/Reports", retry_after=0)
    sweep = await sweep_once(daemon, accounts=[OTHER], report_types=["AWS_CIS_14"])
    snap = sweep.snapshot()
    assert sweep.state == "completed"
    assert fake_lacework.count("/api/v2/Reports", 429) == 4
    assert fake_lacework.count("/api/v2/Reports", 200) == 1
    assert snap["retried"] == 1
    assert snap["statuses"] == {"remediated": 1}
    assert sweep.reports.pacer.throttles == 1


async def test_lacework_that_keeps_refusing_is_reported_not_fatal(
    start_daemon, estate, fake_lacework
):
    daemon = await start_daemon(sweep=FAST | {"max_retries": 1})
    # The first report asked for is 123456789012's AWS_CIS_S3: 3 attempts by the client,
    # twice (one retry by the sweep), all refused.
    fake_lacework.fail_next(503, count=6, path_prefix="/api/v2/Reports")
    sweep = await sweep_once(daemon)
    by_report = {(r["account_id"], r["report_type"]): r for r in sweep.snapshot()["reports"]}
    assert by_report[(ACCOUNT, "AWS_CIS_S3")]["status"] == "unavailable"
    assert "503" in by_report[(ACCOUNT, "AWS_CIS_S3")]["error"]
    assert by_report[(OTHER, "AWS_CIS_14")]["status"] == "ok"
    assert sweep.snapshot()["statuses"] == {"remediated": 1}


async def test_aws_throttling_backs_off_and_retries(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST)
    original = daemon.engine.aws.session_for
    refusals = {"left": 2}

    async def throttled_sts(account, region, **kwargs):
        if account == OTHER and refusals["left"]:
            refusals["left"] -= 1
            raise ClientError(
                {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "AssumeRole"
            )
        return await original(account, region, **kwargs)

    daemon.engine.aws.session_for = throttled_sts
    sweep = await sweep_once(daemon)
    snap = sweep.snapshot()
    assert sweep.state == "completed"
    assert snap["retried"] == 2
    assert snap["statuses"] == {"remediated": 4}
    assert (OTHER, "other-public") not in public(estate)
    lane = sweep._lanes[(OTHER, "us-east-1")]
    assert lane.pacer.throttles == 2
    rows = await daemon.engine.store.list_actions()
    mine = [r.record for r in rows if r.record.violation.resource_name == "other-public"]
    assert sorted(str(r.status) for r in mine) == ["failed", "failed", "remediated"]
    assert all("Throttling" in r.detail for r in mine if r.status is Status.FAILED)
    # A later sweep does not count a throttled failure as work done, nor repeat the fix.
    assert (await sweep_once(daemon)).snapshot()["skipped"] == 4


async def test_throttling_beyond_the_retries_ends_failed(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST | {"max_retries": 1})

    async def always_throttled(account, region, **kwargs):
        raise ClientError(
            {"Error": {"Code": "Throttling", "Message": "Rate exceeded"}}, "AssumeRole"
        )

    daemon.engine.aws.session_for = always_throttled
    sweep = await sweep_once(daemon, accounts=[OTHER], report_types=["AWS_CIS_14"])
    snap = sweep.snapshot()
    assert (snap["retried"], snap["statuses"]) == (1, {"failed": 1})


async def test_the_final_state_shows_only_when_the_sweep_is_no_longer_running(start_daemon, estate):
    """While the last progress is written the sweep still says running: whoever reads a
    final state (the admin API polls it) finds the sweep no longer live (no stop race)."""
    daemon = await start_daemon(sweep=FAST)
    sweep = Sweep(daemon.engine, request_for(daemon))
    seen: list[str] = []
    original = sweep.sweeps.save

    async def save(sweep_id, **kwargs):
        if kwargs.get("finished"):
            seen.append(sweep.snapshot()["state"])
        return await original(sweep_id, **kwargs)

    sweep.sweeps.save = save
    await sweep.run()
    assert seen == ["running"]
    assert sweep.state == "completed" and sweep.snapshot()["state"] == "completed"


async def test_only_violations_a_remediation_takes_are_paced(start_daemon, one_lane, fake_lacework):
    """A report full of rows no map handles (here a tenant's custom policy) is recorded,
    not paced: only the three buckets take a start slot in their lane."""
    report = current_report()
    report["recommendations"] = [
        rec for rec in report["recommendations"] if rec["REC_ID"] == "lacework-global-130"
    ]
    report["recommendations"][0]["VIOLATIONS"] = [
        {"resource": f"arn:aws:s3:::{name}", "region": "us-east-1"} for name in LANE
    ]
    custom = dict(report["recommendations"][0])
    custom.update(
        REC_ID="customerdemo-custom-7",
        STATUS="NonCompliant",
        VIOLATIONS=[
            {"resource": f"arn:aws:s3:::unmatched-{n}", "region": "us-east-1", "reasons": ["X"]}
            for n in range(60)
        ],
    )
    report["recommendations"].append(custom)
    fake_lacework.add_report(OTHER, "AWS_CIS_14", report)
    daemon = await start_daemon(sweep=FAST)
    sweep = await sweep_once(daemon, accounts=[OTHER], report_types=["AWS_CIS_14"], rules=[])
    snap = sweep.snapshot()
    assert sweep.state == "completed"
    assert (snap["total"], snap["done"], snap["unmatched"]) == (63, 63, 60)
    assert snap["statuses"]["no_remediation"] == 60
    assert snap["statuses"]["remediated"] == 3
    assert still_public(one_lane) == []
    assert [lane.pacer.granted for lane in sweep._lanes.values()] == [3]


# -- the admin API ---------------------------------------------------------------------------

ADMIN = "admin-token-0123456789abcdef"


async def api(daemon, method, path, body=None, token=ADMIN):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with daemon.http.request(method, daemon.url + path, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def wait_state(daemon, sweep_id, *, states=("completed", "interrupted", "failed")):
    """Poll the progress endpoint (as an operator would) until the sweep ends."""
    deadline = time.monotonic() + 30
    while True:
        status, body = await api(daemon, "GET", f"/admin/sweeps/{sweep_id}")
        assert status == 200, body
        if body["sweep"]["state"] in states:
            return body["sweep"]
        assert time.monotonic() < deadline, body
        await asyncio.sleep(0.02)


async def test_admin_api_starts_a_sweep_and_reports_progress(start_daemon, estate):
    daemon = await start_daemon(sweep=FAST, server={"admin_token": ADMIN})
    body = {
        "accounts": [ACCOUNT, OTHER],
        "rules": RULES,
        "mode": "auto",
        "report_types": REPORT_TYPES,
    }
    status, started = await api(daemon, "POST", "/admin/sweeps", body | {"by": "alice"})
    assert status == 202, started
    sweep_id = started["sweep"]["id"]
    assert started["url"] == f"/admin/sweeps/{sweep_id}"
    assert started["sweep"]["state"] == "running"
    final = await wait_state(daemon, sweep_id)
    assert final["state"] == "completed"
    assert (final["total"], final["done"]) == (4, 4)
    assert final["statuses"] == {"remediated": 4}
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}
    status, listing = await api(daemon, "GET", "/admin/sweeps")
    assert status == 200 and [s["id"] for s in listing["sweeps"]] == [sweep_id]
    events = [e for e in await daemon.engine.store.audit_events() if e.kind.startswith("sweep_")]
    assert [(e.kind, e.actor, e.data["via"]) for e in reversed(events)] == [
        ("sweep_started", "alice", "api"),
        ("sweep_finished", "alice", "api"),
    ]
    assert events[0].detail.startswith(f"sweep {sweep_id} (run 1) completed: 4/4 violations done")
    # The same parameters again: a new sweep that finds nothing left to do.
    status, again = await api(daemon, "POST", "/admin/sweeps", body)
    assert status == 202
    final = await wait_state(daemon, again["sweep"]["id"])
    assert (final["skipped"], final["statuses"]) == (4, {})


async def test_admin_api_refuses_a_duplicate_and_stops_a_running_sweep(start_daemon, one_lane):
    daemon = await start_daemon(
        sweep=FAST | {"concurrency_per_region": 1}, server={"admin_token": ADMIN}
    )
    hold = Hold(daemon.engine, at=1)
    body = {
        "accounts": [OTHER],
        "rules": ["LW_S3_1"],
        "report_types": ["AWS_CIS_14"],
        "mode": "auto",
    }
    status, started = await api(daemon, "POST", "/admin/sweeps", body)
    assert status == 202
    sweep_id = started["sweep"]["id"]
    await hold.entered.wait()
    status, progress = await api(daemon, "GET", f"/admin/sweeps/{sweep_id}")
    assert status == 200
    assert (progress["sweep"]["state"], progress["sweep"]["total"]) == ("running", 3)
    assert progress["sweep"]["done"] == 0
    status, busy = await api(daemon, "POST", "/admin/sweeps", body)
    assert status == 409 and f"sweep {sweep_id}" in busy["error"]
    status, stopping = await api(daemon, "POST", f"/admin/sweeps/{sweep_id}/stop", {"by": "bob"})
    assert status == 202 and stopping["sweep"]["id"] == sweep_id
    [stopped] = [
        e for e in await daemon.engine.store.audit_events() if e.kind.endswith("stop_requested")
    ]
    assert (stopped.actor, stopped.data["via"], stopped.data["sweep_id"]) == (
        "bob",
        "api",
        sweep_id,
    )
    hold.release.set()
    final = await wait_state(daemon, sweep_id)
    assert final["state"] == "interrupted"
    assert (final["done"], final["not_started"]) == (1, 2)
    assert still_public(one_lane) == ["lane-2", "lane-3"]
    status, again = await api(daemon, "POST", f"/admin/sweeps/{sweep_id}/stop")
    assert status == 409 and "not running here (state interrupted)" in again["error"]
    # Starting it again continues it.
    status, resumed = await api(daemon, "POST", "/admin/sweeps", body)
    assert status == 202 and resumed["sweep"]["id"] == sweep_id
    final = await wait_state(daemon, sweep_id)
    assert (final["state"], final["skipped"], final["statuses"]) == (
        "completed",
        1,
        {"remediated": 2},
    )
    assert still_public(one_lane) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"accounts": ["12"]}, "accounts: '12' is not a 12-digit AWS account id"),
        ({}, "give at least one accounts"),
        ({"accounts": [ACCOUNT], "mode": "off"}, "mode: 'off' would do nothing"),
        ({"accounts": [ACCOUNT], "rules": "NOPE"}, "rules: no installed remediation"),
        ({"accounts": [ACCOUNT], "report_types": [1]}, "report_types: a list of strings"),
        ({"accounts": [ACCOUNT], "colour": "blue"}, "unknown field 'colour'"),
        ({"accounts": [ACCOUNT], "by": 7}, "by: a string"),
        ({"accounts": [ACCOUNT], "by": "two\nlines"}, "by: the actor name must be"),
        ([ACCOUNT], "body must be a JSON object"),
    ],
)
async def test_admin_api_bad_bodies_are_400_with_one_line(start_daemon, body, error):
    daemon = await start_daemon(server={"admin_token": ADMIN})
    status, answer = await api(daemon, "POST", "/admin/sweeps", body)
    assert status == 400
    assert error in answer["error"] and "\n" not in answer["error"]


async def test_admin_api_needs_the_admin_token(start_daemon):
    daemon = await start_daemon(server={"admin_token": ADMIN})
    assert (await api(daemon, "POST", "/admin/sweeps", {}, token=None))[0] == 401
    assert (await api(daemon, "GET", "/admin/sweeps", token="wrong"))[0] == 401
    assert (await api(daemon, "GET", "/admin/sweeps/1"))[0] == 404
    off = await start_daemon()
    assert (await api(off, "GET", "/admin/sweeps"))[0] == 404


# -- the command line ------------------------------------------------------------------------


def write_config(moto_server, fake_lacework, tmp_path, name="config.toml", **sweep) -> Path:
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, sweep={**FAST, **sweep})
    path = tmp_path / name
    path.write_text(to_toml(data))
    return path


def cli_args(config: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-c",
        "from lw_remediate.cli import main; main()",
        "sweep",
        "--config",
        str(config),
        "--account",
        f"{ACCOUNT},{OTHER}",
        *(a for r in RULES for a in ("--rule", r)),
        *(a for t in REPORT_TYPES for a in ("--report-type", t)),
        "--mode",
        "auto",
        *extra,
    ]


def cli_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LW_")}


async def run_cli(config: Path, *extra: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *cli_args(config, *extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
    )
    out, err = await proc.communicate()
    return proc.returncode, out.decode(), err.decode()


async def test_cli_json_output_and_plain_progress(moto_server, fake_lacework, estate, tmp_path):
    config = write_config(moto_server, fake_lacework, tmp_path)
    code, out, err = await run_cli(config, "--json", "--by", "bob")
    assert code == 0, err
    assert read_store(
        tmp_path,
        "SELECT kind, actor, json_extract(data, '$.via') FROM audit"
        " WHERE kind LIKE 'sweep_%' ORDER BY id",
    ) == [
        ("sweep_started", "bob", "cli"),
        ("sweep_finished", "bob", "cli"),
    ]
    data = json.loads(out)
    assert data["sweep"]["state"] == "completed"
    assert data["sweep"]["statuses"] == {"remediated": 4}
    assert {(a["account_id"], a["resource_arn"].rsplit(":", 1)[-1]) for a in data["actions"]} == (
        VIOLATING
    )
    assert {a["status"] for a in data["actions"]} == {"remediated"}
    assert public(estate) == {(ACCOUNT, "example-static-site"), (OTHER, "other-authenticated")}
    lines = [line for line in err.splitlines() if line.startswith("sweep ")]
    assert lines[-1] == ("sweep 1 completed: 4/4 violations done (remediated 4); reports 4/4")
    code, out, err = await run_cli(config)
    assert code == 0, err
    table = out.splitlines()
    assert table[0].split()[:3] == ["RULE", "VIOLATIONS", "REMEDIATED"]
    total = next(line.split() for line in table if line.startswith("TOTAL"))
    assert total[1] == "4" and total[-1] == "4"  # four violations, all done before
    assert "sweep 2 completed (run 1)" in out


async def test_cli_rejected_api_key_fails_the_sweep_with_one_line(
    moto_server, fake_lacework, estate, tmp_path
):
    data = daemon_config(moto_server.endpoint_url, fake_lacework, tmp_path, sweep=FAST)
    data["lacework"]["secret"] = "_not-the-secret"
    config = tmp_path / "bad-key.toml"
    config.write_text(to_toml(data))
    code, out, err = await run_cli(config)
    assert code == 1 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("lw-remediate: ")]
    assert len(errors) == 1 and "Lacework rejected the API key" in errors[0], err
    assert read_store(tmp_path, "SELECT state, error FROM sweeps") == [
        ("failed", errors[0].removeprefix("lw-remediate: "))
    ]
    assert len(public(estate)) == 5


async def test_cli_ctrl_c_records_finished_work_and_a_rerun_continues(
    moto_server, fake_lacework, estate, tmp_path
):
    # Paced to one action per 10 s per lane (the first one at once): the interrupt lands
    # while lacework-remediation-test's second violation waits for its turn.
    slow = write_config(
        moto_server,
        fake_lacework,
        tmp_path,
        "slow.toml",
        rate_per_region=0.1,
        concurrency_per_region=1,
    )
    proc = await asyncio.create_subprocess_exec(
        *cli_args(slow),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=cli_env(),
    )
    seen = []
    while True:
        line = (await proc.stderr.readline()).decode()
        assert line, "".join(seen)
        seen.append(line)
        if line.startswith("sweep 1 running: ") and "remediated" in line:
            break
    proc.send_signal(signal.SIGINT)
    out, err = await proc.communicate()
    assert proc.returncode == 130, err.decode()
    assert "stopping: running actions finish" in err.decode()
    assert "sweep 1 interrupted (run 1)" in out.decode()
    first = len(await_puts(tmp_path))
    assert 1 <= first < 4

    fast = write_config(moto_server, fake_lacework, tmp_path, "fast.toml")
    code, out, err = await run_cli(fast, "--json")
    assert code == 0, err
    data = json.loads(out)["sweep"]
    assert (data["id"], data["run"], data["skipped"]) == (1, 2, first)
    assert data["statuses"] == {"remediated": 4 - first}
    assert sorted(await_puts(tmp_path)) == sorted(
        ["lacework-remediation-test"] * 2 + ["example-public-logs", "other-public"]
    )


def read_store(tmp_path: Path, sql: str) -> list[tuple]:
    """Rows of the CLI's store (read directly, read-only)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{tmp_path / 'lw.sqlite3'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def await_puts(tmp_path: Path) -> list[str]:
    """PutBucketAcl calls recorded in the CLI's store."""
    rows = read_store(tmp_path, "SELECT resource_arn, calls FROM actions")
    return [
        arn.rsplit(":", 1)[-1]
        for arn, calls in rows
        for c in json.loads(calls)
        if c["operation"] == "PutBucketAcl"
    ]


async def test_cli_draws_a_progress_bar_on_a_terminal(moto_server, fake_lacework, estate, tmp_path):
    config = write_config(moto_server, fake_lacework, tmp_path)
    master, slave = pty.openpty()
    received = bytearray()
    loop = asyncio.get_running_loop()

    def drain() -> None:
        try:
            received.extend(os.read(master, 65536))
        except OSError:
            loop.remove_reader(master)

    loop.add_reader(master, drain)
    try:
        proc = await asyncio.create_subprocess_exec(
            *cli_args(config), stdout=asyncio.subprocess.PIPE, stderr=slave, env=cli_env()
        )
        os.close(slave)
        out, _ = await proc.communicate()
    finally:
        loop.remove_reader(master)
    try:
        while True:  # whatever is still buffered in the terminal
            chunk = os.read(master, 65536)
            if not chunk:
                break
            received.extend(chunk)
    except OSError:
        pass
    os.close(master)
    assert proc.returncode == 0, received.decode(errors="replace")
    screen = received.decode(errors="replace")
    assert "\rsweep 1 [########################] 4/4  remediated 4" in screen
    assert "TOTAL" in out.decode()
