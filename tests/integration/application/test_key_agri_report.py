"""Key agricultural products filing: save and report to MOFCOM (the sandbox), with the outcome
visible on the filing, retries after MOFCOM failures, and one receipt per filing."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support import MofcomScopes, eventually

BODY = {
    "enterprise_name": "北京示例进出口有限公司",
    "customs_registration_no": "1105960123",
    "business_registration_no": "110000012345678",
    "registered_capital_wan_yuan": "5000",
    "business_address": "北京市朝阳区示例路1号",
    "contact": "王五",
    "phone": "010-87654321",
}
PATH = "/mofcom/key-agri-filings"


async def _filing_when(a: httpx.AsyncClient, filing_id: str, status: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        f = (await a.get(f"/api/v1/key-agri-filings/{filing_id}")).json()
        return f if f["status"] == status else None

    return await eventually(check, timeout=30, what=f"filing {filing_id} to be {status}")


async def test_saved_filing_is_reported_once_with_a_receipt(
    enterprise_a_direct: httpx.AsyncClient, enterprise_b_direct: httpx.AsyncClient, stack: dict[str, str]
) -> None:
    r = await enterprise_a_direct.post(
        "/api/v1/key-agri-filings", json=BODY, headers={"Idempotency-Key": f"ka-{uuid.uuid4()}"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["status"] in ("saved", "reported")
    filing = await _filing_when(enterprise_a_direct, r.json()["id"], "reported")
    assert filing["receipt_no"].startswith("ZN") and "1100776367555" in filing["receipt_no"]
    assert filing["last_error"] is None and filing["reported_at"]
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"]) as mofcom:
        seen = (await mofcom.get("/control/key-agri-filings", params={"key": filing["id"]})).json()
    assert seen[filing["id"]]["received"] == 1
    assert seen[filing["id"]]["receipt"]["receipt_no"] == filing["receipt_no"]
    assert (await enterprise_b_direct.get(f"/api/v1/key-agri-filings/{filing['id']}")).status_code == 404
    again = await enterprise_a_direct.post(f"/api/v1/key-agri-filings/{filing['id']}/report")
    assert again.status_code == 409


async def test_mofcom_failure_is_visible_and_the_filing_is_reported_after_it(
    enterprise_a_direct: httpx.AsyncClient, stack: dict[str, str], mofcom_scopes: MofcomScopes
) -> None:
    # MOFCOM fails this filing only (a scope matching its address, which no other test's has).
    body = {**BODY, "business_address": f"{BODY['business_address']} {uuid.uuid4().hex[:8]}"}
    scope = await mofcom_scopes.add(
        {"faults": {"error_rate": 1.0, "paths": [PATH]}}, business_address=body["business_address"]
    )
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"]) as mofcom:
        r = await enterprise_a_direct.post("/api/v1/key-agri-filings", json=body)
        assert r.status_code == 201, r.text
        failed = await _filing_when(enterprise_a_direct, r.json()["id"], "report_failed")
        assert "500" in failed["last_error"] and failed["report_attempts"] >= 1
        assert failed["receipt_no"] is None
        await mofcom_scopes.change(scope, {"faults": {"error_rate": 0.0}})
        # MOFCOM is back: the operator sends it again (the worker would also retry by itself).
        resent = await enterprise_a_direct.post(f"/api/v1/key-agri-filings/{failed['id']}/report")
        assert resent.status_code == 202, resent.text
        reported = await _filing_when(enterprise_a_direct, failed["id"], "reported")
        assert reported["receipt_no"]
        seen = (await mofcom.get("/control/key-agri-filings", params={"key": failed["id"]})).json()
        assert seen[failed["id"]]["receipt"]["receipt_no"] == reported["receipt_no"]
