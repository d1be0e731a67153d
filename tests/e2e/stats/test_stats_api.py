"""The monthly statistics through the nginx entry point: JSON and CSV, the month in China,
tenant scoping for enterprises and agencies, input errors."""

from __future__ import annotations

import csv
import io
import random
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import httpx

from tests.integration.stats.support import make_tenants, publish, random_approval
from tests.support import eventually


def client(entry_url: str, key: str, enterprise: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"}
    if enterprise:
        headers["X-Enterprise-Code"] = enterprise
    return httpx.AsyncClient(base_url=entry_url, headers=headers, timeout=30)


async def test_month_boundary_csv_and_tenants_through_the_entry_point(
    db: asyncpg.Pool, entry_url: str, kafka_bootstrap: str
) -> None:
    rng = random.Random(3)
    t = await make_tenants(db, 2, agency_for=2)
    a_code, b_code = t.enterprises
    # 16:30 UTC on 31 March is 00:30 on 1 April in China: counted in April, not March.
    boundary = random_approval(rng, [a_code], (2025,))
    boundary = replace(boundary, reviewed_at=datetime(2025, 3, 31, 16, 30, tzinfo=UTC))
    march = random_approval(rng, [a_code], (2025,))
    march = replace(
        march,
        reviewed_at=datetime(2025, 3, 10, 2, 0, tzinfo=UTC),
        code=boundary.code,
        name=boundary.name,
        unit=boundary.unit,
        category=boundary.category,
    )
    other = random_approval(rng, [b_code], (2025,))
    other = replace(other, reviewed_at=datetime(2025, 4, 2, tzinfo=UTC))
    await publish(kafka_bootstrap, [boundary.review(), march.review(), other.review()])

    async with client(entry_url, t.keys[a_code]) as a, client(entry_url, t.keys[b_code]) as b:

        async def april() -> list[dict[str, object]] | None:
            resp = await a.get("/api/v1/stats/monthly", params={"month": "2025-04"})
            rows = resp.json().get("items") if resp.status_code == 200 else None
            return rows if rows and rows[0]["year_to_date"]["count"] == 2 else None

        rows = await eventually(april, timeout=60, what="both approvals of A counted")
        assert len(rows) == 1
        row = rows[0]
        assert row["commodity_code"] == boundary.code and row["unit"] == boundary.unit
        assert row["month"] == {
            "quantity": str(boundary.quantity),
            "amount_usd": str(boundary.amount),
            "count": 1,
        }
        assert Decimal(row["year_to_date"]["quantity"]) == boundary.quantity + march.quantity
        march_rows = (await a.get("/api/v1/stats/monthly", params={"month": "2025-03"})).json()["items"]
        assert [r["month"]["count"] for r in march_rows] == [1]

        resp = await a.get(
            "/api/v1/stats/monthly", params={"month": "2025-04"}, headers={"Accept": "text/csv"}
        )
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
        lines = list(csv.reader(io.StringIO(resp.text)))
        assert lines[0][:3] == ["commodity_code", "commodity_name", "unit"]
        assert lines[1][0] == boundary.code and lines[1][5] == "1" and lines[1][8] == "2"

        b_rows = (await b.get("/api/v1/stats/monthly", params={"month": "2025-04"})).json()["items"]
        assert [r["year_to_date"]["count"] for r in b_rows] == [1]
        assert all(r["commodity_code"] == other.code for r in b_rows)

    async with client(entry_url, t.agency_key) as ag, client(entry_url, t.agency_key, a_code) as ag_a:

        async def total(c: httpx.AsyncClient) -> int:
            body = (await c.get("/api/v1/stats/monthly", params={"month": "2025-12"})).json()
            return sum(r["year_to_date"]["count"] for r in body["items"])

        assert await total(ag) == 3  # both enterprises authorised it
        assert await total(ag_a) == 2  # naming one enterprise narrows to it


async def test_input_errors_name_the_field(entry_url: str, db: asyncpg.Pool) -> None:
    t = await make_tenants(db, 1)
    async with client(entry_url, t.keys[t.enterprises[0]]) as c:
        for params in ({}, {"month": "2025-13"}, {"month": "25-01"}):
            resp = await c.get("/api/v1/stats/monthly", params=params)
            assert resp.status_code == 422, resp.text
            assert resp.json()["error"]["details"][0]["field"] == "month"
    async with httpx.AsyncClient(base_url=entry_url, timeout=10) as anon:
        resp = await anon.get("/api/v1/stats/monthly", params={"month": "2025-01"})
        assert resp.status_code == 401
