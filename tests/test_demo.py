"""The demo is the README's first command: it must work on a fresh machine."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow


def test_demo_remediates_everything_and_says_the_cloud_is_simulated(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", "demo"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "SIMULATED" in out
    assert "all simulated violations remediated" in out
    rows = [line for line in out.splitlines() if line.startswith(("123456789012", "210987654321"))]
    assert len(rows) >= 3
    assert all(line.rstrip().endswith("remediated") for line in rows)
    assert "versioning never enabled" in out and "versioning Enabled" in out
