"""Issue 18: the console's TypeScript types are generated from the public OpenAPI document and
a test fails when they are stale: console/openapi.json must be the document the running stack
describes (console/scripts/openapi-doc.mjs), and console/src/api/schema.d.ts what
openapi-typescript makes of it. To refresh: ``cd console && npm run openapi && npm run gen:api``
(with the stack's environment)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support import REPO

CONSOLE = REPO / "console"


def _node(*args: str, env: dict[str, str]) -> None:
    node = shutil.which("node")
    if node is None or not (CONSOLE / "node_modules").exists():
        pytest.fail("node and the console's node modules are needed: ./dev install")
    cp = subprocess.run([node, *args], cwd=CONSOLE, env=env, capture_output=True, text=True, timeout=300)
    assert cp.returncode == 0, cp.stdout + cp.stderr


def test_the_console_types_match_the_public_api(stack: dict[str, str], tmp_path: Path) -> None:
    env = {**os.environ, **stack}
    _node("scripts/openapi-doc.mjs", str(tmp_path / "openapi.json"), env=env)
    committed = (CONSOLE / "openapi.json").read_text()
    assert (tmp_path / "openapi.json").read_text() == committed, (
        "console/openapi.json is stale: cd console && npm run openapi && npm run gen:api"
    )
    _node(
        "node_modules/openapi-typescript/bin/cli.js",
        "openapi.json",
        "-o",
        str(tmp_path / "schema.d.ts"),
        env=env,
    )
    assert (tmp_path / "schema.d.ts").read_text() == (CONSOLE / "src" / "api" / "schema.d.ts").read_text(), (
        "console/src/api/schema.d.ts is stale: cd console && npm run gen:api"
    )
