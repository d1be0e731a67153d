"""The run command's demo data binds the demo enterprise's e-key: an application submitted through
the entry point reaches license_issued on its own."""

from __future__ import annotations

import httpx

from tests.integration.submission.support import create_draft, wait_status


async def test_demo_enterprise_submits_to_license_issued(enterprise_a: httpx.AsyncClient) -> None:
    bindings = (await enterprise_a.get("/api/v1/ekey-bindings")).json()["items"]
    assert [b["enterprise_code"] for b in bindings] == ["1100776367555"], "bound by ./dev up's demo step"
    keys = (await enterprise_a.get("/api/v1/ekeys")).json()["items"]
    assert any(k["serial"] == bindings[0]["ekey_serial"] and "1100776367555" in k["subject"] for k in keys)

    app_id = await create_draft(enterprise_a)
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    app = await wait_status(enterprise_a, app_id, "license_issued", timeout=90)
    assert app["form_no"] and app["license_no"] and app["applied_at"]
