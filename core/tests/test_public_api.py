"""Maps import only from lw_remediate's public API, and that API is complete."""

from __future__ import annotations

import ast
from pathlib import Path

import lw_remediate

ROOT = Path(__file__).resolve().parents[2]


def test_all_names_resolve():
    for name in lw_remediate.__all__:
        assert getattr(lw_remediate, name) is not None, name


def test_maps_import_only_the_public_api():
    offenders = []
    for path in (ROOT / "plugins").glob("*/src/**/*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.ImportFrom)
                and node.module
                and node.module.startswith("lw_remediate.")
            ):
                offenders.append(f"{path.relative_to(ROOT)}: from {node.module}")
            if isinstance(node, ast.Import):
                offenders += [
                    f"{path.relative_to(ROOT)}: import {a.name}"
                    for a in node.names
                    if a.name.startswith("lw_remediate.")
                ]
    assert offenders == []


def test_version_is_exposed():
    assert lw_remediate.__version__ == "0.1.0"
