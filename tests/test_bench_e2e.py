"""bench/e2e.py runs end to end with tiny numbers and reports every figure (issue 14).

The figures themselves are not asserted (they depend on the machine); what the run did
is: every alert reached its action, the bare ceiling made the same AWS calls, and a
dry-run action of LW_S3_16 costs one AWS request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lw_remediate.testing.postgres import find_bindir

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[1] / "bench" / "e2e.py"
ALERTS = 6
BUCKETS = 2


def test_e2e_bench_reports_every_figure_of_one_run():
    result = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            *("--alerts", str(ALERTS), "--buckets", str(BUCKETS)),
            *("--concurrency", "2", "--senders", "2"),
            *("--rates", "20", "--rate-seconds", "0.2", "--rounds", "2", "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    report = json.loads(result.stdout)

    assert report["machine"]["cpus"] >= 1 and len(report["machine"]["load_average"]) == 3
    assert report["ready_s"] > 0
    assert report["rss_idle_mb"] > 0 and report["rss_after_load_mb"] > 0
    assert report["alerts_before_rss"] == ALERTS + 4

    dry, bare_dry = report["dry_run"], report["bare_dry_run"]
    assert dry["statuses"] == bare_dry["statuses"] == {"planned": ALERTS}
    # check's read serves plan too: one GetBucketVersioning per dry-run action
    assert dry["aws_requests"].get("GET s3 versioning") == ALERTS
    assert bare_dry["aws_requests"] == {"GET s3 versioning": ALERTS}
    assert dry["lacework_requests_per_action"] == 1.0

    auto, bare_auto = report["auto"], report["bare_auto"]
    expected = {"remediated": BUCKETS, "resolved": ALERTS - BUCKETS}
    assert auto["statuses"] == bare_auto["statuses"] == expected
    assert auto["aws_requests"].get("PUT s3 versioning") == BUCKETS

    fixed = report["latency"]["20"]
    assert fixed["alerts"] == 4 and fixed["statuses"] == {"planned": 4}
    assert 0 < fixed["p50_ms"] <= fixed["p99_ms"] <= fixed["max_ms"]
    for run in (dry, bare_dry, auto, bare_auto):
        assert run["alerts_per_s"] > 0 and run["cpu_ms_per_action"] >= 0
    assert set(report["ratios"]) == {"dry_run_vs_bare", "auto_vs_bare"}
    assert set(report["own_cpu_ms_per_action"]) == {"dry_run", "auto"}
    # two rounds of the throughput pairs: the headline ratios are their medians
    first, second = report["rounds"]
    assert first["ratios"]["dry_run_vs_bare"] == round(
        dry["alerts_per_s"] / bare_dry["alerts_per_s"], 2
    )
    assert all(v > 0 for v in second["alerts_per_s"].values())
    for key, ratio in report["ratios"].items():
        pair = (first["ratios"][key], second["ratios"][key])
        assert abs(ratio - sum(pair) / 2) <= 0.011

    # The PostgreSQL column (issue 16): the same bursts with serve on PostgreSQL.
    pg = report["postgresql"]
    if find_bindir() is None and os.environ.get("CI") != "true":
        assert set(pg) == {"left_out"} and "no PostgreSQL binaries" in pg["left_out"]
        return
    assert pg["dry_run"]["statuses"] == {"planned": ALERTS}
    assert pg["dry_run"]["aws_requests"].get("GET s3 versioning") == ALERTS
    assert pg["auto"]["statuses"] == expected
    assert pg["auto"]["aws_requests"].get("PUT s3 versioning") == BUCKETS
    assert pg["ready_s_dry_run"] > 0 and pg["ready_s_auto"] > 0
    assert set(pg["vs_sqlite"]) == {"dry_run", "auto"}
    assert all(ratio > 0 for ratio in pg["vs_sqlite"].values())
