"""Statistics benchmark: approvals folded into the faust tables per second, and the latency (p50,
p99) of ``GET /api/v1/stats/monthly``. Runs against a running stack (``./dev up`` or
``./dev test --keep``); loopback only, bounded in count and time.

    .venv/bin/python benchmarks/stats_bench.py [--approvals 5000] [--queries 400] [--profile test]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import loadgen

from ail_shared import topics
from ail_shared.auth import new_api_key
from ail_shared.events import ApplicationSummary, ReviewResultReceived, envelope_for
from ail_shared.kafka import make_producer

REPO = Path(__file__).resolve().parents[1]


def stack_env(profile: str) -> dict[str, str]:
    env_file = REPO / ".devstack" / profile / "env"
    if not env_file.exists():
        sys.exit(f"{env_file} not found: start the stack (AIL_PROFILE={profile} ./dev up)")
    env = {}
    for line in env_file.read_text().splitlines():
        if line and not line.startswith("#") and "=" in line:
            k, v = line.split("=", 1)
            env[k] = v.strip().strip("'\"")
    return env


async def fresh_enterprise(dsn: str) -> tuple[str, str]:
    code = "8" + "".join(secrets.choice("0123456789") for _ in range(12))
    raw, key_id, digest = new_api_key()
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("INSERT INTO iam.enterprises (code, name) VALUES ($1, 'stats bench')", code)
            await conn.execute(
                "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
                " VALUES ($1, $2, 'enterprise', $3, 'stats-bench')",
                key_id,
                digest,
                code,
            )
    finally:
        await conn.close()
    return code, raw


def approval(rng: random.Random, enterprise: str) -> Any:
    app_id = str(uuid.uuid4())
    at = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(seconds=rng.randint(0, 364 * 86400))
    summary = ApplicationSummary(
        enterprise_code=enterprise,
        serial_no=app_id[:12],
        year=2025,
        commodity_code=rng.choice(["1001991000", "1201901000", "2601111000", "5201000000"]),
        commodity_name="bench",
        unit="千克",
        total_quantity=Decimal(rng.randint(1, 10**6)) / 100,
        total_value_usd=Decimal(rng.randint(1, 10**8)) / 100,
        trade_mode=rng.choice(["0110", "1210"]),
        trade_country=rng.choice(["AUS", "BRA", "USA"]),
        issuing_agency=rng.choice(["MOFCOM-BJ", "MOFCOM-SH"]),
    )
    ev = ReviewResultReceived(
        application_id=app_id,
        form_no="F",
        stage="second",
        result="passed",
        reviewed_at=at,
        application=summary,
    )
    return envelope_for(ev, aggregate_id=app_id, tenant=enterprise)


async def counters(c: httpx.AsyncClient) -> dict[str, Any]:
    resp = await c.get("/healthz")
    resp.raise_for_status()
    body: dict[str, Any] = resp.json()
    return body


async def counted(env: dict[str, str]) -> int:
    """Approvals folded by every stats replica together (issue 16: each folds its partitions;
    replica k > 1 is at AIL_STATS_URL_k)."""
    urls = [env["AIL_STATS_URL"], *(env[k] for k in sorted(env) if k.startswith("AIL_STATS_URL_"))]
    total = 0
    for url in urls:
        async with httpx.AsyncClient(base_url=url, timeout=10) as c:
            total += int((await counters(c))["fold"]["counted"])
    return total


async def own_folded(entry_url: str, key: str, approvals: int, deadline: float) -> int:
    """The approvals of 2025 (``approval`` dates them all in 2025) the statistics of the run's
    own enterprise show, polled until all its ``approvals`` are there or ``deadline``."""
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=entry_url, headers=headers, timeout=10) as c:
        while True:
            resp = await c.get("/api/v1/stats/monthly", params={"month": "2025-12"})
            resp.raise_for_status()
            got = sum(int(row["year_to_date"]["count"]) for row in resp.json()["items"])
            if got >= approvals or time.monotonic() > deadline:
                return got
            await asyncio.sleep(0.1)


async def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--approvals", type=int, default=5000)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--profile", default=os.environ.get("AIL_PROFILE", "test"))
    ap.add_argument("--timeout", type=float, default=180.0)
    args = ap.parse_args()
    await run(stack_env(args.profile), approvals=args.approvals, queries=args.queries, timeout=args.timeout)
    return 0


async def run(env: dict[str, str], *, approvals: int, queries: int, timeout: float) -> dict[str, Any]:
    """Prints and returns {"folded_per_s", "folded", "approvals", "stats service": {p50_ms,
    p99_ms}, "entry (nginx)": {...}}."""
    result: dict[str, Any] = {"approvals": approvals}
    rng = random.Random(42)
    enterprise, key = await fresh_enterprise(env["AIL_PG_DSN"])
    envelopes = [approval(rng, enterprise) for _ in range(approvals)]

    async with httpx.AsyncClient(base_url=env["AIL_STATS_URL"], timeout=10) as stats:
        before = await counted(env)
        producer = make_producer(env["AIL_KAFKA_BOOTSTRAP"])
        await producer.start()
        t0 = time.perf_counter()
        try:
            futs = [
                await producer.send(topics.SUBMISSION, value=e.to_bytes(), key=e.aggregate_id.encode())
                for e in envelopes
            ]
            await asyncio.gather(*futs)
        finally:
            await producer.stop()
        published = time.perf_counter() - t0
        deadline = time.monotonic() + timeout
        while True:
            done = await counted(env) - before
            if done >= approvals or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        folded = time.perf_counter() - t0
        keys = (await counters(stats)).get("table_keys")

    # The counters are every replica's, whoever's approvals they fold: another test's approvals
    # may have made up the count while some of this run's are still on their way. The run ends
    # once the statistics of its own enterprise show every one of its approvals (nothing of it
    # left in flight for what runs next).
    own = await own_folded(env["AIL_ENTRY_URL"], key, approvals, deadline)
    result["own_folded"] = own
    print(f"approvals published: {approvals} in {published:.2f}s")
    print(
        f"approvals folded:    {done} in {folded:.2f}s (from the first publish) -> "
        f"{done / folded:.0f} approvals/s"
    )
    result |= {"folded": done, "folded_per_s": done / folded}
    if done < approvals or own < approvals:
        print(
            f"WARNING: only {done} of {approvals} folded ({own} in the run's own statistics)"
            f" within {timeout:.0f}s"
        )

    headers = {"Authorization": f"Bearer {key}"}
    for name, url in (("stats service", env["AIL_STATS_URL"]), ("entry (nginx)", env["AIL_ENTRY_URL"])):
        # The lean client (benchmarks/loadgen.py): the figure is the service's, not httpx's.
        c = loadgen.Connection(url, headers)
        try:
            for _ in range(20):  # warm up (API key cache, connections)
                await c.request("GET", "/api/v1/stats/monthly", params={"month": "2025-06"})
            lat = []
            for i in range(queries):
                params = {"month": f"2025-{rng.randint(1, 12):02d}"}
                if i % 2:
                    params["trade_mode"] = rng.choice(["0110", "1210"])
                t = time.perf_counter()
                resp = await c.request("GET", "/api/v1/stats/monthly", params=params)
                lat.append((time.perf_counter() - t) * 1000)
                if resp.status != 200:
                    raise RuntimeError(f"monthly query answered {resp.status}: {resp.body[:300]!r}")
        finally:
            await c.close()
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print(
            f"monthly query via {name}: n={len(lat)} p50={statistics.median(lat):.2f}ms "
            f"p99={p99:.2f}ms max={lat[-1]:.2f}ms (table keys in the worker: {keys})"
        )
        result[name] = {"p50_ms": statistics.median(lat), "p99_ms": p99}
    return result


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
