"""Through the entry point with the demo API keys: another tenant's licenses are invisible, an
agency sees the enterprises that authorised it, and the history of a license in time order."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from tests.integration.customs.support import ENTERPRISE_A, declare, licensed, wait_ledger, wait_status


async def test_another_tenants_license_is_invisible(
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
    agency: httpx.AsyncClient,
) -> None:
    app = await licensed(kafka_producer, customs_sandbox, mode="unavailable")
    no = app.license_no
    await wait_status(enterprise_a, no, "send_failed")
    for method, path, params in (
        ("GET", f"/api/v1/licenses/{no}", {}),
        ("GET", f"/api/v1/licenses/{no}/availability", {"quantity": "1"}),
        ("GET", "/api/v1/customs/clearances", {"license_no": no}),
        ("GET", "/api/v1/history", {"license_no": no}),
        ("POST", f"/api/v1/licenses/{no}/resend", {}),
    ):
        r = await enterprise_b.request(method, path, params=params)
        assert r.status_code == 404, (path, r.text)
        assert r.json()["error"]["code"] == "not_found"
    r = await enterprise_b.get("/api/v1/customs/status", params={"license_no": no})
    assert r.json()["total"] == 0
    # The agency, acting for enterprise A, sees it; acting for B, it does not.
    r = await agency.get(f"/api/v1/licenses/{no}", headers={"X-Enterprise-Code": ENTERPRISE_A})
    assert r.status_code == 200 and r.json()["customs_status"] == "send_failed"
    r = await agency.get(f"/api/v1/licenses/{no}", headers={"X-Enterprise-Code": "3100123456789"})
    assert r.status_code == 404
    r = await enterprise_a.get(f"/api/v1/licenses/{no}")
    assert r.status_code == 200


async def test_history_of_a_license_in_time_order(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    app = await licensed(
        kafka_producer, customs_sandbox, mode="stored", script=["failed"], quantity=Decimal("100")
    )
    no = app.license_no
    await wait_status(enterprise_a, no, "store_failed")
    assert (await enterprise_a.post(f"/api/v1/licenses/{no}/resend")).status_code == 202
    await wait_status(enterprise_a, no, "stored")
    d = await declare(customs_sandbox, no, "30")
    await customs_sandbox.post(f"/control/declarations/{d['declaration_no']}/invalidate", json={})
    await wait_ledger(enterprise_a, no, 2)

    r = await enterprise_a.get("/api/v1/history", params={"license_no": no})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    kinds = [i["kind"] for i in items]
    assert kinds == [
        "submission_accepted",
        "review_result",
        "license_issued",
        "customs_delivery",
        "customs_resend_requested",
        "customs_delivery",
        "clearance_recorded",
        "clearance_reversed",
    ], kinds
    times = [datetime.fromisoformat(i["occurred_at"]) for i in items]
    assert times == sorted(times)
    assert r.json()["application_id"] == app.application_id

    # A time range narrows it: only what happened from the license issue on, before the declaration.
    since = app.applied_at + timedelta(days=2)
    until = datetime.fromisoformat(items[6]["occurred_at"])
    r = await enterprise_a.get(
        "/api/v1/history", params={"license_no": no, "from": since.isoformat(), "to": until.isoformat()}
    )
    assert [i["kind"] for i in r.json()["items"]] == kinds[2:6]
    bad = await enterprise_a.get("/api/v1/history", params={"license_no": no, "from": "yesterday", "to": "x"})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"from", "to"}
