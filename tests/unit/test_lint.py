"""Lint is part of the suite, so CI holds the line: ruff on everything, mypy --strict on the
shared library, every service, the sandboxes and the clients (the ail command line)."""

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
    r = _run("ruff", "check", "shared", "services", "sandbox", "clients", "tests", "benchmarks", "scripts")
    assert r.returncode == 0, r.stdout + r.stderr


def test_mypy_strict_passes_on_the_library_services_sandboxes_and_clients() -> None:
    packages = ["shared/ail_shared", *sorted(str(p.relative_to(REPO)) for p in REPO.glob("services/*/ail_*"))]
    assert len(packages) == 7, packages  # the library and six services
    clients = sorted(str(p.relative_to(REPO)) for p in REPO.glob("clients/*/ail_*"))
    assert clients == ["clients/cli/ail_cli"], clients
    r = _run("mypy", *packages, "sandbox/ail_sandbox", *clients)
    assert r.returncode == 0, r.stdout + r.stderr
