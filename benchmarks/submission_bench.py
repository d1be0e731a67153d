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
* batch: one ``POST /api/v1/applications/submit`` with every id;
* paced (issue 16, row 1: the latency at half the sustainable rate): single submits sent on a
  fixed schedule (open loop: send i goes at ``t0 + i / rate`` whether or not the earlier ones
  have answered, so a slow answer does not slow the sender and the latency is not hidden by a
  sender that waits) at ``--paced-share`` (default half) of the rate the single mode sustained,
  for ``--paced-seconds``; the first ``--warmup`` seconds of sends are not counted. Latency is
  counted from each send's scheduled time. Printed: p50/p90/p99, the achieved rate, the load
  average, and the median of each hop, read from the outbox rows the submission wrote on its
  way (``created_at``: the event written, ``published_at``: the relay's Kafka commit), see
  ``HOPS``.

Then the CPU every process of the stack used per submission (single and batch, idle use
subtracted), and separately per paced submission.

The sandbox's first review is held back during the run so that review traffic does not mix in,
and reset afterwards (a review already scheduled keeps its delay): globally for
``HOLD_SECONDS`` (30 min: a held review that fired two minutes after its submit, as it did with
120 s, landed in the paced mode, which runs after the other two, and every review, license and
customs delivery of the 600 earlier submissions with it: paced p50 4-6 s instead of 0.2-0.5 s on
2026-12-02), or per application (scopes) for 120 s in the small ``--quick`` runs, which end
their held submissions before they return (``end_held``: revoked, seen at a final status).

    .venv/bin/python benchmarks/submission_bench.py [-n 300] [--concurrency 16]
        [--paced-seconds 30] [--warmup 5] [--paced-share 0.5] [--rate R] [--only-paced]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from uuid import UUID

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._stack import stack_cpu, stack_cpu_by_name, stack_env  # noqa: E402
from tests.integration.application.support import complete_contract, complete_form  # noqa: E402

HOLD_SECONDS = 1800  # MOFCOM's first review held back this long (global hold; see the module doc)
SCOPE_HOLD_SECONDS = 120  # the same, per application (scopes: the small runs beside tests)

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


async def watch(
    pool: asyncpg.Pool,
    ids: list[str],
    seen: dict[str, float],
    deadline: float,
    *,
    sent: dict[str, float] | None = None,
    clock: Any = time.perf_counter,
    interval: float = 0.02,
) -> None:
    """Record in ``seen`` when each of ``ids`` first reads as DONE (``clock()`` after the poll
    that found it). With ``sent``, only the ids sent so far and not yet seen are asked for (the
    paced mode: the poll stays small and cheap however many drafts wait their turn)."""
    while len(seen) < len(ids) and clock() < deadline:
        asked = [i for i in (sent if sent is not None else ids) if i not in seen]
        rows = (
            await pool.fetch(
                "SELECT id, status, status_reason FROM application.applications WHERE id = ANY($1::uuid[])",
                [UUID(i) for i in asked],
            )
            if asked
            else []
        )
        now = clock()
        for r in rows:
            if r["status"] in DONE and str(r["id"]) not in seen:
                seen[str(r["id"])] = now
            elif r["status"] == "draft" and r["status_reason"] and str(r["id"]) not in seen:
                raise SystemExit(
                    f"{r['id']} went back to draft: {r['status_reason']} (is the signer running?)"
                )
        await asyncio.sleep(interval)


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


# ------------------------------------------------------------------ paced (open loop)

# Where a submission's time goes, read from the outbox rows written on its way: (schema, event
# type) in the order they happen. ``created_at`` is clock_timestamp() when the row was inserted
# (inside the writer's transaction, just before its commit), ``published_at`` the relay's mark
# right after its Kafka commit. Both are PostgreSQL's wall clock, on this machine the bench's.
EVENT_MARKS: tuple[tuple[str, str], ...] = (
    ("application", "ApplicationSubmitted"),
    ("submission", "SignatureRequested"),
    ("signer", "ApplicationSigned"),
    ("submission", "SubmissionAccepted"),
)
# The hops between consecutive marks: sent, then (written, published) of each event above, then
# the status seen by the poll. Key -> what the hop covers.
HOPS: tuple[tuple[str, str], ...] = (
    ("submit", "HTTP submit -> ApplicationSubmitted written (application service)"),
    ("relay_application", "-> published (application relay: wake, Kafka transaction)"),
    ("consume_check", "-> SignatureRequested written (submission consumer, e-key presence)"),
    ("relay_request", "-> published (submission relay)"),
    ("sign", "-> ApplicationSigned written (signer consumer, token)"),
    ("relay_signed", "-> published (signer relay)"),
    ("send", "-> SubmissionAccepted written (submission consumer, sender claim, MOFCOM call)"),
    ("relay_accepted", "-> published (submission relay)"),
    ("apply", "-> pending_first_review seen (application consumer; poll every 10 ms)"),
)


def schedule(n: int, rate: float, start: float) -> list[float]:
    """The open-loop send times: send i at ``start + i / rate``, whatever the answers do."""
    if rate <= 0:
        raise ValueError("the paced rate must be positive")
    return [start + i / rate for i in range(n)]


def quantile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by the nearest rank: the smallest value with at
    least q of them at or below it (p99 of 100 values is the 99th, of 10 values the 10th)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))]


