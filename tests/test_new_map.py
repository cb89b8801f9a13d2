"""`lw-remediate new-map` writes a package whose own tests pass as generated, outside the repo."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent


def lw_remediate(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from lw_remediate.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("author")
    result = lw_remediate("new-map", "acme-logs", cwd=home)
    assert result.returncode == 0, result.stderr
    assert "wrote 8 files to lw-map-acme-logs/" in result.stdout
    return home / "lw-map-acme-logs"


def test_the_package_declares_one_entry_point_for_its_package(package):
    meta = tomllib.loads((package / "pyproject.toml").read_text())
    assert meta["project"]["name"] == "lw-map-acme-logs"
    assert meta["project"]["entry-points"]["lw_remediate.maps"] == {"acme_logs": "lw_map_acme_logs"}
    assert (package / "src" / "lw_map_acme_logs" / "py.typed").exists()
    assert (package / ".github" / "workflows" / "ci.yml").read_text().count("pytest") == 1
    readme = (package / "README.md").read_text()
    assert "| `ACME_LOGS_1` | `acme_logs.set_log_retention` |" in readme


def test_its_tests_pass_as_generated(package, tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=package,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(package / "src"), "HOME": str(tmp_path)},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "8 passed" in result.stdout


def test_it_is_lint_clean_under_its_own_configuration(package):
    for args in (["check", "."], ["format", "--check", "."]):
        result = subprocess.run(
            [str(BIN / "ruff"), *args], cwd=package, capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr


def test_a_bad_name_or_an_occupied_directory_is_one_line_and_exit_2(package, tmp_path):
    bad = lw_remediate("new-map", "Acme Logs", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.count("\n") == 1 and "Invalid value for NAME" in bad.stderr
    occupied = lw_remediate("new-map", "acme-logs", "--dir", str(package), cwd=tmp_path)
    assert occupied.returncode == 2
    assert "already exists and is not empty" in occupied.stderr
    assert not list(tmp_path.iterdir())
