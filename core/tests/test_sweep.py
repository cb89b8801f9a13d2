"""Sweep building blocks: request validation, pacing, resume rules, output, bad arguments."""

from __future__ import annotations

import asyncio
import json

import pytest

from lw_remediate.cli.sweep import bar_line, plain_line, summary_lines
from lw_remediate.config import Config
from lw_remediate.model import ActionRecord, Mode, RecordedCall, Status, Violation
from lw_remediate.operate.sweep import (
    COMPLETED,
    INTERRUPTED,
    RUNNING,
    Pacer,
    Prior,
    SweepBusy,
    SweepError,
    SweepRequest,
    SweepStore,
    build_request,
    is_throttled,
    settled,
)
from lw_remediate.operate.sweep import bookkeeping as sweep_module
from lw_remediate.plugins import load_maps
from lw_remediate.store import SqliteStore

ACCOUNT = "123456789012"
OTHER = "210987654321"
REGISTRY = load_maps()


def config(**data) -> Config:
    return Config.model_validate(data)


# -- the request -------------------------------------------------------------------------


def test_request_is_canonical_and_keyed_by_its_parameters():
    request = build_request(
        config(),
        REGISTRY,
        accounts=[OTHER, ACCOUNT, OTHER],
        rules=["lacework-global-130", "LW_S3_1", "LW_S3_2"],
        mode="auto",
        report_types=["aws_cis_s3"],
    )
    assert request.accounts == (ACCOUNT, OTHER)
    assert request.rules == ("LW_S3_1", "LW_S3_2")  # aliases folded, duplicates dropped
    assert request.report_types == ("AWS_CIS_S3",)  # spelled as the API knows it
    assert request.mode is Mode.AUTO
    same = SweepRequest.from_dict(json.loads(request.key))
    assert same == request and same.key == request.key
    other_mode = build_request(config(), REGISTRY, accounts=[ACCOUNT, OTHER], mode="dry-run")
    assert other_mode.key != request.key


def test_request_defaults_come_from_the_config():
    cfg = config(aws={"accounts": [ACCOUNT, OTHER]}, sweep={"report_types": ["AWS_CIS_14"]})
    request = build_request(cfg, REGISTRY, all_accounts=True)
    assert request.accounts == (ACCOUNT, OTHER)
    assert request.report_types == ("AWS_CIS_14",)
    assert request.rules is None and request.mode is None


def test_report_types_may_come_comma_separated_from_the_environment():
    from lw_remediate.config import load_config

    cfg = load_config(environ={"LW_REMEDIATE_SWEEP_REPORT_TYPES": "AWS_CIS_S3, AWS_CIS_14"})
    assert cfg.sweep.report_types == ["AWS_CIS_S3", "AWS_CIS_14"]


@pytest.mark.parametrize(
    ("kwargs", "cfg", "message"),
    [
        ({}, {}, "give at least one --account"),
        ({"accounts": ["12"]}, {}, "'12' is not a 12-digit AWS account id"),
        ({"accounts": [ACCOUNT], "all_accounts": True}, {}, "not both"),
        ({"all_accounts": True}, {}, "allow-list, which is empty"),
        ({"accounts": [OTHER]}, {"aws": {"accounts": [ACCOUNT]}}, "not in the [aws] accounts"),
        ({"accounts": [ACCOUNT], "rules": ["NOPE_1"]}, {}, "no installed remediation handles"),
        ({"accounts": [ACCOUNT], "report_types": ["AWS CIS"]}, {}, "not a known AWS report"),
        ({"accounts": [ACCOUNT], "mode": "off"}, {}, "would do nothing"),
        ({"accounts": [ACCOUNT], "mode": "fast"}, {}, "is not one of"),
    ],
)
def test_bad_requests_are_one_line_errors(kwargs, cfg, message):
    with pytest.raises(SweepError) as info:
        build_request(config(**cfg), REGISTRY, **kwargs)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


# -- pacing ------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_pacer_token_bucket_allows_a_burst_then_the_rate():
    clock = Clock()
    pacer = Pacer(4.0, burst=2, clock=clock)
    assert pacer.delay() == 0 and pacer.delay() == 0  # the burst
    assert pacer.delay() == pytest.approx(0.25)  # then one start per 1/rate
    clock.now += 0.25
    assert pacer.delay() == 0
    assert pacer.delay() == pytest.approx(0.25)


