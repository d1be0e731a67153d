"""Issue 18: the console's unit and component tests (Vitest) run with the suite."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parents[2] / "console"


def test_the_console_unit_and_component_tests_pass() -> None:
    node = shutil.which("node")
    cli = CONSOLE / "node_modules" / "vitest" / "vitest.mjs"
    if node is None or not cli.exists():
        pytest.fail("node and the console's node modules are needed: ./dev install")
    cp = subprocess.run(
        [node, str(cli), "run"], cwd=CONSOLE, capture_output=True, text=True, timeout=600, check=False
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
