"""Issue 16: ``benchmarks/run_all.py --quick`` runs every figure of the issue's table against the
stack and writes one row per figure with its numbers. A smoke run (tiny sizes): it shows the one
benchmark command still works end to end, not how fast anything is (no timing assertions).

--quick holds MOFCOM's first review per application (scopes, not the global /control), does not
pause the stack for the signer figure, and uses tenants and licenses of its own (benchmarks/run_all.py
says so); it still runs in the serial phase for now, because its bursts (availability checks,
webhooks, the signer) load the stack its neighbours time themselves against."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.serial

ROW_KEYS = [
    "submit_single",
    "submit_batch",
    "cpu_per_submission",
    "drafts",
    "signer",
    "availability",
    "webhooks",
    "page",
    "outbox",
    "stats",
]


def test_run_all_quick_prints_and_writes_every_row_of_the_table(
    stack: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "run_all.json"
    cp = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "run_all.py"), "--quick", "--json", str(out)],
        env={**os.environ, **stack},
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert cp.returncode == 0, cp.stdout[-4000:] + cp.stderr[-4000:]
    document = json.loads(out.read_text())
    rows = {r["key"]: r for r in document["rows"]}
    assert list(rows) == ROW_KEYS
    for key, r in rows.items():
        assert r["error"] == "", (key, r["error"])
        assert isinstance(r["value"], int | float) and math.isfinite(r["value"]), (key, r)
        assert r["value"] >= 0, (key, r)
        assert r["met"] in (True, False), (key, r)
        assert r["figure"] and r["goal"] and r["path"], (key, r)
        assert isinstance(r["load"], int | float), (key, r)
    # The printed table has the same rows, one line each, beside the goals.
    printed = [line for line in cp.stdout.splitlines() if line.startswith("| ")]
    assert len(printed) == 1 + len(ROW_KEYS), cp.stdout[-4000:]
    for r in rows.values():
        assert any(line.startswith(f"| {r['path']} |") and r["goal"] in line for line in printed), r["path"]