def spread(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50_ms": quantile(values, 0.50),
        "p90_ms": quantile(values, 0.90),
        "p99_ms": quantile(values, 0.99),
        "max_ms": max(values) if values else float("nan"),
    }


def hop_figures(marks: dict[str, list[float | None]]) -> dict[str, dict[str, float]]:
    """Per hop (``HOPS``), p50/p90/p99 in ms over the submissions whose two marks are both known.
    ``marks``: application id -> [sent, written/published of each ``EVENT_MARKS`` event, seen]
    (wall-clock seconds; None where the row was not found)."""
    out: dict[str, dict[str, float]] = {}
    for k, (key, _) in enumerate(HOPS):
        gaps = [
            (m[k + 1] - m[k]) * 1000  # type: ignore[operator]
            for m in marks.values()
            if m[k] is not None and m[k + 1] is not None
        ]
        out[key] = {**spread(gaps), "n": len(gaps)}
    return out


async def outbox_high_water(pool: asyncpg.Pool) -> dict[str, int]:
    """The last outbox id of each schema ``EVENT_MARKS`` reads: rows after it are the run's."""
    return {
        schema: int(await pool.fetchval(f"SELECT coalesce(max(id), 0) FROM {schema}.outbox"))
        for schema in sorted({schema for schema, _ in EVENT_MARKS})
    }


async def outbox_marks(
    pool: asyncpg.Pool, since: dict[str, int], ids: Sequence[str]
) -> dict[str, dict[str, tuple[float, float | None]]]:
    """application id -> event type -> (written, published) of the run's outbox rows."""
    wanted = set(ids)
    out: dict[str, dict[str, tuple[float, float | None]]] = {}
    for schema, low in since.items():
        types = [t for s, t in EVENT_MARKS if s == schema]
        rows = await pool.fetch(
            "SELECT event_type, convert_from(value, 'UTF8')::jsonb #>> '{payload,application_id}' AS app,"
            " extract(epoch FROM created_at)::float8 AS written,"
            f" extract(epoch FROM published_at)::float8 AS published FROM {schema}.outbox"
            " WHERE id > $1 AND event_type = ANY($2::text[])",
            low,
            types,
        )
        for r in rows:
            if r["app"] in wanted:
                # The first row of a type counts (a retried event type would come later).
                out.setdefault(r["app"], {}).setdefault(r["event_type"], (r["written"], r["published"]))
    return out


