"""A third-party map outside this repository passes the kit's least-privilege proof with a
resource-scoped EC2 policy, using only the public API (tests/thirdparty/lw-map-sample-ec2)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parent / "thirdparty" / "lw-map-sample-ec2"


def test_the_sample_ec2_map_passes_its_own_tests_outside_the_repository(tmp_path):
    copy = tmp_path / "lw-map-sample-ec2"
    shutil.copytree(SAMPLE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(copy / "src"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "6 passed" in result.stdout