def test_pacer_counts_the_start_slots_it_hands_out():
    clock = Clock()
    pacer = Pacer(1.0, burst=2, clock=clock)
    assert [pacer.delay() for _ in range(3)] == [0.0, 0.0, 1.0]
    assert pacer.granted == 2
    unpaced = Pacer(0.0, clock=clock)
    assert [unpaced.delay() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert unpaced.granted == 3


def test_pacer_unpaced_never_waits_until_throttled():
    clock = Clock()
    pacer = Pacer(0.0, clock=clock, jitter=lambda: 1.0, backoff=2.0)
    assert all(pacer.delay() == 0 for _ in range(1000))
    assert pacer.throttled() == pytest.approx(2.0)
    assert pacer.delay() == pytest.approx(2.0)
    clock.now += 2.0
    assert pacer.delay() == 0


def test_pacer_backs_off_exponentially_halves_the_rate_and_recovers():
    clock = Clock()
    pacer = Pacer(8.0, burst=8, clock=clock, jitter=lambda: 1.0, backoff=1.0, backoff_max=5.0)
    pauses = [pacer.throttled() for _ in range(5)]
    assert pauses == [1.0, 2.0, 4.0, 5.0, 5.0]  # doubling, capped
    assert pacer.rate == pytest.approx(0.5)  # halved down to the floor (1/16 of 8/s)
    assert pacer.delay() == pytest.approx(5.0)  # paused
    pacer.succeeded()
    assert pacer.strikes == 0 and pacer.rate == pytest.approx(1.3)
    for _ in range(20):
        pacer.succeeded()
    assert pacer.rate == 8.0  # never above the configured rate
    assert pacer.throttled() == 1.0  # strikes were reset by the success


def test_pacer_honours_a_longer_retry_after_and_jitters_down_to_half():
    clock = Clock()
    pacer = Pacer(1.0, clock=clock, jitter=lambda: 0.0, backoff=4.0)
    assert pacer.throttled() == 2.0  # half the cap at the lowest jitter
    assert pacer.throttled(retry_after=30.0) == 30.0


async def test_pacer_acquire_gives_up_when_stopped():
    pacer = Pacer(0.001, burst=1)
    assert await pacer.acquire() is True
    stop = asyncio.Event()
    waiting = asyncio.create_task(pacer.acquire(stop))
    await asyncio.sleep(0)
    stop.set()
    assert await waiting is False


def _failed(detail: str = "", *errors: str | None) -> ActionRecord:
    v = Violation("LW_S3_1", "arn:aws:s3:::b", ACCOUNT)
    calls = [
        RecordedCall("s3", "GetBucketAcl", "s3:GetBucketAcl", "arn:aws:s3:::b", e) for e in errors
    ]
    return ActionRecord(
        "s3.remove_public_acl_grants", v, Mode.AUTO, Status.FAILED, detail, calls=calls
    )


def test_throttling_is_told_apart_from_other_failures():
    assert is_throttled(_failed("AWS GetBucketAcl: SlowDown: Please reduce", "SlowDown"))
    assert is_throttled(
        _failed(
            "could not get AWS credentials for 1: An error occurred (Throttling) when "
            "calling the AssumeRole operation: Rate exceeded"
        )
    )
    assert not is_throttled(_failed("AWS GetBucketAcl: AccessDenied: no", "AccessDenied"))
    assert not is_throttled(_failed("verify found the violation still there"))
    remediated = _failed("", "SlowDown")
    remediated.status = Status.REMEDIATED
    assert not is_throttled(remediated)


# -- what counts as done ---------------------------------------------------------------------


def prior(status: Status | None, *, at: float = 200.0, this_sweep: bool = False, **kw) -> Prior:
    state = kw.pop("state", "awaiting_approval" if status is Status.AWAITING_APPROVAL else "done")
    return Prior(status, state, kw.pop("mode", Mode.AUTO), at, this_sweep, **kw)


@pytest.mark.parametrize(
    ("status", "mode", "expected"),
    [
        (Status.REMEDIATED, Mode.AUTO, True),
        (Status.RESOLVED, Mode.AUTO, True),
        (Status.UNVERIFIED, Mode.AUTO, True),
        (Status.MANUAL, Mode.AUTO, True),
        (Status.REVERTED, Mode.AUTO, True),  # an operator undid it on purpose
        (Status.PLANNED, Mode.DRY_RUN, True),
        (Status.PLANNED, Mode.AUTO, False),  # now asked to apply what was only planned
        (Status.AWAITING_APPROVAL, Mode.APPROVE, True),
        (Status.AWAITING_APPROVAL, Mode.AUTO, False),
        (Status.EXEMPTED, Mode.AUTO, False),  # exemptions expire: decide again
        (Status.REFUSED, Mode.AUTO, False),  # budgets refill
        (Status.FAILED, Mode.AUTO, False),
        (Status.NO_REMEDIATION, Mode.AUTO, False),
    ],
)
def test_settled_after_the_report(status, mode, expected):
    assert settled(prior(status), mode, report_time=100.0) is expected


def test_an_action_older_than_the_report_never_counts():
    assert not settled(prior(Status.REMEDIATED, at=99.0), Mode.AUTO, report_time=100.0)
    assert not settled(prior(Status.REMEDIATED), Mode.AUTO, report_time=None)


def test_within_one_sweep_every_finished_action_counts_but_throttled_and_unfinished():
    for status in Status:
        assert settled(prior(status, this_sweep=True, at=0.0), Mode.AUTO, report_time=None)
    throttled = prior(Status.FAILED, this_sweep=True, throttled=True)
    assert not settled(throttled, Mode.AUTO, report_time=None)
    unfinished = prior(None, this_sweep=True, state="applying")
    assert not settled(unfinished, Mode.AUTO, report_time=None)


# -- the sweeps table ------------------------------------------------------------------------


@pytest.fixture
async def sweeps(tmp_path):
    store = SqliteStore(str(tmp_path / "s.sqlite3"))
    await store.open()
    table = SweepStore(store)
    yield table
    await store.close()


REQUEST = SweepRequest(accounts=(ACCOUNT,), report_types=("AWS_CIS_S3",), mode=Mode.AUTO)


async def test_a_running_sweep_is_busy_for_the_same_parameters_only(sweeps, monkeypatch):
    first, run = await sweeps.claim(REQUEST)
    assert run == 1
    monkeypatch.setattr(sweep_module, "_LIVE_SWEEPS", {first})  # running in this process
    with pytest.raises(SweepBusy, match=f"sweep {first} with the same parameters"):
        await sweeps.claim(REQUEST)
    other = SweepRequest(accounts=(OTHER,), report_types=("AWS_CIS_S3",))
    second, _ = await sweeps.claim(other)
    assert second != first


async def test_a_row_this_process_no_longer_runs_is_continued(sweeps, monkeypatch):
    """E.g. the final write of a sweep failed: the row says running, nothing runs it."""
    first, _ = await sweeps.claim(REQUEST)
    monkeypatch.setattr(sweep_module, "_LIVE_SWEEPS", set())
    assert await sweeps.claim(REQUEST) == (first, 2)


async def test_an_interrupted_sweep_is_continued_and_a_completed_one_is_not(sweeps):
    first, _ = await sweeps.claim(REQUEST)
    await sweeps.save(first, state=INTERRUPTED, progress={"done": 1}, finished=True)
    again, run = await sweeps.claim(REQUEST)
    assert (again, run) == (first, 2)
    row = await sweeps.get(first)
    assert row["state"] == RUNNING and row["runs"] == 2 and row["done"] == 1
    await sweeps.save(first, state=COMPLETED, progress={}, finished=True)
    fresh, run = await sweeps.claim(REQUEST)
    assert fresh != first and run == 1
    assert [r["id"] for r in await sweeps.list()] == [fresh, first]


async def test_a_sweep_left_running_by_a_dead_process_is_continued(sweeps):
    first, _ = await sweeps.claim(REQUEST, owner="somehost-that-is-gone:1:x", now=0.0)
    again, run = await sweeps.claim(REQUEST)  # another host, heartbeat long stale
    assert (again, run) == (first, 2)


async def test_pass_rows_are_done_inbox_rows_the_worker_never_claims(sweeps):
    sweep_id, _ = await sweeps.claim(REQUEST)
    one = await sweeps.pass_inbox(sweep_id, 1)
    assert await sweeps.pass_inbox(sweep_id, 1) == one
    two = await sweeps.pass_inbox(sweep_id, 2)
    assert two != one
    store = sweeps.store
    assert await store.claim_due(1e12, 10) == []
    (row, *_) = await store.list_inbox(state="done")
    assert row.shape == "sweep" and row.event_id == f"sweep-{sweep_id}"


async def test_priors_are_this_sweeps_actions_and_later_ones(sweeps):
    store = sweeps.store
    sweep_id, _ = await sweeps.claim(REQUEST)
    inbox = await sweeps.pass_inbox(sweep_id, 1)
    mine = Violation("LW_S3_1", "arn:aws:s3:::mine", ACCOUNT, reason="ReadAccessGranted")
    theirs = Violation("LW_S3_1", "arn:aws:s3:::theirs", ACCOUNT)
    for violation, source in ((mine, inbox), (theirs, None)):
        vid = await store.add_violation(source, violation)
        record, _ = await store.create_action(
            vid, source, ActionRecord("s3.remove_public_acl_grants", violation, Mode.AUTO)
        )
        record.status, record.state = Status.REMEDIATED, "done"
        await store.save_action(record)
    found = await sweeps.priors(sweep_id, [ACCOUNT], since=None)
    key = (
        "LW_S3_1",
        "arn:aws:s3:::mine",
        ACCOUNT,
        "ReadAccessGranted",
        "s3.remove_public_acl_grants",
    )
    assert set(found) == {key}
    assert found[key].this_sweep and found[key].status is Status.REMEDIATED
    everything = await sweeps.priors(sweep_id, [ACCOUNT], since=0.0)
    assert len(everything) == 2
    assert not everything[
        ("LW_S3_1", "arn:aws:s3:::theirs", ACCOUNT, "", "s3.remove_public_acl_grants")
    ].this_sweep
    assert await sweeps.priors(sweep_id, [OTHER], since=0.0) == {}


# -- output ------------------------------------------------------------------------------------


SNAPSHOT = {
    "id": 7,
    "state": "running",
    "run": 2,
    "request": {"accounts": [ACCOUNT, OTHER], "report_types": ["AWS_CIS_S3"]},
    "started_at": 0.0,
    "error": None,
    "total": 10,
    "done": 5,
    "skipped": 2,
    "retried": 1,
    "resumed": 0,
    "not_started": 0,
    "statuses": {"exempted": 1, "remediated": 2},
    "rules": {
        "LW_S3_1": {"violations": 8, "remediated": 2, "skipped": 2, "exempted": 1},
        "LW_S3_2": {"violations": 2, "resolved": 1},
    },
    "reports": [
        {"account_id": ACCOUNT, "report_type": "AWS_CIS_S3", "status": "ok"},
        {
            "account_id": OTHER,
            "report_type": "AWS_CIS_S3",
            "status": "missing",
            "error": "no report",
        },
    ],
    "reports_expected": 2,
}


def test_plain_progress_line():
    assert plain_line(SNAPSHOT) == (
        "sweep 7 running: 5/10 violations done (exempted 1, remediated 2, done before 2, "
        "retries 1); reports 2/2"
    )


def test_progress_bar():
    line = bar_line(SNAPSHOT, width=10)
    assert line.startswith("sweep 7 [#####-----] 5/10  ")
    assert bar_line({**SNAPSHOT, "done": 10}, width=10).startswith("sweep 7 [##########] 10/10")
    assert "reading reports 0/2" in bar_line({**SNAPSHOT, "reports": []})


def test_summary_table_has_the_issue_columns_and_any_other_status_seen():
    lines = summary_lines(SNAPSHOT)
    header = lines[0].split()
    assert header[:8] == [
        "RULE",
        "VIOLATIONS",
        "REMEDIATED",
        "PLANNED",
        "MANUAL",
        "EXEMPTED",
        "REFUSED",
        "FAILED",
    ]
    assert header[8:] == ["RESOLVED", "DONE_BEFORE"]
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:4]}
    assert rows["LW_S3_1"] == ["8", "2", "0", "0", "1", "0", "0", "0", "2"]
    assert rows["TOTAL"] == ["10", "2", "0", "0", "1", "0", "0", "1", "2"]
    assert "sweep 7 running (run 2)" in lines[4]
    assert lines[5] == f"report AWS_CIS_S3 for {OTHER}: missing: no report"


# -- the command's arguments ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give at least one --account"),
        (["--account", "12345"], "not a 12-digit AWS account id"),
        (["--account", ACCOUNT, "--all-accounts"], "not both"),
        (["--account", ACCOUNT, "--rule", "LW_NOPE_9"], "no installed remediation handles"),
        (["--account", ACCOUNT, "--report-type", "CIS"], "not a known AWS report type"),
        (["--account", ACCOUNT, "--mode", "off"], "'off' is not one of"),
        (["--account", ACCOUNT], "sweeping needs the Lacework API"),
        (["--account", ACCOUNT, "--bogus"], "No such option"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(cli, args, message):
    result = cli("sweep", *args)
    assert result.returncode == 2, result
    # One line for the error; structured log events (JSON lines) are not part of it.
    lines = [line for line in result.stderr.splitlines() if not line.startswith("{")]
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert lines[0].startswith("lw-remediate: error: ")
    assert result.stdout == ""
