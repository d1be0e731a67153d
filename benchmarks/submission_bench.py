"""End-to-end submissions per second, from the HTTP submit to ``pending_first_review``, with p50
and p99 latency, in one run against the running stack.

What one submission goes through: the application service (validation, e-key precondition,
outbox) -> ail.application -> the submission service (presence check, outbox) ->
ail.signer.requests -> the signer (SoftHSM2 e-key) -> ail.signer -> the submission service's
sender -> the MOFCOM sandbox over HTTP -> outbox -> ail.submission -> the application service's
status. Timed per application from the start of its HTTP request until its status reads
``pending_first_review`` (polled every 20 ms from PostgreSQL, so latencies are +-20 ms).

Two modes, each on fresh drafts of the demo enterprise 1100776367555 (its e-key bound by the
demo data; the signer must run):
* single: one ``POST /api/v1/applications/{id}/submit`` per application, ``--concurrency`` at a
  time;
* batch: one ``POST /api/v1/applications/submit`` with every id.

Then the CPU every process of the stack used per submission (both modes, idle use subtracted).

The sandbox's first review is held back (first_delay 120 s) during the run so that review
traffic does not mix in, and reset afterwards.

    .venv/bin/python benchmarks/submission_bench.py [-n 300] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._stack import stack_cpu, stack_cpu_by_name, stack_env  # noqa: E402
from tests.integration.application.support import complete_contract, complete_form  # noqa: E402

DONE = (
    "pending_first_review",
    "pending_second_review",
    "approved",
    "license_issued",
    "first_review_rejected",
)


async def make_drafts(client: httpx.AsyncClient, n: int) -> list[str]:
    resp = await client.post("/api/v1/applications", json=complete_form())
    resp.raise_for_status()
    app = resp.json()
    contract = complete_contract(
        app["enterprise_code"],
        total_quantity=app["total_quantity"],
        total_amount=app["total_value_usd"],
        settlement_currency="USD",
    )
    (await client.put(f"/api/v1/applications/{app['id']}/contract", json=contract)).raise_for_status()
    ids = [app["id"]]
    while len(ids) < n:
        resp = await client.post(
            f"/api/v1/applications/{ids[0]}/copies", json={"count": min(50, n - len(ids))}
        )
        resp.raise_for_status()
        ids += [c["id"] for c in resp.json()["copies"]]
    return ids


async def watch(pool: asyncpg.Pool, ids: list[str], seen: dict[str, float], deadline: float) -> None:
    uuids = [UUID(i) for i in ids]
    while len(seen) < len(ids) and time.perf_counter() < deadline:
        rows = await pool.fetch(
            "SELECT id, status, status_reason FROM application.applications WHERE id = ANY($1::uuid[])", uuids
        )
        now = time.perf_counter()
        for r in rows:
            if r["status"] in DONE and str(r["id"]) not in seen:
                seen[str(r["id"])] = now
            elif r["status"] == "draft" and r["status_reason"] and str(r["id"]) not in seen:
                raise SystemExit(
                    f"{r['id']} went back to draft: {r['status_reason']} (is the signer running?)"
                )
        await asyncio.sleep(0.02)


def figures(name: str, started: dict[str, float], seen: dict[str, float], t0: float) -> dict[str, float]:
    """Prints the mode's line; returns its figures (submissions, per second, p50/p99/max ms)."""
    lat = sorted((seen[i] - started[i]) * 1000 for i in seen)
    n = len(lat)
    if not n:
        raise SystemExit(
            f"{name}: no application reached pending_first_review in time; check"
            " ./dev status and ./dev logs submission (consumers may be catching up on a backlog)"
        )
    total = max(seen.values()) - t0 if seen else float("nan")
    p99 = lat[min(n - 1, int(n * 0.99))] if n else float("nan")
    print(
        f"{name:7s} {n:5d} submissions in {total:6.2f} s = {n / total:7.1f} /s   "
        f"latency p50 {statistics.median(lat):7.0f} ms   p99 {p99:7.0f} ms   max {lat[-1]:7.0f} ms"
    )
    return {
        "n": n,
        "per_s": n / total,
        "p50_ms": statistics.median(lat),
        "p99_ms": p99,
        "max_ms": lat[-1],
    }


async def run_single(
    client: httpx.AsyncClient, pool: asyncpg.Pool, ids: list[str], concurrency: int
) -> dict[str, float]:
    started: dict[str, float] = {}
    seen: dict[str, float] = {}
    sem = asyncio.Semaphore(concurrency)

    async def one(app_id: str) -> None:
        async with sem:
            started[app_id] = time.perf_counter()
            resp = await client.post(f"/api/v1/applications/{app_id}/submit")
            if resp.status_code != 202:
                raise SystemExit(f"submit {app_id}: HTTP {resp.status_code} {resp.text}")

    t0 = time.perf_counter()
    watcher = asyncio.create_task(watch(pool, ids, seen, t0 + 300))
    await asyncio.gather(*(one(i) for i in ids))
    await watcher
    return figures("single", started, seen, t0)


