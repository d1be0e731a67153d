"""Run the real ``ail`` console script against the stack under test, as the demo agency."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import REPO

AIL = REPO / ".venv" / "bin" / "ail"


@dataclass
class Cli:
    env: dict[str, str]
    cwd: Path

    def run(self, *args: str, timeout: float = 600.0) -> tuple[int, dict[str, Any], str]:
        """(exit code, the --json document, stderr)."""
        cp = subprocess.run(
            [str(AIL), *args, "--json"],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        try:
            doc = json.loads(cp.stdout) if cp.stdout.strip() else {}
        except ValueError:
            raise AssertionError(f"ail {' '.join(args)} printed no JSON:\n{cp.stdout}\n{cp.stderr}") from None
        return cp.returncode, doc, cp.stderr

    def popen(self, *args: str) -> subprocess.Popen[bytes]:
        """Started, not waited for (to be killed); its output is not kept."""
        return subprocess.Popen(
            [str(AIL), *args, "--json"],
            env=self.env,
            cwd=self.cwd,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


@pytest.fixture
def cli(tmp_path: Path, entry_url: str, demo: dict[str, Any]) -> Cli:
    assert AIL.exists(), "the ail console script is not installed: uv sync"
    env = {
        **os.environ,
        "AIL_CONFIG_DIR": str(tmp_path / "config"),
        "AIL_URL": entry_url,
        "AIL_API_KEY": demo["agency"]["api_key"],
        "COLUMNS": "200",
    }
    env.pop("AIL_ENTERPRISE", None)
    env.pop("AIL_CLI_PROFILE", None)
    return Cli(env, tmp_path)
