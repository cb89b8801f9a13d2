"""bench/ready.py starts serve, sees /readyz answer 200, stops it, and reports the median.

The figure itself is not asserted (it depends on the machine); that the run got a 200
from a daemon it started and stopped is.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "ready.py"


def test_ready_bench_measures_two_starts():
    result = subprocess.run(
        [sys.executable, str(BENCH), "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    runs = re.findall(r"^run \d: ready after (\d+\.\d+) s$", result.stdout, re.MULTILINE)
    assert len(runs) == 2
    assert re.search(r"^median \d+\.\d+ s, min .* over 2 runs; load after", result.stdout, re.M)
