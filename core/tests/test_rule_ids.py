"""Maps declare the ids they answer: one new id for two legacy rules, told apart by reason."""

from __future__ import annotations

import pytest

from lw_remediate import (
    CheckResult,
    IamPolicy,
    Plan,
    Remediation,
    RemediationDeclarationError,
    RuleId,
    Violation,
    hookimpl,
)
from lw_remediate.plugins import RuleIndex, load_maps

A = "123456789012"


async def _check(ctx, violation):
    return CheckResult.compliant("fine")


async def _plan(ctx, violation):
    return Plan("nothing")


def manual(rid: str, rules=(), reasons=(), rule_ids=()) -> Remediation:
    return Remediation(
        id=rid,
        rules=rules,
        title="t",
        policy=IamPolicy(),
        check=_check,
        plan=_plan,
        auto_remediable=False,
        runbook="by hand",
        reasons=reasons,
        rule_ids=rule_ids,
    )


def sg(rule: str, reason: str | None = None, source: str | None = None) -> Violation:
    return Violation(
        rule_id=rule,
        resource_arn=f"arn:aws:ec2:us-east-1:{A}:security-group/sg-1a2b3c4d",
        account_id=A,
        region="us-east-1",
        reason=reason,
        source_rule_id=source or rule,
    )


WORLD = manual(
    "net.revoke_world_ingress",
    rules=("AWS_CIS_4_1", "AWS_CIS_4_2"),
    rule_ids=(
        RuleId("lacework-global-68", reasons=("Port22Open",), means="AWS_CIS_4_1"),
        RuleId("LACEWORK-GLOBAL-68", reasons=("Port3389Open",), means="aws_cis_4_2"),
    ),
)


def test_a_declaration_routes_a_shared_new_id_to_the_legacy_rule_by_reason():
    index = RuleIndex([WORLD])
    for reason, legacy in (("Port22Open", "AWS_CIS_4_1"), ("Port3389Open", "AWS_CIS_4_2")):
        routed, match = index.route(sg("lacework-global-68", reason))
        assert [r.id for r in match.remediations] == ["net.revoke_world_ingress"]
        assert (routed.rule_id, routed.source_rule_id) == (legacy, "lacework-global-68")
    # The legacy ids themselves still route through ``rules``.
    routed, match = index.route(sg("AWS_CIS_4_2", "Whatever"))
    assert routed.rule_id == "AWS_CIS_4_2" and match.remediations == (WORLD,)


def test_a_shared_id_with_an_undeclared_reason_goes_as_sent_to_a_remediation_of_both_rules():
    index = RuleIndex([WORLD])
    routed, match = index.route(sg("lacework-global-68", "SomethingElse"))
    assert match.remediations == (WORLD,) and routed.rule_id == "lacework-global-68"


def test_a_shared_id_split_across_remediations_runs_nothing_and_says_what_to_declare():
    ssh = manual("net.close_ssh", rules=("AWS_CIS_4_1",))
    rdp = manual("net.close_rdp", rules=("AWS_CIS_4_2",))
    routed, match = RuleIndex([ssh, rdp]).route(sg("lacework-global-68", "Port22Open"))
    assert match.remediations == () and routed.rule_id == "lacework-global-68"
    assert "AWS_CIS_4_1 and AWS_CIS_4_2" in match.detail
    assert "net.close_rdp, net.close_ssh must declare it" in match.detail
    assert 'RuleId("lacework-global-68", reasons=("Port22Open",)' in match.detail


def test_without_declarations_the_remediations_own_reasons_tell_the_rules_apart():
    ssh = manual("net.close_ssh", rules=("AWS_CIS_4_1",), reasons=("Port22Open",))
    rdp = manual("net.close_rdp", rules=("AWS_CIS_4_2",), reasons=("Port3389Open",))
    index = RuleIndex([ssh, rdp])
    routed, match = index.route(sg("lacework-global-68", "Port3389Open"))
    assert (routed.rule_id, match.remediations) == ("AWS_CIS_4_2", (rdp,))


def test_one_to_one_new_ids_need_no_declaration_in_either_direction():
    legacy = manual("s3.fix_acl", rules=("LW_S3_1",))
    new = manual("s3.fix_versioning", rules=("lacework-global-97",))
    index = RuleIndex([legacy, new])
    assert index.route(sg("lacework-global-130"))[1].remediations == (legacy,)
    routed, match = index.route(sg("LW_S3_16"))
    assert match.remediations == (new,) and routed.rule_id == "LW_S3_16"


