"""No module of the core grows past 500 lines (issue 10), so the layout cannot drift.

A module that outgrows the limit is split along its concerns (docs/architecture.md
shows how the ones before it were: cli/ one module per command group, config/ models
and loading, registry.py out of plugins.py, ...). A module that truly cannot be split
yet goes into ``EXCEPTIONS`` with the reason and the line count it may not pass.
"""

from __future__ import annotations

from pathlib import Path

import lw_remediate

LIMIT = 500
CORE = Path(lw_remediate.__file__).resolve().parent

#: module (relative to lw_remediate/) -> (its own limit, why it is over LIMIT). None today.
EXCEPTIONS: dict[str, tuple[int, str]] = {}


def sizes() -> dict[str, int]:
    return {
        path.relative_to(CORE).as_posix(): len(path.read_text("utf-8").splitlines())
        for path in sorted(CORE.rglob("*.py"))
    }


def test_every_core_module_is_under_the_limit():
    found = sizes()
    assert "pipeline/engine.py" in found and "cli/main.py" in found  # the walk sees the tree
    over = {
        name: lines for name, lines in found.items() if lines > EXCEPTIONS.get(name, (LIMIT, ""))[0]
    }
    assert not over, (
        f"over {LIMIT} lines: {over}; split each along its concerns "
        "(docs/architecture.md), or list it in EXCEPTIONS with the reason"
    )


def test_every_exception_is_still_needed():
    found = sizes()
    stale = [name for name in EXCEPTIONS if found.get(name, 0) <= LIMIT]
    assert not stale, f"no longer over {LIMIT} lines, drop them from EXCEPTIONS: {stale}"
