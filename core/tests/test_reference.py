"""docs/reference.md lists every public name and every fixture of the kit (and nothing else)."""

from __future__ import annotations

import re
from pathlib import Path

import lw_remediate
import lw_remediate.testing
from lw_remediate.testing import pytest_plugin

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference.md"


def _headings(level: str) -> set[str]:
    return set(re.findall(rf"^{level} `([A-Za-z_]+)`$", REFERENCE.read_text(), re.MULTILINE))


def _fixtures() -> set[str]:
    return {
        name
        for name, obj in vars(pytest_plugin).items()
        if not name.startswith("_") and type(obj).__name__ == "FixtureFunctionDefinition"
    }


def test_every_public_name_has_a_section():
    missing = sorted(set(lw_remediate.__all__) - _headings("###"))
    assert not missing, f"docs/reference.md has no '### `name`' section for: {missing}"


def test_every_kit_name_and_fixture_has_a_section():
    fixtures = _fixtures()
    assert {"moto_server", "least_privilege", "run_remediation", "fake_lacework"} <= fixtures
    missing = sorted((set(lw_remediate.testing.__all__) | fixtures) - _headings("####"))
    assert not missing, f"docs/reference.md has no '#### `name`' section for: {missing}"


def test_nothing_documented_is_gone():
    documented = _headings("###") | _headings("####")
    public = set(lw_remediate.__all__) | set(lw_remediate.testing.__all__) | _fixtures()
    assert sorted(documented - public) == []
