"""Application service benchmark (a command, not a test). Run against a running stack:

    .venv/bin/python benchmarks/application_bench.py [--drafts 400] [--rows 1000000] [--queries 200]

Prints two comparisons, each measured in the same run as its baseline:
1. drafts created per second through the API, against a raw asyncpg insert of the same rows;
2. p99 of a filtered query page over ``--rows`` applications (a scratch enterprise, seeded once
   with generate_series and reused by later runs), against the same SQL run directly.
Loopback only; bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "shared"))
sys.path.insert(0, str(REPO / "services" / "application"))

from ail_application.adapters.queries import LIST_COLUMNS, QueryFilters, build_query  # noqa: E402
from ail_application.adapters.reference_data import load  # noqa: E402
from ail_application.domain.form import DraftCreate  # noqa: E402
from ail_application.domain.model import Application, serial_no  # noqa: E402
from ail_shared.auth import new_api_key  # noqa: E402
from ail_shared.db import connect, create_pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import loadgen  # noqa: E402
from _stack import stack_env  # noqa: E402  (the one env-file reader)

SCRATCH = "9990000000001"  # a bench-only enterprise; its rows never mix with real tenants'
SCRATCH_NAME = "基准测试企业(bench)"
DRAFT = {
    "commodity_code": "2303300010",
    "handler_name": "张三",
    "import_user_code": "1100776367555",
    "import_user_name": "基准用户",
    "trade_country": "502",
    "origin_country": "502",
    "customs_ports": ["2200"],
    "expected_arrival_date": "2027-01-20",
    "goods": [{"spec": "蛋白≥26%", "unit": "070", "quantity": "1000", "unit_price": "250.5"}],
}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def scratch_key(conn: asyncpg.Connection) -> str:
    await conn.execute(
        "INSERT INTO iam.enterprises (code, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        SCRATCH,
        SCRATCH_NAME,
    )
    raw, key_id, digest = new_api_key()
    await conn.execute(
        "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
        " VALUES ($1, $2, 'enterprise', $3, 'application bench')",
        key_id,
        digest,
        SCRATCH,
    )
    return raw


async def run_concurrently(n: int, concurrency: int, one: Any) -> float:
    """Runs ``one(i)`` for i in range(n) with ``concurrency`` workers; returns seconds."""
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            await one(queue.get_nowait())

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


async def bench_drafts(url: str, key: str, pool: asyncpg.Pool, n: int, concurrency: int) -> dict[str, float]:
    """Prints and returns drafts/s through the API and by raw INSERT (api_per_s, raw_per_s)."""

    # The lean client (benchmarks/loadgen.py), one keep-alive connection per caller: httpx's own
    # CPU per request was a large share of what this row measured.
    async def via_api(conn: loadgen.Connection, i: int) -> loadgen.Response:
        r = await conn.request(
            "POST", "/api/v1/applications", json_body=DRAFT, headers={"Idempotency-Key": uuid.uuid4().hex}
        )
        assert r.status == 201, r.body[:500]
        return r

    run = await loadgen.flood(
        url, n, concurrency, via_api, headers={"Authorization": f"Bearer {key}"}, warmup=1
    )
    api_s = run.elapsed

    # Baseline: the same rows (same computed form), one INSERT per draft, same concurrency.
    ref = load()
    body = DraftCreate.model_validate(DRAFT).model_dump(mode="json", exclude_unset=True)
    template = Application.new_draft(
        serial="x",
        enterprise_code=SCRATCH,
        importer_name=SCRATCH_NAME,
        year=2026,
        form=body,
        ref=ref,
        on=date.today(),
    )
    sql = (
        "INSERT INTO application.applications (id, serial_no, enterprise_code, status, year, form,"
        " importer_name, issuing_agency, computed, trade_mode, import_user_code, import_user_name,"
        " commodity_code, commodity_name, unit, total_quantity, total_value_usd)"
        " VALUES ($1, $2, $3, 'draft', 2026, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
    )

    async def raw(i: int) -> None:
        async with pool.acquire() as conn:
            seq = await conn.fetchval("SELECT nextval('application.serial_no_seq')")
            c = template.computed
            await conn.execute(
                sql,
                uuid.uuid4(),
                serial_no(2026, seq),
                SCRATCH,
                template.form,
                SCRATCH_NAME,
                template.issuing_agency,
                c,
                "10",
                DRAFT["import_user_code"],
                DRAFT["import_user_name"],
                DRAFT["commodity_code"],
                c["commodity_name"],
                c["unit"],
                c["total_quantity"],
                c["total_value_usd"],
            )

    raw_s = await run_concurrently(n, concurrency, raw)
    print(f"drafts: {n} at concurrency {concurrency}")
    print(f"  via API (POST /api/v1/applications, Idempotency-Key): {n / api_s:8.1f} drafts/s")
    print(f"  raw asyncpg INSERT of the same rows:                    {n / raw_s:8.1f} drafts/s")
    print(f"  API / raw: {raw_s / api_s:.2f}   (client CPU {run.client_cpu_us:.0f} us per draft)")
    return {"api_per_s": n / api_s, "raw_per_s": n / raw_s, "client_cpu_us": run.client_cpu_us}


SEED = """
INSERT INTO application.applications (id, serial_no, enterprise_code, status, year, form, importer_name,
    issuing_agency, trade_mode, import_user_code, import_user_name, commodity_code, commodity_name, unit,
    total_quantity, total_value_usd, form_no, applied_at, created_at, updated_at)
