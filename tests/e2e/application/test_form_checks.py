"""Issue 13, items 1-6 and 8, through the entry point: temporary save keeps what it cannot read,
date and format checks, one problem per field and reason, the key-agri filing's unknown fields,
attachments only while editable, the size error."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from ail_shared.calendar import china_date
from ail_shared.retry import now_utc
from tests.integration.application.support import complete_contract, complete_form, set_status

TODAY = china_date(now_utc())
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def problems_of(body: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for p in body["problems"]:
        out.setdefault(p["field"], []).append(p)
    return out


async def submit_problems(a: httpx.AsyncClient, app_id: str) -> list[dict[str, Any]]:
    r = await a.post(f"/api/v1/applications/{app_id}/submit")
    assert r.status_code == 422, r.text
    details: list[dict[str, Any]] = r.json()["error"]["details"]
    return details


async def test_a_value_that_cannot_be_read_is_kept_as_typed_and_the_rest_is_saved(enterprise_a):
    a = enterprise_a
    r = await a.post(
        "/api/v1/applications",
        json={
            "handler_name": "王五",
            "expected_arrival_date": "2026/12/20",
            "goods": [{"spec": "块矿", "unit": "070", "quantity": "一百", "unit_price": "105.5"}],
        },
    )
    assert r.status_code == 201, r.text
    app = r.json()
    base = f"/api/v1/applications/{app['id']}"
    got = (await a.get(base)).json()
    assert got["handler_name"] == "王五" and got["goods"][0]["spec"] == "块矿"
    assert got["goods"][0]["unit_price"] == "105.5" and got["goods"][0]["quantity"] is None
    assert got["expected_arrival_date"] is None
    assert got["raw_inputs"]["expected_arrival_date"]["value"] == "2026/12/20"
    assert got["raw_inputs"]["goods.0.quantity"]["value"] == "一百"
    found = problems_of(got)
    assert [p["code"] for p in found["expected_arrival_date"]] == ["unparseable"]  # not also "required"
    assert "'2026/12/20' could not be read" in found["expected_arrival_date"][0]["reason"]
    assert [p["code"] for p in found["goods.0.quantity"]] == ["unparseable"]

    # PATCH: a bad value is kept too, and the other fields of the same body are saved.
    r = await a.patch(base, json={"remarks": "第二次", "handler_name": "赵六", "trade_country": 502})
    assert r.status_code == 200, r.text
    got = r.json()
    assert (got["remarks"], got["handler_name"]) == ("第二次", "赵六")
    assert got["raw_inputs"]["trade_country"]["value"] == 502
    # Giving the field again replaces the value as typed; the problem goes with it.
    arrival = (TODAY + timedelta(days=30)).isoformat()
    got = (await a.patch(base, json={"expected_arrival_date": arrival, "trade_country": "502"})).json()
    assert got["expected_arrival_date"] == arrival and set(got["raw_inputs"]) == {"goods.0.quantity"}
    assert "expected_arrival_date" not in problems_of(got)

    # The contract (PUT) likewise; the kept value blocks submission with the others.
    contract = complete_contract()
    contract["foreign_contract"]["signing_date"] = "2026年10月1日"
    r = await a.put(f"{base}/contract", json=contract)
    assert r.status_code == 200, r.text
    assert r.json()["raw_inputs"]["contract.foreign_contract.signing_date"]["value"] == "2026年10月1日"
    assert r.json()["foreign_contract"]["contract_no"] == contract["foreign_contract"]["contract_no"]
    details = await submit_problems(a, app["id"])
    unparseable = {d["field"] for d in details if d["code"] == "unparseable"}
    assert unparseable == {"goods.0.quantity", "contract.foreign_contract.signing_date"}


async def test_limits_still_refuse_the_whole_body(enterprise_a):
    r = await enterprise_a.post(
        "/api/v1/applications", json={"handler_name": "x" * 51, "expected_arrival_date": "2026/12/20"}
    )
    assert r.status_code == 422  # a limit refuses the body, naming every field in error at once
    assert {d["field"] for d in r.json()["error"]["details"]} == {"handler_name", "expected_arrival_date"}


async def test_past_arrival_and_expired_contract_are_problems_and_block_submission(enterprise_a):
    a = enterprise_a
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    r = await a.post("/api/v1/applications", json=complete_form(expected_arrival_date=yesterday))
    app = r.json()
    assert [p["code"] for p in problems_of(app)["expected_arrival_date"]] == ["arrival_date_past"]
    contract = complete_contract(
        signing_date=(TODAY - timedelta(days=90)).isoformat(),
        expiry_date=yesterday,
        departure_date=None,
    )
    assert (await a.put(f"/api/v1/applications/{app['id']}/contract", json=contract)).status_code == 200
    got = (await a.get(f"/api/v1/applications/{app['id']}")).json()
    assert [p["code"] for p in problems_of(got)["contract.foreign_contract.expiry_date"]] == [
        "contract_expired"
    ]
    codes = {d["code"] for d in await submit_problems(a, app["id"])}
    assert {"arrival_date_past", "contract_expired"} <= codes
    # Today is still valid for both.
    today = TODAY.isoformat()
    await a.patch(f"/api/v1/applications/{app['id']}", json={"expected_arrival_date": today})
    contract["foreign_contract"]["expiry_date"] = today
    await a.put(f"/api/v1/applications/{app['id']}/contract", json=contract)
    got = (await a.get(f"/api/v1/applications/{app['id']}")).json()
    assert {p["code"] for p in got["problems"]} & {"arrival_date_past", "contract_expired"} == set()


async def test_contract_contact_formats_and_a_negative_total_quantity(enterprise_a):
    a = enterprise_a
    app = (await a.post("/api/v1/applications", json=complete_form())).json()
    contract = complete_contract(total_quantity="-1")
    contract["applicant"].update(email="li.si@", phone="电话", postcode="10002")
    assert (await a.put(f"/api/v1/applications/{app['id']}/contract", json=contract)).status_code == 200
    found = problems_of((await a.get(f"/api/v1/applications/{app['id']}")).json())
    for name in ("email", "phone", "postcode"):
        assert [p["code"] for p in found[f"contract.applicant.{name}"]] == ["invalid_format"], name
    [quantity] = found["contract.foreign_contract.total_quantity"]
    assert quantity["code"] == "not_positive" and "must be a number greater than 0" in quantity["reason"]
    contract["applicant"].update(email="li.si@example.com", phone="+86 10-1234 5678", postcode="100020")
    contract["foreign_contract"]["total_quantity"] = "5000"
    await a.put(f"/api/v1/applications/{app['id']}/contract", json=contract)
    found = problems_of((await a.get(f"/api/v1/applications/{app['id']}")).json())
    assert not [f for f in found if f.startswith("contract.")]


async def test_an_edit_names_a_creation_only_field_once(enterprise_a):
    app = (await enterprise_a.post("/api/v1/applications", json={})).json()
    r = await enterprise_a.patch(f"/api/v1/applications/{app['id']}", json={"year": 2030})
    assert r.status_code == 422
    assert r.json()["error"]["details"] == [{"field": "year", "reason": "read-only after creation"}]


async def test_the_key_agri_filing_refuses_unknown_fields_by_name(enterprise_a):
    body = {
        "enterprise_name": "北京示例进出口有限公司",
        "customs_registration_no": "1105960123",
        "business_registration_no": "110000012345678",
        "registered_capital_wan_yuan": "5000",
        "business_address": "北京市朝阳区示例路1号",
        "contact": "王五",
        "phone": "010-87654321",
        "enterprise_code": "9999999999999",
        "colour": "red",
    }
    r = await enterprise_a.post("/api/v1/key-agri-filings", json=body)
    assert r.status_code == 422, r.text
    reasons = {d["field"]: d["reason"] for d in r.json()["error"]["details"]}
    assert reasons == {
        "enterprise_code": "read-only: the enterprise code comes from the login",
        "colour": "unknown field",
    }


async def test_attachments_change_only_while_the_application_may_be_edited(enterprise_a, db):
    a = enterprise_a
    app = (await a.post("/api/v1/applications", json=complete_form())).json()
    base = f"/api/v1/applications/{app['id']}/attachments"
    r = await a.post(base, files={"file": ("a.png", PNG)})
    assert r.status_code == 201, r.text
    held = r.json()["id"]
    for status in ("pending_first_review", "license_issued"):
        await set_status(db, app["id"], status)
        r = await a.post(base, files={"file": ("b.png", PNG)})
        assert r.status_code == 409 and f"status '{status}'" in r.json()["error"]["message"], r.text
        r = await a.delete(f"{base}/{held}")
        assert r.status_code == 409 and f"status '{status}'" in r.json()["error"]["message"], r.text
    assert [x["id"] for x in (await a.get(base)).json()] == [held]


async def test_the_size_error_quotes_the_files_size(enterprise_a):
    app = (await enterprise_a.post("/api/v1/applications", json={})).json()
    big = b"%PDF-1.7\n" + b"0" * (3 * 512 * 1024 - 9)
    r = await enterprise_a.post(
        f"/api/v1/applications/{app['id']}/attachments", files={"file": ("big.pdf", big)}
    )
    assert r.status_code == 422, r.text
    [reason] = [d["reason"] for d in r.json()["error"]["details"]]
    assert f"{len(big)} bytes" in reason and "1048577" not in reason
