"""Push for an agency through the entry point: it subscribes for one enterprise it acts for
(named with X-Enterprise-Code), that enterprise sees the subscription, the other does not."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import api_client


async def test_agency_subscribes_for_one_enterprise(
    entry_url: str, demo: dict[str, Any], enterprise_a: httpx.AsyncClient, enterprise_b: httpx.AsyncClient
) -> None:
    code_a = demo["enterprises"][0]["code"]
    # A loopback URL, which the stack allows explicitly: a public name would be resolved (the URL
    # guard resolves at subscription), and tests ask no DNS.
    body = {"url": "http://127.0.0.1:9/ail-hooks", "all_applications": True, "description": "agency e2e"}
    async with api_client(entry_url, demo["agency"]["api_key"]) as agency:
        r = await agency.post("/api/v1/subscriptions", json=body)
        assert r.status_code == 422  # must name the enterprise it acts for
        r = await agency.get("/api/v1/events/stream")
        assert r.status_code == 422
    async with api_client(entry_url, demo["agency"]["api_key"], enterprise=code_a) as agency_a:
        r = await agency_a.post("/api/v1/subscriptions", json=body)
        assert r.status_code == 201, r.text
        sub = r.json()
    try:
        assert sub["enterprise_code"] == code_a
        assert (await enterprise_a.get(f"/api/v1/subscriptions/{sub['id']}")).status_code == 200
        assert (await enterprise_b.get(f"/api/v1/subscriptions/{sub['id']}")).status_code == 404
        r = await enterprise_a.get(f"/api/v1/subscriptions/{sub['id']}/deliveries")
        assert r.status_code == 200 and isinstance(r.json()["items"], list)
    finally:
        assert (await enterprise_a.delete(f"/api/v1/subscriptions/{sub['id']}")).status_code == 204


async def test_status_routes_need_a_key(entry_url: str) -> None:
    async with httpx.AsyncClient(base_url=entry_url) as anonymous:
        for path in (
            "/api/v1/subscriptions",
            "/api/v1/events/stream",
            "/api/v1/ops/time-in-status",
            "/api/v1/applications/x/history",
        ):
            r = await anonymous.get(path)
            assert r.status_code == 401, path
