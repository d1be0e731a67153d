"""Lint is part of the suite, so CI holds the line: ruff on everything, mypy --strict on the
shared library (services are brought under mypy one by one; see pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, check=False, timeout=300
    )


def test_ruff_check_passes() -> None:
    r = _run("ruff", "check", "shared", "services", "sandbox", "tests", "benchmarks", "scripts")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_passes_on_the_shared_library() -> None:
    r = _run("mypy", "shared/ail_shared")
    assert r.returncode == 0, r.stdout + r.stderr
