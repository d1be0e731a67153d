"""The chaos harness, small: 200 complete applications (HTTP submit to a clearance at Customs)
while every service, the signer, Kafka and PostgreSQL are SIGKILLed once each (in a random
order, back after 1-3 s) and every sandbox fault mode comes on for a while. Issue 16: with
two replicas of every service (the suite's default, see REPLICAS; ``AIL_CHAOS_REPLICAS=1``: one)
(``./dev scale 2`` for this module, back to the stack's count after), each kill of a service
SIGKILLs one of its replicas, and the outbox relay's leadership is seen to pass to the other
replica when its leader dies. Every check of the harness must hold: nothing stuck without a
reason, nothing sent back to draft, no duplicate form or license number, MOFCOM submission,
signature or ledger entry, every history in order, every webhook event delivered, statistics
equal to SQL, no valid event dead-lettered.

It runs ``benchmarks/chaos.py`` as a subprocess against the stack under test, the way a person
runs it (see README, "Chaos harness")."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.integration.stats.support import build_set, make_tenants, publish, total_count
from tests.support import REPO, dev, eventually, stack_env

# Two replicas of every service in the suite. Known: one CI run of three (session 7) found the
# statistics off with two (13 differences: see docs/stats.md, "Known fault"); the run with one
# replica found the lag exporter timing out after Kafka's kill (every sample over 10 s) in the
# metrics tests that follow, which the scale back to one replica hides by restarting it. Both are
# open; AIL_CHAOS_REPLICAS=1 runs this on one.
REPLICAS = int(os.environ.get("AIL_CHAOS_REPLICAS", "2"))

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


def _replicas(stack: dict[str, str]) -> int:
    recorded = json.loads((Path(stack["AIL_DEVSTACK_DIR"]) / "stack.json").read_text())
    return int(recorded.get("AIL_STACK_REPLICAS") or 1)


@pytest.fixture(scope="module")
def chaos_stack() -> Iterator[dict[str, str]]:
    """The stack with REPLICAS copies of every service for this module; as before afterwards."""
    stack = stack_env()
    assert stack is not None, "the test stack is not running"
    before = _replicas(stack)
    if before != REPLICAS:
        dev("scale", str(REPLICAS), timeout=900)
    try:
        yield stack
    finally:
        if before != REPLICAS:
            dev("scale", str(before), timeout=600)


def _leaderships(stack: dict[str, str], service: str, schema: str) -> dict[str, str]:
    """Replica -> when it last became the outbox relay leader of SCHEMA (its log's latest
    ``outbox_relay_leader`` line); the replica with the latest one leads now."""
    logs = Path(stack["AIL_DEVSTACK_DIR"]) / "logs"
    names = [service] + [f"{service}-{k}" for k in range(2, REPLICAS + 1)]
    out: dict[str, str] = {}
    for name in names:
        try:
            lines = (logs / f"{name}.log").read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            if '"outbox_relay_leader"' not in line:
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            if rec.get("event") == "outbox_relay_leader" and rec.get("schema") == schema:
                out[name] = max(out.get(name, ""), str(rec.get("timestamp", "")))
    return out


@pytest.mark.timeout(300)
def test_the_relay_leadership_passes_to_the_other_replica_and_nginx_routes_round_the_dead_one(
    chaos_stack: dict[str, str],
) -> None:
    if REPLICAS < 2:
        pytest.skip("AIL_CHAOS_REPLICAS=1: one replica, no hand-over")
    stack = chaos_stack
    status = dev("status", check=False)
    assert "submission-2" in status and f"{REPLICAS} replica(s)" in status, status
    deadline = time.monotonic() + 60
    while not (held := _leaderships(stack, "submission", "submission")) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert held, "no replica of the submission service logged outbox_relay_leader"
    leader = max(held, key=lambda n: held[n])
    other = "submission-2" if leader == "submission" else "submission"
    # ./dev names replica 1 `submission-1` (`submission` alone would be every replica).
    target = "submission-1" if leader == "submission" else leader
    killed_at = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    dev("kill", target)
    try:
        # The entry point goes round the dead replica: every call answers, none is a 502.
        demo = json.loads(Path(stack["AIL_DEMO_FILE"]).read_text())
        key = demo["enterprises"][0]["api_key"]
        with httpx.Client(base_url=stack["AIL_ENTRY_URL"], timeout=15.0) as c:
            codes = [
                c.get("/api/v1/ekey-bindings", headers={"Authorization": f"Bearer {key}"}).status_code
                for _ in range(10)
            ]
        assert codes == [200] * 10, codes
        # The survivor takes the advisory lock once the dead one's session is gone (it polls it).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if _leaderships(stack, "submission", "submission").get(other, "") >= killed_at:
                break
            time.sleep(0.5)
        assert _leaderships(stack, "submission", "submission").get(other, "") >= killed_at, (
            f"{other} did not take over the submission outbox after {leader} was killed at {killed_at}"
        )
    finally:
        dev("start", target, timeout=300)


@pytest.mark.timeout(300)
async def test_every_stats_answer_through_the_entry_point_is_the_whole_sum(
    chaos_stack: dict[str, str], db: asyncpg.Pool
) -> None:
    """Each stats replica holds only its partitions' figures: whichever replica nginx asks, the
    answer is the sum over all of them (the replica merges the others' shards)."""
    if REPLICAS < 2:
        pytest.skip("AIL_CHAOS_REPLICAS=1: one stats replica")
    tenants = await make_tenants(db, 1)
    s = build_set(random.Random(16), tenants.enterprises, 60, (2025,))  # spread over every partition
    await publish(chaos_stack["AIL_KAFKA_BOOTSTRAP"], s.messages)
    headers = {"Authorization": f"Bearer {tenants.agency_key}"}
    async with httpx.AsyncClient(base_url=chaos_stack["AIL_ENTRY_URL"], headers=headers, timeout=30) as c:

        async def all_counted() -> bool:
            return await total_count(c, (2025, 2026)) == len(s.approvals)

        await eventually(all_counted, timeout=120, interval=0.5, what=f"{len(s.approvals)} approvals counted")
        # Round robin: consecutive answers come from both replicas; each is the whole sum.
        assert [await total_count(c, (2025, 2026)) for _ in range(6)] == [len(s.approvals)] * 6


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
