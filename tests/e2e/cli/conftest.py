"""Run the real ``ail`` console script against the stack under test, as the demo agency."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.cli.support import AIL, Cli


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