def mark_rows(
    sent: dict[str, float], seen: dict[str, float], rows: dict[str, dict[str, tuple[float, float | None]]]
) -> dict[str, list[float | None]]:
    """Each submission's marks in ``HOPS`` order (see ``hop_figures``)."""
    marks: dict[str, list[float | None]] = {}
    for app_id, t_sent in sent.items():
        m: list[float | None] = [t_sent]
        for _, event_type in EVENT_MARKS:
            written, published = rows.get(app_id, {}).get(event_type, (None, None))
            m += [written, published]
        m.append(seen.get(app_id))
        marks[app_id] = m
    return marks


async def run_paced(
    client: httpx.AsyncClient,
    pool: asyncpg.Pool,
    ids: list[str],
    rate: float,
    warmup_s: float,
    wait_s: float = 120.0,
) -> dict[str, Any]:
    """Submit ``ids`` one by one at ``rate`` per second, open loop; figures of the sends after
    the first ``warmup_s`` seconds (latency from each one's scheduled send time)."""
    since = await outbox_high_water(pool)
    scheduled: dict[str, float] = {}  # wall clock: the outbox marks are PostgreSQL's wall clock
    actual: dict[str, float] = {}
    seen: dict[str, float] = {}
    failures: list[str] = []

    async def one(app_id: str) -> None:
        resp = await client.post(f"/api/v1/applications/{app_id}/submit")
        if resp.status_code != 202:
            failures.append(f"submit {app_id}: HTTP {resp.status_code} {resp.text[:200]}")

    times = schedule(len(ids), rate, time.time() + 0.2)
    watcher = asyncio.create_task(
        watch(pool, ids, seen, times[-1] + wait_s, sent=actual, clock=time.time, interval=0.01)
    )
    tasks = []
    for app_id, at in zip(ids, times, strict=True):
        delay = at - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        scheduled[app_id] = at
        actual[app_id] = time.time()
        tasks.append(asyncio.create_task(one(app_id)))
    await asyncio.gather(*tasks)
    if failures:
        watcher.cancel()
        raise SystemExit("; ".join(failures[:5]))
    await watcher
    counted = [i for i in ids if scheduled[i] >= times[0] + warmup_s] or ids
    lat = [(seen[i] - scheduled[i]) * 1000 for i in counted if i in seen]
    missing = len(counted) - len(lat)
    rows = await outbox_marks(pool, since, counted)
    marks = mark_rows({i: scheduled[i] for i in counted}, seen, rows)
    span = scheduled[counted[-1]] - scheduled[counted[0]]
    done = sorted(seen[i] for i in counted if i in seen)
    out: dict[str, Any] = {
        "n": len(lat),
        "missing": missing,
        "warmup_sent": len(ids) - len(counted),
        "rate": rate,
        "sent_per_s": (len(counted) - 1) / span if span > 0 else float("nan"),
        "done_per_s": (len(done) - 1) / (done[-1] - done[0])
        if len(done) > 1 and done[-1] > done[0]
        else float("nan"),
        "send_lag_max_ms": max((actual[i] - scheduled[i]) * 1000 for i in counted),
        **spread(lat),
        "hops": hop_figures(marks),
        "load": os.getloadavg()[0],
    }
    print(
        f"paced   {out['n']:5d} submissions at {rate:.1f}/s (sent {out['sent_per_s']:.1f}/s, done"
        f" {out['done_per_s']:.1f}/s, {out['warmup_sent']} of warm-up not counted, {missing} not seen)"
        f"   latency p50 {out['p50_ms']:6.0f} ms   p90 {out['p90_ms']:6.0f} ms   p99 {out['p99_ms']:6.0f} ms"
        f"   max {out['max_ms']:6.0f} ms   load average {out['load']:.1f}"
    )
    for key, what in HOPS:
        h = out["hops"][key]
        print(
            f"        {key:18s} p50 {h['p50_ms']:6.1f}  p90 {h['p90_ms']:6.1f}  p99 {h['p99_ms']:6.1f} ms"
            f"  (n={h['n']})  {what}"
        )
    return out