SELECT gen_random_uuid(),
       'NA' || (25 + g % 2) || lpad((90000000000000 + g)::text, 14, '0'),
       $1,
       (ARRAY['draft','pending_first_review','approved','license_issued','first_review_rejected',
              'pending_second_review','revoked','second_review_rejected'])[1 + g % 8],
       2025 + g % 2,
       '{}'::jsonb,
       $2,
       (ARRAY['AA','AB','AC','AG'])[1 + (g / 8) % 4],
       (ARRAY['10','10','10','13','14'])[1 + (g / 3) % 5],
       '1100' || lpad((g % 5000)::text, 9, '0'),
       '进口用户' || (g % 5000),
       '2303300010', '干玉米酒糟(DDGS)', '070', 1000, 250500,
       CASE WHEN g % 8 = 0 THEN NULL ELSE 'B' || (90000000000000000000 + g)::text END,
       CASE WHEN g % 8 = 0 THEN NULL ELSE now() - (g % 700) * interval '1 day' END,
       now() - g * interval '1 second', now()
FROM generate_series($3::bigint, $4::bigint) AS g
"""


async def seed(dsn: str, rows: int) -> None:
    conn = await connect(dsn)
    try:
        have = await conn.fetchval(
            "SELECT count(*) FROM application.applications"
            " WHERE enterprise_code = $1 AND serial_no LIKE 'NA2_9%'",
            SCRATCH,
        )
        if have >= rows:
            print(f"seed: {have} scratch applications already there")
            return
        started = time.perf_counter()
        step = 200_000
        for lo in range(have + 1, rows + 1, step):
            await conn.execute(SEED, SCRATCH, SCRATCH_NAME, lo, min(rows, lo + step - 1), timeout=600)
        # Index-only counts need the visibility map; a fresh bulk load has none until VACUUM.
        await conn.execute("VACUUM ANALYZE application.applications", timeout=600)
        print(f"seed: {rows - have} scratch applications in {time.perf_counter() - started:.1f}s")
    finally:
        await conn.close()


async def bench_query(url: str, key: str, pool: asyncpg.Pool, n: int) -> dict[str, float]:
    """Prints and returns p50/p99 ms of the filtered page via the API and as direct SQL."""
    params = {
        "status": "approved",
        "trade_mode": "10",
        "applied_from": "2025-06-01",
        "page": 3,
        "page_size": 10,
    }
    f = QueryFilters(status="approved", trade_mode="10", applied_from=date(2025, 6, 1))
    where, args = build_query(f, [SCRATCH])
    count_sql = f"SELECT count(*) FROM application.applications WHERE {where}"
    page_sql = (
        f"SELECT {LIST_COLUMNS} FROM application.applications WHERE {where}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${len(args) + 1} OFFSET ${len(args) + 2}"
    )
    api_ms: list[float] = []
    sql_ms: list[float] = []
    client = loadgen.Connection(url, {"Authorization": f"Bearer {key}"})
    query = {k: str(v) for k, v in params.items()}
    try:
        total = (await client.request("GET", "/api/v1/applications", params=query)).json()["total"]
        for _ in range(n):  # interleaved, so both see the same cache and load
            t = time.perf_counter()
            r = await client.request("GET", "/api/v1/applications", params=query)
            api_ms.append((time.perf_counter() - t) * 1000)
            assert r.status == 200, r.body[:500]
            t = time.perf_counter()
            async with pool.acquire() as conn:
                await conn.fetchval(count_sql, *args)
                await conn.fetch(page_sql, *args, 10, 20)
            sql_ms.append((time.perf_counter() - t) * 1000)
    finally:
        await client.close()
    print(
        f"query: page 3 of status=approved&trade_mode=10&applied_from=2025-06-01 ({total} matches), {n} runs"
    )
    print(f"  via API:    p50 {statistics.median(api_ms):7.2f} ms  p99 {pct(api_ms, 99):7.2f} ms")
    print(
        f"  direct SQL: p50 {statistics.median(sql_ms):7.2f} ms  p99 {pct(sql_ms, 99):7.2f} ms"
        "  (count + page)"
    )
    return {
        "total": total,
        "api_p50_ms": statistics.median(api_ms),
        "api_p99_ms": pct(api_ms, 99),
        "sql_p50_ms": statistics.median(sql_ms),
        "sql_p99_ms": pct(sql_ms, 99),
    }


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--drafts", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    args.drafts, args.rows, args.queries = (
        min(args.drafts, 5000),
        min(args.rows, 2_000_000),
        min(args.queries, 2000),
    )
    env = stack_env()
    url = env["AIL_APPLICATION_URL"]
    dsn = env["AIL_PG_DSN"]
    conn = await connect(dsn)
    try:
        key = await scratch_key(conn)
    finally:
        await conn.close()
    pool = await create_pool(dsn, min_size=2, max_size=args.concurrency)
    try:
        await bench_drafts(url, key, pool, args.drafts, args.concurrency)
        await seed(dsn, args.rows)
        await bench_query(url, key, pool, args.queries)
    finally:
        await pool.close()
    print(json.dumps({"stack": url, "scratch_enterprise": SCRATCH}))


if __name__ == "__main__":
    asyncio.run(main())
