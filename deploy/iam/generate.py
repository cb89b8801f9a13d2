#!/usr/bin/env python3
"""Regenerate deploy/iam/ from ``lw-remediate policy`` over the installed remediations.

    .venv/bin/python deploy/iam/generate.py           # rewrite the files
    .venv/bin/python deploy/iam/generate.py --check   # exit 1 with a diff when stale

Run it with the interpreter that has lw-remediate and every map set installed (the
workspace's .venv). No configuration is read: ``LW_REMEDIATE_*`` variables are
dropped, so the files cover every installed remediation with default options, undo
included. tests/test_iam_templates.py fails when the committed files differ.
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
REGENERATE = "python deploy/iam/generate.py"

#: File name -> the ``lw-remediate`` arguments that print it.
OUTPUTS: dict[str, list[str]] = {
    "policy.json": ["policy"],
    "role.cloudformation.json": ["policy", "--format", "cloudformation"],
}


class GenerateError(Exception):
    """The CLI failed, or the installed maps are not in a state to generate from."""


def lw_remediate(*args: str) -> str:
    """Run the ``lw-remediate`` CLI of this interpreter without any configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LW_REMEDIATE_")}
    result = subprocess.run(  # noqa: S603 - our own interpreter, fixed arguments
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    if result.returncode != 0:
        raise GenerateError(f"lw-remediate {' '.join(args)} failed:\n{result.stderr.strip()}")
    return result.stdout


def render() -> dict[str, str]:
    """The files as ``lw-remediate policy`` prints them now."""
    maps = json.loads(lw_remediate("maps", "--json"))
    problems = [f"map {m['name']} failed to load: {m['error']}" for m in maps["failed"]]
    problems += [c["detail"] for c in maps["conflicts"]]
    if problems:
        raise GenerateError("not generating from a broken install:\n" + "\n".join(problems))
    return {name: lw_remediate(*args) for name, args in OUTPUTS.items()}


def stale(fresh: dict[str, str]) -> dict[str, str]:
    """File name -> unified diff, for every committed file that differs from ``fresh``."""
    diffs: dict[str, str] = {}
    for name, text in fresh.items():
        path = HERE / name
        committed = path.read_text() if path.exists() else ""
        if committed != text:
            diffs[name] = "".join(
                difflib.unified_diff(
                    committed.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"committed/{name}",
                    f"generated/{name}",
                )
            )
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files")
    args = parser.parse_args(argv)
    try:
        fresh = render()
    except GenerateError as exc:
        sys.stderr.write(f"{exc}\n")
        return 2
    diffs = stale(fresh)
    if args.check:
        for diff in diffs.values():
            sys.stdout.write(diff)
        if diffs:
            sys.stderr.write(f"deploy/iam is out of date; regenerate: {REGENERATE}\n")
        return 1 if diffs else 0
    for name in diffs:
        (HERE / name).write_text(fresh[name])
        sys.stdout.write(f"wrote deploy/iam/{name}\n")
    if not diffs:
        sys.stdout.write("deploy/iam is up to date\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