# Where a submission of the run may rest once it is over: nothing more comes for it.
ENDED = (
    "draft",
    "revoked",
    "first_review_rejected",
    "second_review_rejected",
    "approved",
    "license_issued",
)


async def end_held(
    client: httpx.AsyncClient,
    sandbox: httpx.AsyncClient,
    pool: asyncpg.Pool,
    ids: list[str],
    timeout: float = 120.0,
) -> dict[str, int]:
    """End the run's submissions whose first review MOFCOM holds back (scopes; a review already
    scheduled keeps its delay after its scope goes, and would approve it minutes later): each one
    pending first review is revoked through the API (MOFCOM marks it revoked, and its held review
    then ends without a result); returns once every one of ``ids`` reads a status of ``ENDED``
    in the application service and MOFCOM has nothing of them under review; counts by status.
    A submission still on its way (``submitting``) is waited for, then revoked."""
    if not ids:
        return {}
    deadline = time.monotonic() + timeout
    revoked: set[str] = set()
    while True:
        rows = await pool.fetch(
            "SELECT id, status, form_no FROM application.applications WHERE id = ANY($1::uuid[])",
            [UUID(i) for i in ids],
        )
        status = {str(r["id"]): str(r["status"]) for r in rows}
        forms = {str(r["id"]): r["form_no"] for r in rows}
        for app_id, st in status.items():
            if st == "pending_first_review" and app_id not in revoked:
                resp = await client.post(
                    f"/api/v1/applications/{app_id}/revoke", json={"reason": "benchmark run over"}
                )
                # 409: it moved on meanwhile (another status of ENDED, read on the next round).
                if resp.status_code not in (200, 409):
                    raise SystemExit(f"revoke {app_id}: HTTP {resp.status_code} {resp.text[:300]}")
                revoked.add(app_id)
        open_ = {i: st for i, st in status.items() if st not in ENDED}
        if not open_ and len(status) == len(ids):
            break
        if time.monotonic() > deadline:
            raise SystemExit(
                f"{len(open_)} submissions of the run not ended after {timeout:.0f} s:"
                f" {dict(list(open_.items())[:5])} (./dev logs submission)"
            )
        await asyncio.sleep(0.1)
    # MOFCOM's own view: none of them left under review (its held reviews end without a result).
    pending = []
    for form in forms.values():
        if form:
            r = await sandbox.get(f"/mofcom/submissions/{form}")
            if r.status_code == 200 and r.json().get("status") in (
                "pending_first_review",
                "pending_second_review",
            ):
                pending.append(form)
    if pending:
        raise SystemExit(f"MOFCOM still reviews {len(pending)} forms of the run: {pending[:5]}")
    counts: dict[str, int] = {}
    for st in status.values():
        counts[st] = counts.get(st, 0) + 1
    print(f"ended the run's {len(ids)} submissions: {json.dumps(counts)}", flush=True)
    return counts


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=300, help="applications per mode (default 300)")
    parser.add_argument("--concurrency", type=int, default=16, help="HTTP requests in flight (single mode)")
    parser.add_argument("--paced-seconds", type=float, default=30.0, help="paced mode: seconds counted")
    parser.add_argument("--warmup", type=float, default=5.0, help="paced mode: seconds of sends not counted")
    parser.add_argument(
        "--paced-share", type=float, default=0.5, help="paced rate = this share of the single mode's rate"
    )
    parser.add_argument("--rate", type=float, help="paced rate per second (instead of the share)")
    parser.add_argument(
        "--only-paced",
        action="store_true",
        help="the paced mode alone, at --rate (no single/batch run; e.g. under a profiler)",
    )
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()
    if args.only_paced and not args.rate:
        parser.error("--only-paced needs --rate (there is no single-mode rate to take a share of)")
    got = await run(
        n=args.n,
        concurrency=args.concurrency,
        paced_seconds=args.paced_seconds,
        warmup_s=args.warmup,
        paced_share=args.paced_share,
        rate=args.rate,
        only_paced=args.only_paced,
    )
    if args.json:
        args.json.write_text(json.dumps(got, indent=2, default=str))


