"""Customs service: clearance records applied per second, and availability-check latency, with
100,000 licenses in the ledger.

    .venv/bin/python benchmarks/customs_bench.py [--licenses 100000] [--declarations 20000]
                                                 [--checks 5000] [--concurrency 16]

Against a running stack (./dev up, or ./dev test --keep). Steps:

1. Seeds ``--licenses`` licenses (``BENCH0000001`` ...) into ``customs.licenses`` for demo
   enterprise A with one INSERT ... SELECT over generate_series, status stored (the delivery worker
   leaves them alone). Seeding is skipped for licenses that already exist (the ledger is
   append-only, so a benchmark run leaves its entries behind; later runs reuse the licenses).
2. Appends ``--declarations`` clearance declarations for random bench licenses to the Customs
   sandbox's feed (bulk control endpoint) and times how long the customs service takes to apply
   them all (its feed cursor reaching the last position): records applied per second, end to end
   (feed read over HTTP, ledger entry + balances + declaration + outbox event + history per record).
   Also the ledger code alone: one page of 500 declarations applied in process (``apply_page``,
   the customs service's own function) inside a transaction that is rolled back.
3. Sends ``--checks`` availability checks (GET /api/v1/licenses/{no}/availability?quantity=) through
   the entry point with ``--concurrency`` clients: p50 / p95 / p99 latency and requests per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import loadgen  # noqa: E402
from _stack import stack_env  # noqa: E402

from ail_shared.db import connect  # noqa: E402

SEED = """
INSERT INTO customs.licenses (license_no, application_id, enterprise_code, form_no, commodity_code,
    commodity_name, unit, quantity, one_batch_one_license, issued_at, valid_until, tolerance_pct,
    tolerance_source, customs_status, delivery_rounds, next_delivery_at)
SELECT $3 || lpad(g::text, 7, '0'), $3 || '-app-' || g, $1, $3 || '-form-' || g, '2601111000',
    '铁矿砂', '千克', 100000, (g % 10 = 0), now() - interval '1 day', current_date + 150, 5,
    'hs_prefix_table', 'stored', 1, NULL
