"""Statistics against a recomputation in SQL. The stats service's monthly figures (its API)
are read before the run and after it; the change must equal what SQL over the tables the
services own says this run approved: the application service's goods totals of each of the
run's applications whose form has a second-review pass in the submission service's review
results, in the China month of that review.

Why the change and not the totals: other tests publish approvals for the demo enterprises
straight to Kafka (no rows in any service's tables), so only this run's share can be
recomputed from the database.

The approval is taken from the submission service's records (its review results, joined to its
submissions by form no.), the goods from the application document: an application whose
application service missed the approval (a lost event) still counts, as it does for stats."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from benchmarks.chaos_harness.stack import Stack, call

CHINA = ZoneInfo("Asia/Shanghai")
Key = tuple[str, str, str, str]  # enterprise, month, commodity code, unit
Figures = tuple[int, Decimal, Decimal]  # count, quantity, amount (USD)
ZERO: Figures = (0, Decimal(0), Decimal(0))

RECOMPUTE = """
SELECT a.enterprise_code, to_char(r.reviewed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS month,
       a.commodity_code, a.unit, count(*) AS n, sum(a.total_quantity) AS quantity,
       sum(a.total_value_usd) AS amount
FROM submission.review_results r
JOIN submission.submissions s ON s.form_no = r.form_no
JOIN application.applications a ON a.id = s.application_id
WHERE r.stage = 'second' AND r.result = 'passed' AND s.application_id = ANY($1::uuid[])
GROUP BY 1, 2, 3, 4
"""


def months_around(now: datetime) -> list[str]:
    """The China month now and the next one (a run may cross a month's end)."""
    here = now.astimezone(CHINA)
    nxt = (here.replace(day=1) + timedelta(days=32)).replace(day=1)
    return [f"{here:%Y-%m}", f"{nxt:%Y-%m}"]


async def read(stack: Stack, months: list[str]) -> tuple[dict[Key, Figures], dict[Key, Figures]]:
    """(month figures, year-to-date figures) per key, as the stats API shows them."""
    month_f: dict[Key, Figures] = {}
    ytd_f: dict[Key, Figures] = {}
    for enterprise in stack.enterprises:
        async with stack.agency(enterprise) as client:
            for month in months:
                r = await call(client, "GET", "/api/v1/stats/monthly", params={"month": month}, deadline=120)
                r.raise_for_status()
                for row in r.json()["items"]:
                    key = (enterprise, month, row["commodity_code"], row["unit"])
                    month_f[key] = _fig(row["month"])
                    ytd_f[key] = _fig(row["year_to_date"])
    return month_f, ytd_f


async def read_steady(
    stack: Stack, months: list[str], *, still: float = 8.0, timeout: float = 180.0
) -> tuple[dict[Key, Figures], dict[Key, Figures]]:
    """The figures before the run, once they stop moving: a stack that has just run other work
    (the test suite, an earlier run) may still be approving and folding it, and what it folds
    after this read would be counted as this run's change. Two reads ``still`` seconds apart must
    agree (at most ``timeout`` seconds of waiting; then the last read is used)."""
    deadline = time.monotonic() + timeout
    last = await read(stack, months)
    while time.monotonic() < deadline:
        await asyncio.sleep(still)
        current = await read(stack, months)
        if current == last:
            return current
        last = current
    return last


def _fig(d: dict[str, Any]) -> Figures:
    return (int(d["count"]), Decimal(str(d["quantity"])), Decimal(str(d["amount_usd"])))


def _sub(a: Figures, b: Figures) -> Figures:
    return (a[0] - b[0], a[1] - b[1], a[2] - b[2])


async def recompute(conn: asyncpg.Connection, ids: list[str]) -> dict[Key, Figures]:
    rows = await conn.fetch(RECOMPUTE, ids)
    return {
        (r["enterprise_code"], r["month"], r["commodity_code"], r["unit"]): (
            int(r["n"]),
            Decimal(r["quantity"]),
            Decimal(r["amount"]),
        )
        for r in rows
    }


def compare(
    before: tuple[dict[Key, Figures], dict[Key, Figures]],
    after: tuple[dict[Key, Figures], dict[Key, Figures]],
    expected: dict[Key, Figures],
    months: list[str],
) -> list[str]:
    """Differences between the API's change and the recomputation, month and year to date."""
    problems = []
    outside = sorted({k[1] for k in expected} - set(months))
    if outside:
        problems.append(f"approvals in months not read before the run: {', '.join(outside)}")
    want_ytd: dict[Key, Figures] = defaultdict(lambda: ZERO)
    for (ent, month, code, unit), fig in expected.items():
        for m in months:
            if m[:4] == month[:4] and m >= month:
                k = (ent, m, code, unit)
                want_ytd[k] = (want_ytd[k][0] + fig[0], want_ytd[k][1] + fig[1], want_ytd[k][2] + fig[2])
    for label, idx, want in (("month", 0, expected), ("year to date", 1, want_ytd)):
        keys = set(before[idx]) | set(after[idx]) | set(want)
        for k in sorted(keys):
            got = _sub(after[idx].get(k, ZERO), before[idx].get(k, ZERO))
            if got != want.get(k, ZERO):
                problems.append(
                    f"{label} {k[1]} {k[0]} {k[2]}/{k[3]}: stats changed by count {got[0]}, quantity"
                    f" {got[1]}, amount {got[2]}; SQL says {want.get(k, ZERO)[0]}, {want.get(k, ZERO)[1]},"
                    f" {want.get(k, ZERO)[2]}"
                )
    return problems


async def settle(
    stack: Stack,
    conn: asyncpg.Connection,
    ids: list[str],
    before: tuple[dict[Key, Figures], dict[Key, Figures]],
    months: list[str],
    timeout: float = 120.0,
) -> tuple[list[str], int]:
    """Compare until equal (the stats worker may still be folding) or ``timeout``; returns the
    last differences and the number of approvals SQL found."""
    expected = await recompute(conn, ids)
    approvals = sum(f[0] for f in expected.values())
    deadline = time.monotonic() + timeout
    while True:
        problems = compare(before, await read(stack, months), expected, months)
        if not problems or time.monotonic() > deadline:
            return problems, approvals
        await asyncio.sleep(3)


def now() -> datetime:
    return datetime.now(UTC)
