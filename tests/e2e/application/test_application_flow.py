"""The application form through the entry point (nginx), with the demo API keys."""

from __future__ import annotations

import io
import re
import uuid

from pypdf import PdfReader

from tests.integration.application.support import complete_contract, complete_form, iron_ore_contract


async def test_iron_ore_application_from_precheck_to_submission(enterprise_a, enterprise_b, demo):
    a = enterprise_a
    pre = await a.post(
        "/api/v1/prechecks",
        json={"year": 2026, "commodities": [{"code": "2601110000"}], "customs_ports": ["4200"]},
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert pre.status_code == 200 and pre.json()["answers"][0]["iron_ore"]

    r = await a.post(
        "/api/v1/applications",
        json=complete_form("2601110000"),
        headers={"Idempotency-Key": str(uuid.uuid4())},
    )
    assert r.status_code == 201, r.text
    app = r.json()
    base = f"/api/v1/applications/{app['id']}"
    assert (await a.put(f"{base}/contract", json=complete_contract())).status_code == 200
    r = await a.post(f"{base}/submit")
    assert r.status_code == 422 and [d["field"] for d in r.json()["error"]["details"]] == [
        "iron_ore_contract"
    ]
    assert (await a.put(f"{base}/iron-ore-contract", json=iron_ore_contract())).status_code == 200

    exactly_1mb = b"%PDF-1.7\n" + b"1" * (1024 * 1024 - 9)
    r = await a.post(f"{base}/attachments", files={"file": ("scan.pdf", exactly_1mb)})
    assert r.status_code == 201, r.text
    assert (await a.get(f"{base}/attachments/{r.json()['id']}")).content == exactly_1mb

    pdf = await a.get(f"{base}/print")
    text = re.sub(r"[\s\x00]+", "", PdfReader(io.BytesIO(pdf.content)).pages[0].extract_text())
    assert demo["enterprises"][0]["name"] in text and "2601110000" in text

    assert (await enterprise_b.get(base)).status_code == 404
    listed = (await a.get("/api/v1/applications", params={"serial_no": app["serial_no"]})).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == app["id"]

    r = await a.post(f"{base}/submit", headers={"Idempotency-Key": str(uuid.uuid4())})
    assert r.status_code == 202, r.text
    assert (await a.get(base)).json()["status"] in ("submitting", "draft", "pending_first_review")


async def test_batch_routes_and_code_tables_reach_the_application_service(enterprise_a):
    a = enterprise_a
    one = (await a.post("/api/v1/applications", json=complete_form())).json()
    two = (await a.post("/api/v1/applications", json=complete_form())).json()
    r = await a.post("/api/v1/applications/print", json={"ids": [one["id"], two["id"]]})
    assert r.status_code == 200 and len(PdfReader(io.BytesIO(r.content)).pages) == 2
    r = await a.post("/api/v1/applications/batch-delete", json={"ids": [one["id"], two["id"]]})
    assert [x["outcome"] for x in r.json()["results"]] == ["deleted", "deleted"]
    rows = (await a.get("/api/v1/reference/customs_ports", params={"q": "青岛"})).json()["items"]
    assert [x["code"] for x in rows] == ["4200"]
    assert (await a.get("/api/v1/key-agri-filings")).status_code == 200
