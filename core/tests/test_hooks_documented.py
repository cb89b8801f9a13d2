"""Every hook specification is documented in docs/hooks.md with its exact signature."""

from __future__ import annotations

import inspect
from pathlib import Path

from lw_remediate import hookspecs
from lw_remediate.plugins import plugin_manager

DOCS = Path(__file__).resolve().parents[2] / "docs" / "hooks.md"


def test_every_hook_is_documented_with_its_signature():
    text = DOCS.read_text()
    pm = plugin_manager()
    hooks = [name for name in dir(pm.hook) if name.startswith("lw_remediate_")]
    assert hooks, "no hooks found"
    for name in hooks:
        spec = pm.hook.__dict__[name].spec
        signature = f"{name}({', '.join(spec.argnames)})"
        assert f"## {signature}" in text, f"docs/hooks.md has no heading '## {signature}'"


def test_hookspecs_module_is_the_only_place_with_specs():
    names = [
        n
        for n, _ in inspect.getmembers(hookspecs, inspect.isfunction)
        if n.startswith("lw_remediate_")
    ]
    pm = plugin_manager()
    assert sorted(names) == sorted(n for n in dir(pm.hook) if n.startswith("lw_remediate_"))
