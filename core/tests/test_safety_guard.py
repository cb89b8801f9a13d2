"""The safety guard without AWS: the kill switch inside one dispatch, atomic budgets
across connections, the flap guard, approval compare-and-set, exemption matching."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import secrets
from pathlib import Path

import pytest

from lw_remediate import (
    ActionRecord,
    Change,
    CheckResult,
    IamPolicy,
    Mode,
    Plan,
    Remediation,
    Status,
    VerifyResult,
    Violation,
)
from lw_remediate.aws.credentials import AwsProvider
from lw_remediate.aws.session import AwsSession
from lw_remediate.config import Config, ExemptionConfig
from lw_remediate.notify import NotificationKind, Notifiers
from lw_remediate.pipeline.runner import Runner
from lw_remediate.safety import (
    Candidate,
    Decision,
    Safety,
    mode_on,
    run_gates,
    standard_gates,
)
from lw_remediate.safety.exemptions import Exemption, config_exemptions, tag_target
from lw_remediate.store import SqliteStore

ACCOUNT = "123456789012"


class Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.sent = []

    async def notify(self, notification) -> None:
        self.sent.append(notification)


def fake_remediation(on_plan=None):
    """A remediation that touches nothing: it records whether apply ran."""
    applied: list[str] = []

    async def check(ctx, violation):
        return CheckResult.violating("still there")

    async def plan(ctx, violation):
        if on_plan is not None:
            on_plan()
        return Plan("flip the thing", [Change("flip", violation.resource_arn, False, True)])

    async def apply(ctx, plan):
        applied.append(ctx.violation.resource_arn)
        return {"flipped": True}

    async def verify(ctx, violation):
        return VerifyResult.verified("flipped")

    rem = Remediation(
        id="test.flip_thing",
        rules=("LW_S3_16",),
        title="flip",
        policy=IamPolicy.allow(["s3:GetBucketVersioning"], ["arn:aws:s3:::*"]),
        check=check,
        plan=plan,
        apply=apply,
        verify=verify,
    )
    return rem, applied


def violation(bucket: str, rule: str = "LW_S3_16", account: str = ACCOUNT) -> Violation:
    return Violation(rule, f"arn:aws:s3:::{bucket}", account, "us-east-1")


@pytest.fixture
async def env(tmp_path: Path):
    """(config factory, store, safety factory) on a throwaway SQLite file."""
    store = SqliteStore(str(tmp_path / "s.sqlite3"))
    await store.open()
    made: list[Safety] = []

    def make(**sections) -> Safety:
        config = Config.model_validate({"store": {"path": store.path}, **sections})
        safety = Safety(
            config=config,
            store=store,
            aws=AwsProvider(config.aws),
            notifiers=Notifiers([Recorder()]),
        )
        made.append(safety)
        return safety

    yield store, make
    for safety in made:
        await safety.aws.close()
    await store.close()


async def new_record(store: SqliteStore, v: Violation, rem_id: str = "test.flip_thing"):
    # A distinct reason per call: one violation identity would be one action (deduped).
    v = dataclasses.replace(v, reason=secrets.token_hex(4))
    vid = await store.add_violation(None, v)
    record, _ = await store.create_action(vid, None, ActionRecord(rem_id, v, Mode.AUTO))
    return record


def touch(path: str) -> None:
    """Create the kill-switch file by hand, as an operator on the host would."""
    Path(path).touch()


def session() -> AwsSession:
    return AwsSession(account_id=ACCOUNT, region="us-east-1")


async def test_kill_switch_stops_apply_within_the_same_dispatch(env):
    store, make = env
    safety = make()
    # The switch is thrown while the action is already running (during plan): the
    # check right before apply still catches it.
    thrown: list[bool] = []

    def throw_once() -> None:
        if not thrown:
            thrown.append(True)
            safety.kill_switch.turn_on(by="ops", reason="drill", now=0.0)

    rem, applied = fake_remediation(on_plan=throw_once)
    runner = Runner(journal=store.journal(), guard=safety.before_apply)
    record = await new_record(store, violation("b1"))
    record = await runner.run(rem, record.violation, aws=session(), mode=Mode.AUTO, record=record)
    assert applied == []
    assert record.status is Status.AWAITING_APPROVAL and record.state == "awaiting_approval"
    assert "paused by the kill switch" in record.detail and "by ops: drill" in record.detail
    stored = await store.get_action(record.id)
    assert stored.record.status is Status.AWAITING_APPROVAL and stored.record.plan is not None
    assert not await store.unfinished_actions()  # a restart does not apply it either

    safety.kill_switch.turn_off()
    record = await runner.approve(rem, stored.record, aws=session())
    assert applied == ["arn:aws:s3:::b1"] and record.status is Status.REMEDIATED
    assert record.mode is Mode.AUTO


async def test_kill_switch_file_touched_by_hand_is_notified_once(env):
    store, make = env
    safety = make()
    touch(safety.kill_switch.path)
    rem, applied = fake_remediation()
    runner = Runner(journal=store.journal(), guard=safety.before_apply)
    for bucket in ("k1", "k2"):
        record = await new_record(store, violation(bucket))
        await runner.run(rem, record.violation, aws=session(), mode=Mode.AUTO, record=record)
    assert applied == []
    (recorder,) = safety.notifiers.notifiers
    assert [n.kind for n in recorder.sent] == [NotificationKind.KILL_SWITCH]
    assert safety.kill_switch.state().by is None


async def test_dry_run_and_approve_never_reach_the_guard(env):
    store, make = env
    safety = make(budgets={"global_per_hour": 0})
    touch(safety.kill_switch.path)
    rem, _ = fake_remediation()
    runner = Runner(journal=store.journal(), guard=safety.before_apply)
    for mode, status in ((Mode.DRY_RUN, Status.PLANNED), (Mode.APPROVE, Status.AWAITING_APPROVAL)):
        record = await new_record(store, violation(f"m-{mode}"))
        record = await runner.run(rem, record.violation, aws=session(), mode=mode, record=record)
        assert record.status is status and not record.detail.startswith("paused")


async def test_budget_is_atomic_across_concurrent_actions_and_store_connections(env, tmp_path):
    store, make = env
    # A second connection to the same file (a CLI process next to the daemon).
    other = SqliteStore(store.path)
    await other.open()
    try:
        config = {"budgets": {"global_per_hour": 3}}
        safeties = [make(**config), make(**config)]
        safeties[1].store = other
        rem, applied = fake_remediation()
        records = [await new_record(store, violation(f"c{i}")) for i in range(10)]
        runners = [Runner(journal=s.store.journal(), guard=s.before_apply) for s in safeties]
        results = await asyncio.gather(
            *(
                runners[i % 2].run(rem, r.violation, aws=session(), mode=Mode.AUTO, record=r)
                for i, r in enumerate(records)
            )
        )
    finally:
        await other.close()
    assert len(applied) == 3
    refused = [r for r in results if r.status is Status.REFUSED]
    assert len(refused) == 7
    assert all("budgets.global_per_hour = 3" in r.detail for r in refused)


async def test_a_resumed_action_is_not_counted_twice(env):
    store, make = env
    safety = make(budgets={"global_per_hour": 1})
    record = await new_record(store, violation("r1"))
    await safety.before_apply(record)
    await safety.before_apply(record)  # after a crash between reservation and apply
    other = await new_record(store, violation("r2"))
    with pytest.raises(Exception, match="budget exceeded"):
        await safety.before_apply(other)


@pytest.mark.parametrize(
    ("budget", "second"),
    [
        ("per_rule_per_hour", violation("x2", rule="LW_S3_1")),  # other rule: allowed
        ("per_account_per_hour", violation("x2", account="210987654321")),  # other account
    ],
)
async def test_budgets_count_per_rule_and_per_account(env, budget, second):
    store, make = env
    safety = make(budgets={budget: 1})
    await safety.before_apply(await new_record(store, violation("x1")))
    await safety.before_apply(await new_record(store, second))  # a different scope
    with pytest.raises(Exception, match=f"budgets.{budget} = 1"):
        await safety.before_apply(await new_record(store, violation("x3")))


async def test_flap_guard_flags_and_clears(env):
    store, make = env
    safety = make(safety={"flap_max_changes": 2, "flap_window_seconds": 600})
    rem, _ = fake_remediation()
    v = violation("flap")
    now = 1_000_000.0
    safety.clock = lambda: now
    for _ in range(2):
        assert await safety.flap_gate(Candidate(v, rem, Mode.AUTO)) is None
        await safety.before_apply(await new_record(store, v))
    verdict = await safety.flap_gate(Candidate(v, rem, Mode.AUTO))
    assert verdict is not None and verdict.status is Status.REFUSED
    assert verdict.detail.startswith("flapping:")
    # Still flagged after the window: only an operator clears it.
    now += 3600
    assert (await safety.flap_gate(Candidate(v, rem, Mode.AUTO))).detail.startswith("flapping:")
    cleared = await store.clear_flapping(v.resource_arn, v.rule_id, by="ops", now=now)
    assert [c.cleared_by for c in cleared] == ["ops"]
    assert await safety.flap_gate(Candidate(v, rem, Mode.AUTO)) is None
    # Counting restarts at the clear: changes before it do not count again.
    now += 1
    await safety.before_apply(await new_record(store, v))
    assert await safety.flap_gate(Candidate(v, rem, Mode.AUTO)) is None


async def test_approval_is_decided_once(env):
    store, make = env
    make()
    record = await new_record(store, violation("cas"))
    record.status, record.state = Status.AWAITING_APPROVAL, "awaiting_approval"
    await store.save_action(record)
    await store.request_approval(record.id, requested_at=1.0, expires_at=2.0)
    claims = await asyncio.gather(
        store.claim_approval(record.id, by="a", now=1.5),
        store.claim_approval(record.id, by="b", now=1.5),
        store.close_awaiting(
            record.id, status="refused", detail="no", decision="rejected", by="c", now=1.5
        ),
    )
    assert sorted(claims) == [False, False, True]
    approval = await store.get_approval(record.id)
    assert approval.decision in {"approved", "rejected"} and approval.decided_by in {"a", "b", "c"}


async def test_after_action_audits_and_starts_the_approval_clock(env):
    store, make = env
    safety = make(safety={"approval_ttl_seconds": 60})
    safety.clock = lambda: 1000.0
    record = await new_record(store, violation("aud"))
    record.status, record.detail = Status.AWAITING_APPROVAL, "plan"
    await safety.after_action(record)
    approval = await store.get_approval(record.id)
    assert (approval.requested_at, approval.expires_at) == (1000.0, 1060.0)
    record.status, record.detail = Status.REMEDIATED, "done"
    await safety.after_action(record)
    events = await store.audit_events(action_id=record.id)
    assert [e.kind for e in reversed(events)] == ["approval_requested", "outcome"]
    assert {e.actor for e in events} == {"lw-remediate"}


# -- exemption matching -------------------------------------------------------------------


def exemption(**spec) -> Exemption:
    spec.setdefault("owner", "o")
    spec.setdefault("reason", "r")
    return Exemption("e", "config", ExemptionConfig.model_validate(spec))


@pytest.mark.parametrize(
    ("spec", "matches"),
    [
        ({"arn": "arn:aws:s3:::web-*"}, True),
        ({"arn": "arn:aws:s3:::web-?"}, False),
        ({"arn": "arn:aws:s3:::WEB-*"}, False),  # ARNs are case-sensitive
        ({"account": ACCOUNT}, True),
        ({"account": "210987654321"}, False),
        ({"rule": "LW_S3_1"}, True),
        ({"rule": "lacework-global-130"}, True),  # the alias of LW_S3_1
        ({"rule": "LW_S3_2"}, False),
        ({"remediation": "s3.remove_public_acl_grants"}, True),
        ({"remediation": "s3.enable_versioning"}, False),
        ({"arn": "arn:aws:s3:::web-*", "account": "210987654321"}, False),  # all must match
    ],
)
def test_exemption_criteria(spec, matches):
    v = violation("web-site", rule="LW_S3_1")
    assert exemption(**spec).matches_without_tag(v, "s3.remove_public_acl_grants") is matches


def test_exemption_tag_match_and_expiry():
    ex = exemption(tag={"key": "k", "value": "v"}, expires=datetime.date(2030, 1, 2))
    assert ex.tag_matches({"k": "v"}) and not ex.tag_matches({"k": "w"}) and not ex.tag_matches({})
    assert exemption(tag={"key": "k"}).tag_matches({"k": "anything"})
    cutoff = datetime.datetime(2030, 1, 2, tzinfo=datetime.UTC).timestamp()
    assert not ex.expired(cutoff - 1) and ex.expired(cutoff)
    assert exemption(arn="*").expired(1e12) is False


def test_config_exemption_ids():
    specs = [
        ExemptionConfig(arn="a", owner="o", reason="r"),
        ExemptionConfig(id="named", arn="b", owner="o", reason="r"),
    ]
    assert [e.id for e in config_exemptions(specs)] == ["config-1", "named"]


@pytest.mark.parametrize(
    ("arn", "kind", "target"),
    [
        ("arn:aws:s3:::bucket", None, ("s3:bucket", "bucket")),
        ("arn:aws:s3:::bucket/key", None, None),
        (f"arn:aws:iam::{ACCOUNT}:user/path/alice", None, ("iam:user", "alice")),
        (f"arn:aws:iam::{ACCOUNT}:role/r", None, ("iam:role", "r")),
        (f"arn:aws:iam::{ACCOUNT}:root", None, None),
        (f"arn:aws:iam::{ACCOUNT}:user/bob", "iam:user", ("iam:user", "bob")),
        ("not-an-arn", None, None),
    ],
)
def test_tag_targets(arn, kind, target):
    assert tag_target(Violation("R", arn, ACCOUNT, resource_type=kind)) == target


async def test_the_gates_are_one_ordered_list_and_the_first_decision_wins(env):
    _, make = env
    safety = make(
        aws={"accounts": [ACCOUNT]},
        exemptions=[{"id": "all-flips", "arn": "arn:aws:s3:::*", "owner": "ops", "reason": "test"}],
    )
    gates = standard_gates(safety.config, safety)
    assert gates[1:] == [mode_on, safety.exemption_gate, safety.flap_gate]
    rem, _ = fake_remediation()
    outside = Candidate(violation("b", account="999999999999"), rem, Mode.OFF)
    # Outside the allow-list, off and exempted: the allow-list comes first.
    decision = await run_gates(gates, outside)
    assert decision == Decision(Status.REFUSED, "account 999999999999 is not in [aws] accounts")
    off = await run_gates(gates, Candidate(violation("b"), rem, Mode.OFF))
    assert off == Decision(Status.REFUSED, "remediation test.flip_thing is off")
    exempted = await run_gates(gates, Candidate(violation("b"), rem, Mode.AUTO))
    assert exempted is not None and exempted.status is Status.EXEMPTED
    assert await run_gates(gates[:2], Candidate(violation("b"), rem, Mode.AUTO)) is None