async def run_batch(client: httpx.AsyncClient, pool: asyncpg.Pool, ids: list[str]) -> dict[str, float]:
    seen: dict[str, float] = {}
    t0 = time.perf_counter()
    watcher = asyncio.create_task(watch(pool, ids, seen, t0 + 300))
    resp = await client.post("/api/v1/applications/submit", json={"ids": ids}, timeout=300)
    answered = time.perf_counter()
    body = resp.json()
    if resp.status_code != 202 or body["submitted"] != len(ids):
        raise SystemExit(f"batch: HTTP {resp.status_code} {json.dumps(body)[:500]}")
    await watcher
    out = figures("batch", dict.fromkeys(ids, t0), seen, t0)
    out["call_ms"] = (answered - t0) * 1000
    print(f"        (the batch call itself answered 202 for {len(ids)} ids in {out['call_ms']:.0f} ms)")
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300, help="applications per mode (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP requests in flight (single mode)")
    args = parser.parse_args()
    await run(n=args.n, concurrency=args.concurrency)


async def run(*, n: int, concurrency: int, hold: str = "global", idle_s: float = 3.0) -> dict[str, Any]:
    """Both modes; returns {"single": figures, "batch": figures, "cpu": CPU per submission}.

    ``hold`` how MOFCOM's first review is held back: ``global`` (``POST /control``, for everyone:
    a quiet bench stack only) or ``scopes`` (one ``/control/scopes`` entry per application, so
    that tests running beside it are left alone; for small ``n``).

    CPU per submission: every process of the stack (``_stack.stack_cpu``: services, sandboxes,
    Kafka, PostgreSQL, nginx) from before the first submit until the last one is seen, less
    what the stack burns while idle (measured for ``idle_s`` just before), over the
    submissions of both modes."""
    env = stack_env()
    demo: dict[str, Any] = json.loads(Path(env["AIL_DEMO_FILE"]).read_text())
    key = next(e["api_key"] for e in demo["enterprises"] if e["code"] == "1100776367555")
    headers = {"Authorization": f"Bearer {key}"}
    pool = await asyncpg.create_pool(env["AIL_PG_DSN"], min_size=1, max_size=4)
    scopes: list[str] = []
    async with (
        httpx.AsyncClient(base_url=env["AIL_ENTRY_URL"], headers=headers, timeout=60) as client,
        httpx.AsyncClient(base_url=env["AIL_MOFCOM_URL"], timeout=10) as sandbox,
    ):
        bound = (await client.get("/api/v1/ekey-bindings")).json()["items"]
        present = (await client.get("/api/v1/ekeys")).json()["items"]
        if not bound or not present:
            raise SystemExit(
                "the demo enterprise's e-key must be bound and present: ./dev up runs the signer"
            )
        try:
            print(f"end-to-end: HTTP submit -> pending_first_review, n={n} per mode", flush=True)
            print(f"preparing {2 * n} drafts (not timed) ...", flush=True)
            single_ids = await make_drafts(client, n)
            batch_ids = await make_drafts(client, n)
            if hold == "scopes":
                for app_id in single_ids + batch_ids:
                    r = await sandbox.post(
                        "/control/scopes",
                        json={"match": {"application_id": app_id}, "control": {"first_delay": 120}},
                    )
                    r.raise_for_status()
                    scopes.append(str(r.json()["id"]))
            else:
                await sandbox.post("/control", json={"first_delay": 120})
            idle0, t_idle = stack_cpu(env), time.perf_counter()
            await asyncio.sleep(idle_s)
            idle_rate = (stack_cpu(env) - idle0) / (time.perf_counter() - t_idle)
            by0, t0 = stack_cpu_by_name(env), time.perf_counter()
            single = await run_single(client, pool, single_ids, concurrency)
            batch = await run_batch(client, pool, batch_ids)
            by1, elapsed = stack_cpu_by_name(env), time.perf_counter() - t0
            by_name = {name: by1[name] - by0.get(name, 0.0) for name in by1}
            used = sum(by_name.values())
        finally:
            if hold == "scopes":
                for scope_id in scopes:
                    await sandbox.delete(f"/control/scopes/{scope_id}")
            else:
                await sandbox.post("/control/reset")
            await pool.close()
    count = int(single["n"] + batch["n"])
    cpu = {
        "ms_per_submission": max(0.0, used - idle_rate * elapsed) / count * 1000,
        "gross_ms_per_submission": used / count * 1000,
        "idle_cpu_per_s": idle_rate,
        "seconds": elapsed,
        # Gross, per process of the stack (idle use not subtracted): where the CPU goes.
        "gross_ms_by_process": {
            name: round(secs / count * 1000, 2)
            for name, secs in sorted(by_name.items(), key=lambda kv: -kv[1])
            if secs > 0
        },
    }
    print(
        f"CPU per submission, all stack processes: {cpu['ms_per_submission']:.1f} ms"
        f" ({cpu['gross_ms_per_submission']:.1f} ms before subtracting the idle"
        f" {idle_rate:.2f} CPU-s/s; load average {os.getloadavg()[0]:.1f})"
    )
    print("  by process (gross ms per submission): " + json.dumps(cpu["gross_ms_by_process"]))
    return {"single": single, "batch": batch, "cpu": cpu}


if __name__ == "__main__":
    asyncio.run(main())
