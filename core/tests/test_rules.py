from __future__ import annotations

import pytest

from lw_remediate.rules import alias_of, canonical_rule_id, reason_suffix, rule_aliases


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
    ],
)
def test_canonical_rule_id(given, canonical):
    assert canonical_rule_id(given) == canonical


def test_alias_table_is_a_bijection_and_complete_for_s3():
    table = rule_aliases()
    assert len(set(table.values())) == len(table)
    for n in range(1, 22):
        rule = f"LW_S3_{n}"
        assert (rule in table) == (n != 17), rule  # LW_S3_17 has no new-style id


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
        (None, "LW_S3_1", None),
    ],
)
def test_reason_suffix(reason, rule, suffix):
    assert reason_suffix(reason, rule) == suffix