def test_a_map_declaring_only_the_shared_new_id_gets_the_legacy_ids_too():
    """rules=("lacework-global-148",): both NETWORKING_5 and _36 arrive, named as such."""
    whole = manual("net.open_to_all", rules=("lacework-global-148",))
    index = RuleIndex([whole])
    for legacy in ("LW_AWS_NETWORKING_5", "LW_AWS_NETWORKING_36"):
        routed, match = index.route(sg(legacy))
        assert match.remediations == (whole,) and routed.rule_id == legacy
    routed, match = index.route(sg("lacework-global-148", "Any"))
    assert match.remediations == (whole,) and routed.rule_id == "lacework-global-148"


def test_declared_rules_are_added_to_rules_and_knows_any_form():
    assert WORLD.rules == ("AWS_CIS_4_1", "AWS_CIS_4_2")
    only_decl = manual(
        "net.x_y", rule_ids=(RuleId("lacework-global-196", means="LW_AWS_MONGODB_2"),)
    )
    assert only_decl.rules == ("LW_AWS_MONGODB_2",)
    index = RuleIndex([only_decl])
    assert index.knows("lacework-global-196") and index.knows("LW_AWS_MONGODB_2")
    assert not index.knows("LW_AWS_MONGODB_1")
    assert only_decl.handles("lacework-global-196", None)


@pytest.mark.parametrize(
    ("decl", "message"),
    [
        (
            lambda: RuleId("lacework-global-68", means="AWS_CIS_4_4"),
            "not a rule lacework-global-68 stands for",
        ),
        (lambda: RuleId("  "), "needs a rule id"),
    ],
)
def test_bad_declarations_fail_at_import(decl, message):
    with pytest.raises(RemediationDeclarationError, match=message):
        decl()


def test_two_remediations_declaring_one_id_and_reason_conflict_with_the_resolving_line():
    other = manual(
        "other.close_ssh",
        rules=("AWS_CIS_4_1",),
        rule_ids=(RuleId("lacework-global-68", reasons=("Port22Open",), means="AWS_CIS_4_1"),),
    )

    class Both:
        @hookimpl
        def lw_remediate_remediations(self):
            return [WORLD, other]

    registry = load_maps(entry_points=False, extra_plugins=[("both", Both())])
    conflict = registry.index.conflicts["lacework-global-68"]
    assert conflict.remediation_ids == ("net.revoke_world_ingress", "other.close_ssh")
    assert conflict.config_line == 'lacework-global-68 = "net.revoke_world_ingress"'
    assert registry.index.lookup("lacework-global-68", "Port22Open").conflict is conflict
    # Port 3389 is declared by one remediation only, but the id is held until chosen.
    chosen = load_maps(
        entry_points=False,
        extra_plugins=[("both", Both())],
        rule_choices={"lacework-global-68": "other.close_ssh", "AWS_CIS_4_1": "other.close_ssh"},
    )
    assert not chosen.index.conflicts
    match = chosen.index.lookup("lacework-global-68", "Port22Open")
    assert match.remediations == (other,) and match.rule_id == "AWS_CIS_4_1"


def test_existing_declarations_without_rule_ids_keep_working():
    plain = manual("s3.plain_fix", rules=("LW_S3_16",))
    assert plain.rule_ids == () and plain.rules == ("LW_S3_16",)
    assert plain.handles("lacework-global-97", None)


def test_conflicts_are_logged_at_load_time_with_the_line_that_resolves_them():
    import structlog

    class Two:
        @hookimpl
        def lw_remediate_remediations(self):
            return [manual("a.fix_ssh", rules=("AWS_CIS_4_1",)), WORLD]

    with structlog.testing.capture_logs() as logs:
        registry = load_maps(entry_points=False, extra_plugins=[("two", Two())])
    events = [e for e in logs if e["event"] == "rule_conflict"]
    assert events, logs
    assert {e["rule_id"] for e in events} == set(registry.index.conflicts)
    for event in events:
        rid = event["rule_id"]
        assert event["resolve"] == f'[rules] {rid} = "{event["remediations"][0]}"'
