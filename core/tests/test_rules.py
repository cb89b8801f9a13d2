from __future__ import annotations

import re
from pathlib import Path

import pytest

from lw_remediate.rules import (
    alias_of,
    canonical_rule_id,
    legacy_ids,
    normal_rule_id,
    reason_suffix,
    rule_aliases,
    rule_forms,
    shares_new_id,
)


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        ("LW_S3_1", "LW_S3_1"),
        ("lacework-global-130", "LW_S3_1"),
        ("LACEWORK-GLOBAL-130", "LW_S3_1"),
        ("lw_s3_16", "LW_S3_16"),
        ("lacework-global-97", "LW_S3_16"),
        ("lacework-global-120", "LW_AWS_IAM_6"),
        ("lacework-global-37", "AWS_CIS_1_9"),
        ("lacework-global-141", "LW_AWS_IAM_13"),
        ("lacework-global-9999", "lacework-global-9999"),
        ("AWS_CIS_1_5", "AWS_CIS_1_5"),
        ("lacework-global-53", "AWS_CIS_2_1"),
        ("lacework-global-157", "LW_AWS_NETWORKING_46"),
        ("lacework-global-68", "lacework-global-68"),
    ],
)
def test_canonical_rule_id(given, canonical):
    assert canonical_rule_id(given) == canonical


def aws_rules_reference() -> dict[str, str | None]:
    """Legacy id -> new id (or None) from the reference table of all 162 AWS rules, when
    the shared reference is there (it is in this project's checkout)."""
    here = Path(__file__).resolve()
    paths = [p / "shared" / "reference" / "aws-rules.md" for p in here.parents]
    path = next((p for p in paths if p.exists()), None)
    out: dict[str, str | None] = {}
    for line in path.read_text("utf-8").splitlines() if path is not None else ():
        match = re.match(r"\| \w+ \| (\w+) \| (-\d+|—) \|", line)
        if match:
            new = match.group(2)
            out[match.group(1)] = None if new == "—" else f"lacework-global-{new[1:]}"
    return out


def test_alias_table_has_every_aws_rule_of_the_official_equivalence():
    table = rule_aliases()
    assert len(table) == 147
    for n in range(1, 22):
        rule = f"LW_S3_{n}"
        assert (rule in table) == (n != 17), rule  # LW_S3_17 has no new-style id
    reference = aws_rules_reference()
    if reference:
        assert len(reference) == 162
        assert table == {k: v for k, v in reference.items() if v is not None}
    # One new id may stand for two legacy rules, never more.
    shared = {new for new in table.values() if list(table.values()).count(new) > 1}
    assert shared == {f"lacework-global-{n}" for n in (68, 79, 148, 196, 197, 198, 231)}


@pytest.mark.parametrize(
    ("given", "legacy"),
    [
        ("lacework-global-68", ("AWS_CIS_4_1", "AWS_CIS_4_2")),
        ("lacework-global-148", ("LW_AWS_NETWORKING_5", "LW_AWS_NETWORKING_36")),
        ("LACEWORK-GLOBAL-196", ("LW_AWS_MONGODB_1", "LW_AWS_MONGODB_2")),
        ("lacework-global-53", ("AWS_CIS_2_1",)),
        ("aws_cis_4_1", ("AWS_CIS_4_1",)),
        ("lacework-global-9999", ()),
    ],
)
def test_a_new_id_may_stand_for_two_legacy_rules(given, legacy):
    assert legacy_ids(given) == legacy
    # Such an id has no single canonical form: it stays as sent until a map routes it.
    expected = legacy[0] if len(legacy) == 1 else normal_rule_id(given)
    assert canonical_rule_id(given) == expected
    assert rule_forms(given) >= {normal_rule_id(given), *legacy}


def test_shared_new_ids_name_the_other_rule():
    assert alias_of("AWS_CIS_4_1") == "lacework-global-68"
    assert alias_of("lacework-global-68") is None
    assert shares_new_id("AWS_CIS_4_2") == ("AWS_CIS_4_1",)
    assert shares_new_id("LW_S3_1") == ()


def test_alias_of_goes_both_ways():
    assert alias_of("LW_S3_1") == "lacework-global-130"
    assert alias_of("lacework-global-130") == "LW_S3_1"
    assert alias_of("AWS_CIS_1_5") is None


@pytest.mark.parametrize(
    ("reason", "rule", "suffix"),
    [
        ("LW_S3_1_ReadAccessGranted", "LW_S3_1", "ReadAccessGranted"),
        ("ReadAccessGranted", "LW_S3_1", "ReadAccessGranted"),
        (
            "lacework-global-120_AccessKey1NotUsed90Days",
            "lacework-global-120",
            "AccessKey1NotUsed90Days",
        ),
        ("lacework-global-120_AccessKey1NotUsed90Days", "LW_AWS_IAM_6", "AccessKey1NotUsed90Days"),
        ("AWS_CIS_1_3_PasswordNotUsed", None, "PasswordNotUsed"),
        ("lacework-global-68_Port22Open", "AWS_CIS_4_1", "Port22Open"),
        ("AWS_CIS_4_2_Port3389Open", "lacework-global-68", "Port3389Open"),
        (None, "LW_S3_1", None),
    ],
)
def test_reason_suffix(reason, rule, suffix):
    assert reason_suffix(reason, rule) == suffix
