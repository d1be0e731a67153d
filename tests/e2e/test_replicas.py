"""Two replicas of every service (issue 16; ``./dev scale 2`` for this module, back to the stack's
count after): when the outbox relay's leader is SIGKILLed the other replica takes the relay over
and nginx routes round the dead one; whichever statistics replica nginx asks, the answer is the
whole sum (each merges the others' shards). The chaos harness with two replicas:
``AIL_CHAOS_REPLICAS=2`` for tests/e2e/test_chaos.py."""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.integration.stats.support import build_set, make_tenants, publish, total_count
from tests.support import dev, eventually, scaled

REPLICAS = 2

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)


@pytest.fixture(scope="module")
def replicas_stack() -> Iterator[dict[str, str]]:
    """The stack with REPLICAS copies of every service for this module; as before afterwards."""
    with scaled(REPLICAS) as stack:
        yield stack


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
    replicas_stack: dict[str, str],
) -> None:
    stack = replicas_stack
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
    replicas_stack: dict[str, str], db: asyncpg.Pool
) -> None:
    """Each stats replica holds only its partitions' figures: whichever replica nginx asks, the
    answer is the sum over all of them (the replica merges the others' shards)."""
    tenants = await make_tenants(db, 1)
    s = build_set(random.Random(16), tenants.enterprises, 60, (2025,))  # spread over every partition
    await publish(replicas_stack["AIL_KAFKA_BOOTSTRAP"], s.messages)
    headers = {"Authorization": f"Bearer {tenants.agency_key}"}
    async with httpx.AsyncClient(base_url=replicas_stack["AIL_ENTRY_URL"], headers=headers, timeout=30) as c:

        async def all_counted() -> bool:
            return await total_count(c, (2025, 2026)) == len(s.approvals)

        await eventually(all_counted, timeout=120, interval=0.5, what=f"{len(s.approvals)} approvals counted")
        # Round robin: consecutive answers come from both replicas; each is the whole sum.
        assert [await total_count(c, (2025, 2026)) for _ in range(6)] == [len(s.approvals)] * 6