async def idle_cpu(env: dict[str, str], seconds: float) -> float:
    """CPU seconds per second the whole stack uses while nothing is asked of it."""
    idle0, t_idle = stack_cpu(env), time.perf_counter()
    await asyncio.sleep(seconds)
    return (stack_cpu(env) - idle0) / (time.perf_counter() - t_idle)


def cpu_figures(
    before: dict[str, float], after: dict[str, float], count: int, idle_rate: float, elapsed: float
) -> dict[str, Any]:
    """CPU per submission from two ``stack_cpu_by_name`` readings ``elapsed`` seconds apart."""
    by_name = {name: after[name] - before.get(name, 0.0) for name in after}
    used = sum(by_name.values())
    count = max(1, count)
    return {
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


async def run(
    *,
    n: int,
    concurrency: int,
    hold: str = "global",
    idle_s: float = 3.0,
    paced_seconds: float = 30.0,
    warmup_s: float = 5.0,
    paced_share: float = 0.5,
    rate: float | None = None,
    only_paced: bool = False,
    min_paced: int = 3,
    api_key: str | None = None,
) -> dict[str, Any]:
    """The three modes; returns {"single", "batch", "cpu", "paced"} (without the first two and
    "cpu" when ``only_paced``).

    ``hold`` how MOFCOM's first review is held back: ``global`` (``POST /control``, for everyone:
    a quiet bench stack only) or ``scopes`` (one ``/control/scopes`` entry per application, so
    that tests running beside it are left alone; for small ``n``).

    The paced mode runs after the other two, at ``rate`` or else ``paced_share`` of the rate the
    single mode sustained, for ``warmup_s + paced_seconds`` of sends (at least ``min_paced``
    counted); its CPU per submission is in ``paced["cpu"]``.

    CPU per submission: every process of the stack (``_stack.stack_cpu``: services, sandboxes,
    Kafka, PostgreSQL, nginx) from before the first submit until the last one is seen, less
    what the stack burns while idle (measured for ``idle_s`` just before), over the
    submissions of the single and batch modes.

    ``api_key``: submit as this tenant (its e-key bound and present; ``run_all --quick`` gives
    its own, ``_tenant.open_tenant``), else as the demo enterprise 1100776367555.

    With ``scopes``, the run ends its held submissions before it returns (``end_held``): each
    one still pending first review is revoked (MOFCOM's held review then ends without a result)
    and the run waits until every one reads a final status, so that no review, approval or
    license of the run arrives minutes later under whatever runs next."""
    env = stack_env()
    if api_key is None:
        demo: dict[str, Any] = json.loads(Path(env["AIL_DEMO_FILE"]).read_text())
        api_key = next(e["api_key"] for e in demo["enterprises"] if e["code"] == "1100776367555")
    key = api_key
    headers = {"Authorization": f"Bearer {key}"}
    pool = await asyncpg.create_pool(env["AIL_PG_DSN"], min_size=1, max_size=4)
    scopes: list[str] = []
    result: dict[str, Any] = {}
    async with (
        httpx.AsyncClient(base_url=env["AIL_ENTRY_URL"], headers=headers, timeout=60) as client,
        httpx.AsyncClient(base_url=env["AIL_MOFCOM_URL"], timeout=10) as sandbox,
    ):
        bound = (await client.get("/api/v1/ekey-bindings")).json()["items"]
        present = (await client.get("/api/v1/ekeys")).json()["items"]
        if not bound or not present:
            raise SystemExit(
                "the enterprise's e-key must be bound and present (the demo one's: ./dev up runs"
                " the signer and binds it)"
            )
        submitted: list[str] = []

        async def hold_reviews(ids: list[str]) -> None:
            if hold != "scopes":
                return
            for app_id in ids:
                r = await sandbox.post(
                    "/control/scopes",
                    json={
                        "match": {"application_id": app_id},
                        "control": {"first_delay": SCOPE_HOLD_SECONDS},
                    },
                )
                r.raise_for_status()
                scopes.append(str(r.json()["id"]))

        try:
            if hold != "scopes":
                await sandbox.post("/control", json={"first_delay": HOLD_SECONDS})
            idle_rate = 0.0
            if not only_paced:
                print(f"end-to-end: HTTP submit -> pending_first_review, n={n} per mode", flush=True)
                print(f"preparing {2 * n} drafts (not timed) ...", flush=True)
                single_ids = await make_drafts(client, n)
                batch_ids = await make_drafts(client, n)
                await hold_reviews(single_ids + batch_ids)
                submitted += single_ids + batch_ids
                idle_rate = await idle_cpu(env, idle_s)
                by0, t0 = stack_cpu_by_name(env), time.perf_counter()
                single = await run_single(client, pool, single_ids, concurrency)
                batch = await run_batch(client, pool, batch_ids)
                result = {
                    "single": single,
                    "batch": batch,
                    "cpu": cpu_figures(
                        by0,
                        stack_cpu_by_name(env),
                        int(single["n"] + batch["n"]),
                        idle_rate,
                        time.perf_counter() - t0,
                    ),
                }
                cpu = result["cpu"]
                print(
                    f"CPU per submission, all stack processes: {cpu['ms_per_submission']:.1f} ms"
                    f" ({cpu['gross_ms_per_submission']:.1f} ms before subtracting the idle"
                    f" {idle_rate:.2f} CPU-s/s; load average {os.getloadavg()[0]:.1f})"
                )
                print("  by process (gross ms per submission): " + json.dumps(cpu["gross_ms_by_process"]))
            paced_rate = rate or paced_share * float(result["single"]["per_s"])
            count = max(min_paced, math.ceil(paced_rate * paced_seconds)) + math.ceil(paced_rate * warmup_s)
            print(
                f"paced: {count} single submits at {paced_rate:.1f}/s"
                + ("" if rate else f" ({paced_share:.0%} of the single mode's rate)")
                + f", open loop, the first {warmup_s:g} s not counted; preparing drafts (not timed) ...",
                flush=True,
            )
            paced_ids = await make_drafts(client, count)
            await hold_reviews(paced_ids)
            submitted += paced_ids
            if only_paced:
                idle_rate = await idle_cpu(env, idle_s)
            else:
                # The backlog of the earlier modes is gone by now (every one was seen); a short
                # pause lets the relays and consumers fall back to their idle cadence first.
                await asyncio.sleep(1.0)
            by0, t0 = stack_cpu_by_name(env), time.perf_counter()
            paced = await run_paced(client, pool, paced_ids, paced_rate, warmup_s)
            paced["cpu"] = cpu_figures(
                by0, stack_cpu_by_name(env), len(paced_ids), idle_rate, time.perf_counter() - t0
            )
            paced["share"] = None if rate else paced_share
            result["paced"] = paced
            print(
                f"  paced CPU per submission {paced['cpu']['ms_per_submission']:.1f} ms"
                f" (gross {paced['cpu']['gross_ms_per_submission']:.1f} ms)"
            )
        finally:
            if hold == "scopes":
                try:
                    result["ended"] = await end_held(client, sandbox, pool, submitted)
                finally:
                    for scope_id in scopes:
                        await sandbox.delete(f"/control/scopes/{scope_id}")
            else:
                await sandbox.post("/control/reset")
            await pool.close()
    return result


if __name__ == "__main__":
    asyncio.run(main())
