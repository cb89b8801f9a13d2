"""Every AWS rule Lacework reports reaches an installed remediation, in both id forms.

tests/data/aws_rules.tsv lists all 162 AWS rules (legacy id, lacework-global id, family).
With the five map sets of this repository installed, ``lw-remediate maps --json`` must
list each legacy rule under exactly one remediation, show its new id beside it, and say
whether it is automatic (possibly by option) or manual-only.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

RULES = Path(__file__).parent / "data" / "aws_rules.tsv"


def reference() -> list[tuple[str, str | None, str]]:
    rows = []
    for line in RULES.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        legacy, new, family = line.split("\t")
        rows.append((legacy, None if new == "-" else new, family))
    return rows


@pytest.fixture(scope="module")
def listed() -> dict[str, list[dict]]:
    out = subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", "maps", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    data = json.loads(out)
    assert data["failed"] == [], data["failed"]
    by_rule: dict[str, list[dict]] = {}
    for dist in data["maps"]:
        for remediation in dist["remediations"]:
            for rule in remediation["rules"]:
                by_rule.setdefault(rule["rule_id"], []).append(
                    {**remediation, "alias": rule["alias"], "map": dist["name"]}
                )
    return by_rule


def test_the_reference_has_all_162_rules():
    rows = reference()
    assert len(rows) == 162
    assert len({legacy for legacy, _, _ in rows}) == 162


@pytest.mark.parametrize(("legacy", "new", "family"), reference(), ids=lambda v: str(v))
def test_every_rule_reaches_one_remediation_in_both_forms(listed, legacy, new, family):
    handlers = listed.get(legacy, [])
    assert len(handlers) == 1, f"{legacy} ({family}) is handled by {len(handlers)} remediations"
    [handler] = handlers
    assert handler["alias"] == new, f"{legacy}: maps shows {handler['alias']!r}, expected {new!r}"
    assert isinstance(handler["auto_remediable"], bool)
    assert isinstance(handler["manual_by_default"], bool)
    if not handler["auto_remediable"]:
        assert handler["manual_by_default"], f"{legacy}: manual-only must be manual by default"
