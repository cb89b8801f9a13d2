from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def broken_map_dir(tmp_path: Path) -> Path:
    """A directory that, on sys.path / PYTHONPATH, installs a map whose import raises.

    It is a real distribution as importlib.metadata sees one (a .dist-info folder with
    an entry_points.txt), so loading goes through the same entry-point machinery.
    """
    dist = tmp_path / "lw_map_broken-0.3.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: lw-map-broken\nVersion: 0.3.1\n")
    (dist / "entry_points.txt").write_text("[lw_remediate.maps]\nbroken = lw_map_broken\n")
    (tmp_path / "lw_map_broken.py").write_text("raise RuntimeError('boom at import')\n")
    return tmp_path


@pytest.fixture
def cli(tmp_path: Path):
    """Run the real ``lw-remediate`` CLI in a subprocess; returns CompletedProcess."""

    def _run(*args: str, env: dict[str, str] | None = None, pythonpath: Path | None = None):
        import os

        full_env = {**os.environ, **(env or {})}
        full_env.pop("LW_REMEDIATE_CONFIG", None)
        if pythonpath is not None:
            full_env["PYTHONPATH"] = str(pythonpath)
        code = "from lw_remediate.cli import main; main()"
        return subprocess.run(
            [sys.executable, "-c", code, *args],
            capture_output=True,
            text=True,
            env=full_env,
            timeout=120,
            cwd=tmp_path,
        )

    return _run


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path
