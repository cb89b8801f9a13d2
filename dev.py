#!/usr/bin/env python3
"""Developer entry point; needs only python3 (3.11+).

    python3 dev.py demo   # set up .venv and run the simulated end-to-end demo
    python3 dev.py test   # set up .venv and run lint, types, the import layers and the whole test suite
    python3 dev.py setup  # only (re)create .venv

The virtualenv is rebuilt only when a pyproject.toml or requirements file changed.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
PACKAGES = [
    "core[testing]",
    "plugins/lw-map-s3",
    "plugins/lw-map-cis-iam",
    "plugins/lw-map-aws-network",
    "plugins/lw-map-aws-logging",
    "plugins/lw-map-aws-services",
    "plugins/lw-map-aws-activity",
]
INPUTS = [
    ROOT / "requirements-dev.txt",
    ROOT / "core/pyproject.toml",
    ROOT / "plugins/lw-map-s3/pyproject.toml",
    ROOT / "plugins/lw-map-cis-iam/pyproject.toml",
    ROOT / "plugins/lw-map-aws-network/pyproject.toml",
    ROOT / "plugins/lw-map-aws-logging/pyproject.toml",
    ROOT / "plugins/lw-map-aws-services/pyproject.toml",
    ROOT / "plugins/lw-map-aws-activity/pyproject.toml",
]


def run(*cmd: str | Path, check: bool = True) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], cwd=ROOT, check=check).returncode


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"lw-remediate needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in INPUTS)).hexdigest()
    stamp = VENV / ".lw-remediate-stamp"
    if stamp.exists() and stamp.read_text() == digest and PY.exists():
        return
    if not PY.exists():
        print(f"creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    run(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    editable = [arg for pkg in PACKAGES for arg in ("-e", pkg)]
    run(PY, "-m", "pip", "install", "--quiet", *editable, "-r", "requirements-dev.txt")
    stamp.write_text(digest)


def test(extra: list[str]) -> int:
    setup()
    run(BIN / "ruff", "check", ".")
    run(BIN / "ruff", "format", "--check", ".")
    run(BIN / "mypy")
    run(BIN / "lint-imports")  # the core's layers (root pyproject.toml, [tool.importlinter])
    return run(PY, "-m", "pytest", *extra, check=False)


def main() -> int:
    args = sys.argv[1:] or ["test"]
    command, extra = args[0], args[1:]
    try:
        if command == "setup":
            setup()
            return 0
        if command == "test":
            return test(extra)
        if command == "demo":
            setup()
            return run(BIN / "lw-remediate", "demo", *extra, check=False)
        if command in {"lw-remediate", "run"}:
            setup()
            return run(BIN / "lw-remediate", *extra, check=False)
    except subprocess.CalledProcessError as exc:
        return exc.returncode or 1
    print(f"usage: python3 dev.py [setup|test|demo|run ARGS...]; got {command!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
