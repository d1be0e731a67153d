"""The chaos harness, small: 200 complete applications (HTTP submit to a clearance at Customs)
while every service, the signer, Kafka and PostgreSQL are SIGKILLed once each (in a random
order, back after 1-3 s) and every sandbox fault mode comes on for a while. Every check of the
harness must hold: nothing stuck without a reason, nothing sent back to draft, no duplicate form
or license number, MOFCOM submission, signature or ledger entry, every history in order, every
webhook event delivered, statistics equal to SQL, no valid event dead-lettered.

One replica of every service by default (the suite's time); ``AIL_CHAOS_REPLICAS=2`` runs it with
two (``./dev scale 2`` for this module, back after; each kill of a service SIGKILLs one of its
replicas). Two faults the two-replica runs found in CI (session 7) are fixed (session 8): a
signer replica's scan of the shared SoftHSM2 token directory missing an e-key, whose heartbeat
then said "removed" (tests/integration/signer/test_shared_tokens.py), and the statistics index
leaving figures out after a rebalance (tests/unit/stats/test_tables.py, docs/stats.md). The
two-replica checks of their own (relay hand-over, statistics merge) are in test_replicas.py.

It runs ``benchmarks/chaos.py`` as a subprocess against the stack under test, the way a person
runs it (see README, "Chaos harness")."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import REPO, scaled

REPLICAS = int(os.environ.get("AIL_CHAOS_REPLICAS", "1"))

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

ARGS = [
    "-n",
    "200",
    "--kills",
    "1",
    "--downtime",
    "1-3",
    "--gap",
    "1-2",
    "--fault-on",
    "8",
    "--fault-off",
    "3",
    "--quiet",
    "45",
    "--settle-timeout",
    "300",
    "--seed",
    "10",
]


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[dict[str, str]]:
    """The stack with REPLICAS copies of every service for this module; as before afterwards."""
    with scaled(REPLICAS) as stack:
        yield stack


@pytest.mark.timeout(900)
def test_chaos_harness_small_run_holds_every_check(chaos_stack: dict[str, str], tmp_path: Path) -> None:
    stack = chaos_stack
    report = tmp_path / "chaos.json"
    env = {**os.environ, "AIL_PROFILE": stack["AIL_PROFILE"], "AIL_PORT_BASE": stack["AIL_PORT_BASE"]}
    args = [*ARGS, "--replicas", str(REPLICAS)]
    cp = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "chaos.py"), *args, "--report", str(report)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    out = cp.stdout[-12000:] + cp.stderr[-4000:]
    assert report.exists(), f"the harness wrote no report (exit {cp.returncode}):\n{out}"
    data = json.loads(report.read_text())
    failed = [c for c in data["checks"] if not c["ok"]]
    assert not failed, (
        "checks failed:\n"
        + "\n".join(
            f"- {c['name']}: expected {c['expected']}, got {c['actual']}; e.g. {c['examples'][:3]}"
            for c in failed
        )
        + f"\n\nharness output:\n{out}"
    )
    assert cp.returncode == 0, out
    assert data["figures"]["kills_done"] == 8
    assert data["figures"]["replicas"] == REPLICAS
    assert {c["name"] for c in data["checks"]} >= {
        "final or visibly waiting (0 stuck without a reason)",
        "duplicate form numbers",
        "duplicate license numbers",
        "duplicate MOFCOM submissions (sandbox's view)",
        "duplicate signatures",
        "duplicate ledger entries",
        "every history in order (time, lifecycle, complete)",
        "each webhook event delivered (>= 1, counted)",
        "statistics = SQL recomputation",
        "valid events in dead-letter topics",
    }