FROM generate_series(1, $2) AS g
ON CONFLICT (license_no) DO NOTHING
"""


async def seed(dsn: str, enterprise: str, n: int, prefix: str = "BENCH") -> None:
    """``n`` licenses ``{prefix}0000001`` ... of ``enterprise`` (a short prefix: a run of its own
    passes a fresh one, so its licenses are its own)."""
    conn = await connect(dsn)
    try:
        t0 = time.perf_counter()
        status = await conn.execute(SEED, enterprise, n, prefix)
        await conn.execute("ANALYZE customs.licenses")
        total = await conn.fetchval("SELECT count(*) FROM customs.licenses")
        print(
            f"seed:          {status.split()[-1]} new bench licenses in {time.perf_counter() - t0:.1f}s;"
            f" {total} licenses in the ledger"
        )
    finally:
        await conn.close()


async def clearance_rate(env: dict[str, str], n_licenses: int, n_decl: int) -> None:
    conn = await connect(env["AIL_PG_DSN"])
    try:
        async with httpx.AsyncClient(base_url=env["AIL_CUSTOMS_URL"], timeout=120) as sandbox:
            entries_before = await conn.fetchval("SELECT count(*) FROM customs.ledger_entries")
            t0 = time.perf_counter()
            last = 0
            chunk = 5000
            for start in range(0, n_decl, chunk):
                items = [
                    {
                        "license_no": f"BENCH{random.randint(1, n_licenses):07d}",
                        "port": "2200",
                        "lines": [{"quantity": str(random.randint(1, 5000))}],
                    }
                    for _ in range(min(chunk, n_decl - start))
                ]
                r = await sandbox.post("/control/declarations/bulk", json={"items": items})
                r.raise_for_status()
                last = r.json()["last_position"]
            posted = time.perf_counter() - t0
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                pos = await conn.fetchval(
                    "SELECT position FROM customs.feed_cursor WHERE feed = 'customs-clearance'"
                )
                if pos is not None and pos >= last:
                    break
                await asyncio.sleep(0.05)
            else:
                sys.exit("the customs service did not apply the declarations within 600 s")
            elapsed = time.perf_counter() - t0
            rows = await conn.fetch("SELECT kind, count(*) AS n FROM customs.ledger_entries GROUP BY kind")
            entries_after = await conn.fetchval("SELECT count(*) FROM customs.ledger_entries")
            kinds = json.dumps({r["kind"]: r["n"] for r in rows})
        print(
            f"clearance:     {n_decl} declarations appended to the sandbox feed in {posted:.1f}s, all applied"
            f" after {elapsed:.1f}s -> {n_decl / elapsed:,.0f} records applied/s"
            f" ({entries_after - entries_before} new ledger entries; ledger now {kinds})"
        )
    finally:
        await conn.close()


async def in_process_rate(dsn: str, n_licenses: int, pages: int = 4, size: int = 500) -> None:
    from ail_customs.service_layer.clearance import apply_page
    from ail_customs.service_layer.unit_of_work import CustomsUnitOfWork

    conn = await connect(dsn)
    try:
        now = datetime.now(UTC).isoformat()
        rates = []
        for _ in range(pages):
            msgs = [
                {
                    "message_id": uuid.uuid4().hex,
                    "position": i + 1,
                    "kind": "declared",
                    "declaration_no": uuid.uuid4().hex,
                    "license_no": f"BENCH{random.randint(1, n_licenses):07d}",
                    "declared_at": now,
                    "port": "2200",
                    "lines": [{"quantity": "3"}],
                }
                for i in range(size)
            ]
            tr = conn.transaction()
            await tr.start()
            t0 = time.perf_counter()
            async with CustomsUnitOfWork(conn) as uow:  # a savepoint in tr
                await apply_page(uow, msgs)
            rates.append(size / (time.perf_counter() - t0))
            await tr.rollback()
        print(
            f"ledger alone:  {pages} pages of {size} applied in process (rolled back):"
            f" median {statistics.median(rates):,.0f} records/s, best {max(rates):,.0f}"
        )
    finally:
        await conn.close()


async def availability_p99(
    entry_url: str, api_key: str, n_licenses: int, checks: int, concurrency: int, prefix: str = "BENCH"
) -> dict[str, float]:
    """Prints and returns the checks' per_s, p50/p95/p99 ms and errors against ``entry_url``
    (the entry point, or the customs service itself for the baseline without nginx)."""
    # The lean client (benchmarks/loadgen.py): httpx cost the benchmark ~4 ms of CPU per check,
    # more than the service it measured.
    path = "/api/v1/licenses/{}/availability"

    async def one(conn: loadgen.Connection, i: int) -> loadgen.Response:
        no = f"{prefix}0000001" if i < 0 else f"{prefix}{random.randint(1, n_licenses):07d}"
        return await conn.request("GET", path.format(no), params={"quantity": "100" if i >= 0 else "1"})

    run = await loadgen.flood(
        entry_url, checks, concurrency, one, headers={"Authorization": f"Bearer {api_key}"}, warmup=4
    )
    latencies, errors = run.latencies, run.errors
    q = statistics.quantiles(latencies, n=100)
    print(
        f"availability:  {checks} checks, {concurrency} concurrent, via {entry_url}: "
        f"p50 {q[49] * 1000:.1f} ms, p95 {q[94] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms, "
        f"{run.per_s:,.0f} checks/s, {errors} errors (client CPU {run.client_cpu_us:.0f} us per check)"
    )
    return {
        "per_s": run.per_s,
        "client_cpu_us": run.client_cpu_us,
        "p50_ms": q[49] * 1000,
        "p95_ms": q[94] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": errors,
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--licenses", type=int, default=100_000)
    ap.add_argument("--declarations", type=int, default=20_000)
    ap.add_argument("--checks", type=int, default=5_000)
    ap.add_argument("--concurrency", type=int, default=16)
    args = ap.parse_args()
    env = stack_env()
    print(
        f"machine:       {os.cpu_count()} CPUs, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    demo = json.loads((Path(env["AIL_DEVSTACK_DIR"]) / "demo.json").read_text())
    enterprise = demo["enterprises"][0]
    await seed(env["AIL_PG_DSN"], enterprise["code"], args.licenses)
    await clearance_rate(env, args.licenses, args.declarations)
    await in_process_rate(env["AIL_PG_DSN"], args.licenses)
    await availability_p99(
        env["AIL_ENTRY_URL"], enterprise["api_key"], args.licenses, args.checks, args.concurrency
    )


if __name__ == "__main__":
    asyncio.run(main())
