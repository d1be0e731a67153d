"""Issue 18: the console's TypeScript types (console/src/api/schema.d.ts) are what
openapi-typescript makes of the public OpenAPI document, docs/openapi.json (whose own staleness
tests/unit/shared/test_openapi.py checks). Refresh: ``cd console && npm run gen:api``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONSOLE = REPO / "console"


def test_the_console_types_are_generated_from_the_public_document(tmp_path: Path) -> None:
    node = shutil.which("node")
    cli = CONSOLE / "node_modules" / "openapi-typescript" / "bin" / "cli.js"
    if node is None or not cli.exists():
        pytest.fail("node and the console's node modules are needed: ./dev install")
    out = tmp_path / "schema.d.ts"
    cp = subprocess.run(
        [node, str(cli), "../docs/openapi.json", "-o", str(out)],
        cwd=CONSOLE,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert cp.returncode == 0, cp.stdout + cp.stderr
    assert out.read_text() == (CONSOLE / "src" / "api" / "schema.d.ts").read_text(), (
        "console/src/api/schema.d.ts is stale: cd console && npm run gen:api"
    )
