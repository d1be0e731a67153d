"""Lists and queries through the nginx entry point (issue 12 item 2, issue 13 items 14-16): one
paging shape on every list, bad filters refused by name, the catalogue by year, the statistics'
categories, grouping and refusals."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from tests.integration.stats.support import make_tenants, publish, random_approval
from tests.support import api_client, eventually

SUB = "00000000-0000-0000-0000-000000000000"
# Every public list of every service (customs clearances and history need a license of the
# caller's: tests/integration/customs read their pages). (path, params it needs)
LISTS: list[tuple[str, dict[str, str]]] = [
    ("/api/v1/applications", {}),
    ("/api/v1/customs/status", {}),
    ("/api/v1/subscriptions", {}),
    ("/api/v1/ekeys", {}),
    ("/api/v1/ekey-bindings", {}),
    ("/api/v1/key-agri-filings", {}),
    ("/api/v1/reference/countries", {}),
    ("/api/v1/reference/commodities", {}),
    ("/api/v1/stats/monthly", {"month": "2026-01"}),
]
# The same and those that need an object first: an unknown parameter is refused before the
# object is looked up.
ALL_LISTS = [
    *LISTS,
    ("/api/v1/customs/clearances", {"license_no": "X"}),
    ("/api/v1/history", {"license_no": "X"}),
    (f"/api/v1/subscriptions/{SUB}/deliveries", {}),
]


@pytest.fixture
async def operations(entry_url: str, demo: dict[str, Any]) -> Any:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


@pytest.mark.parametrize(("path", "params"), LISTS, ids=[p for p, _ in LISTS])
async def test_every_list_has_one_page_shape(
    enterprise_a: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    whole = await enterprise_a.get(path, params=params)
    assert whole.status_code == 200, whole.text
    body = whole.json()
    assert {"items", "total", "page", "page_size"} <= set(body), body
    assert body["page"] == 1 and body["total"] >= len(body["items"])
    one = (await enterprise_a.get(path, params={**params, "page_size": 1})).json()
    assert (
        one["page_size"] == 1 and one["total"] == body["total"] and len(one["items"]) == min(1, body["total"])
    )
    if body["total"] >= 2:  # page 2 of size 1 is the list's second item
        second = (await enterprise_a.get(path, params={**params, "page_size": 1, "page": 2})).json()
        assert second["items"] == body["items"][1:2]


@pytest.mark.parametrize(("path", "params"), ALL_LISTS, ids=[p for p, _ in ALL_LISTS])
async def test_an_unknown_query_parameter_is_refused_by_name(
    enterprise_a: httpx.AsyncClient, path: str, params: dict[str, str]
) -> None:
    r = await enterprise_a.get(path, params={**params, "licence_number": "18AA0001"})
    assert r.status_code == 422, r.text
    details = r.json()["error"]["details"]
    assert [d["field"] for d in details] == ["query.licence_number"]
    assert "unknown query parameter" in details[0]["reason"]


async def test_the_application_query_refuses_bad_filters(enterprise_a: httpx.AsyncClient) -> None:
    cases = [
        ({"status": "bogus"}, "query.status"),
        ({"license_no": "18AA0001"}, "query.license_no"),  # not a filter of this query
        ({"applied_from": "2026-12-01", "applied_to": "2026-11-01"}, "applied_to"),
    ]
    for params, field in cases:
        r = await enterprise_a.get("/api/v1/applications", params=params)
        assert r.status_code == 422, (params, r.text)
        assert [d["field"] for d in r.json()["error"]["details"]] == [field], r.text
    # A real status still filters.
    ok = await enterprise_a.get("/api/v1/applications", params={"status": "draft", "page_size": 5})
    assert ok.status_code == 200 and all(x["status"] == "draft" for x in ok.json()["items"])


async def test_the_catalogue_by_year_and_effective_date(enterprise_a: httpx.AsyncClient) -> None:
    path = "/api/v1/reference/commodities"
    every = (await enterprise_a.get(path)).json()
    assert {x["year"] for x in every["items"]} >= {2026, 2027}
    of_2027 = (await enterprise_a.get(path, params={"year": 2027})).json()
    assert of_2027["total"] > 0 and {x["year"] for x in of_2027["items"]} == {2027}
    assert of_2027["total"] < every["total"]
    on = (await enterprise_a.get(path, params={"on": "2027-06-01", "q": "2601"})).json()["items"]
    assert on and all(x["effective_from"] <= "2027-06-01" <= x["effective_to"] for x in on)
    assert (await enterprise_a.get(path, params={"year": 2031})).json()["items"] == []
    r = await enterprise_a.get("/api/v1/reference/countries", params={"year": 2027})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "query.year"


async def test_statistics_filters_and_who_may_ask(
    db: asyncpg.Pool, entry_url: str, kafka_bootstrap: str, operations: httpx.AsyncClient
) -> None:
    t = await make_tenants(db, 1)
    (code,) = t.enterprises
    rng = random.Random(16)
    at = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)
    base = replace(random_approval(rng, [code], (2025,)), reviewed_at=at, country="601")
    # Iron ore and copper ore are both HS chapter 26: only the catalogue's category tells them apart.
    iron = replace(
        base, application_id=str(uuid.uuid4()), code="2601110000", unit="070",
        category="iron_ore", grouping="矿产品",
    )  # fmt: skip
    copper = replace(
        base, application_id=str(uuid.uuid4()), code="2603000010", unit="070",
        category="copper_concentrate", grouping="矿产品",
    )  # fmt: skip
    coal = replace(
        base, application_id=str(uuid.uuid4()), code="2701120010", unit="070",
        category="coal", grouping="煤炭",
    )  # fmt: skip
    await publish(kafka_bootstrap, [iron.review(), copper.review(), coal.review()])
    async with api_client(entry_url, t.keys[code]) as c:

        async def codes(**filters: str) -> list[str]:
            r = await c.get("/api/v1/stats/monthly", params={"month": "2025-06", **filters})
            assert r.status_code == 200, r.text
            return [x["commodity_code"] for x in r.json()["items"]]

        async def all_three() -> list[str] | None:
            found = await codes()
            return found if len(found) == 3 else None

        await eventually(all_three, timeout=60, what="three approvals counted")
        assert await codes(commodity_category="iron_ore") == [iron.code]
        assert await codes(commodity_category="HS26") == [iron.code, copper.code]
        assert await codes(commodity_grouping="矿产品") == [iron.code, copper.code]
        assert await codes(commodity_grouping="煤炭", commodity_category="coal") == [coal.code]
        assert await codes(trade_country="601") == [iron.code, copper.code, coal.code]
        bad = await c.get(
            "/api/v1/stats/monthly",
            params={"month": "2025-06", "trade_country": "Australia", "commodity_category": "ore",
                    "commodity_grouping": "rocks"},
        )  # fmt: skip
        assert bad.status_code == 422
        fields = {d["field"] for d in bad.json()["error"]["details"]}
        assert fields == {"trade_country", "commodity_category", "commodity_grouping"}
    r = await operations.get("/api/v1/stats/monthly", params={"month": "2025-06"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert "enterprise" in r.json()["error"]["message"]
