"""Temporary save, defaults, read-only fields, computed fields, idempotency."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from tests.integration.application.support import complete_form


async def test_incomplete_saves_keep_every_field(enterprise_a_direct):
    r = await enterprise_a_direct.post(
        "/api/v1/applications", json={"handler_name": "张三", "goods": [{"spec": "块矿"}]}
    )
    assert r.status_code == 201, r.text
    app = r.json()
    assert app["status"] == "draft" and app["serial_no"].startswith("NA")
    r = await enterprise_a_direct.patch(
        f"/api/v1/applications/{app['id']}", json={"remarks": "第二次暂存", "trade_country": "999"}
    )
    assert r.status_code == 200, r.text
    r = await enterprise_a_direct.patch(
        f"/api/v1/applications/{app['id']}", json={"customs_ports": ["4200", "2200"]}
    )
    got = (await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}")).json()
    assert got["handler_name"] == "张三"
    assert got["goods"][0]["spec"] == "块矿"
    assert got["remarks"] == "第二次暂存"
    assert got["trade_country"] == "999"  # kept as typed; flagged, not lost
    assert got["customs_ports"] == ["4200", "2200"]
    assert {
        "field": "trade_country",
        "reason": "'999' is not in code table 'countries' (GET /api/v1/reference/countries)",
        "code": "not_in_code_table",
    } in got["problems"]
    assert got["version"] == 3


async def test_defaults_are_filled_and_editable(enterprise_a_direct):
    app = (await enterprise_a_direct.post("/api/v1/applications", json={})).json()
    assert (app["trade_mode"], app["forex_source"], app["commodity_usage"], app["currency"]) == (
        "10",
        "10",
        "11",
        "USD",
    )
    assert app["year"] == date.today().year or app["year"] == date.today().year + 1
    app = (
        await enterprise_a_direct.patch(
            f"/api/v1/applications/{app['id']}", json={"trade_mode": "13", "currency": "EUR"}
        )
    ).json()
    assert (app["trade_mode"], app["currency"]) == ("13", "EUR")


async def test_read_only_fields_are_refused_by_name_and_nothing_changes(enterprise_a_direct, make_draft):
    app = await make_draft(handler_name="张三")
    r = await enterprise_a_direct.patch(
        f"/api/v1/applications/{app['id']}",
        json={
            "handler_name": "李四",
            "importer_name": "别的公司",
            "total_value_usd": "1",
            "valid_until": "2030-01-01",
            "year": 2030,
            "colour": "red",
            "goods": [{"spec": "x", "total_value": "5"}],
        },
    )
    assert r.status_code == 422
    details = {d["field"]: d["reason"] for d in r.json()["error"]["details"]}
    assert details == {
        "importer_name": "read-only: filled by the system",
        "total_value_usd": "read-only: filled by the system",
        "valid_until": "read-only: filled by the system",
        "year": "read-only after creation",
        "colour": "unknown field",
        "goods.0.total_value": "read-only: computed",
    }
    got = (await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}")).json()
    assert got["handler_name"] == "张三" and got["version"] == 1
    r = await enterprise_a_direct.post("/api/v1/applications", json={"form_no": "191100776367555600014"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "form_no"


async def test_totals_usd_and_valid_until_are_computed(enterprise_a_direct):
    form = complete_form(currency="CNY")
    form["goods"] = [
        {"spec": "a", "unit": "070", "quantity": "3", "unit_price": "10.005"},
        {"spec": "b", "unit": "070", "quantity": "2.5", "unit_price": "4"},
        {"spec": "c", "unit": "070"},
    ]
    app = (await enterprise_a_direct.post("/api/v1/applications", json=form)).json()
    lines = app["goods"]
    assert [g["total_value"] for g in lines] == ["30.02", "10.00", None]
    assert app["total_quantity"] == "5.5"
    assert app["total_value"] == "40.02"
    rate = Decimal("0.1401")  # CNY from 2026-07-01 in reference_data/exchange_rates.csv
    assert Decimal(lines[0]["total_value_usd"]) == (Decimal("30.02") * rate).quantize(Decimal("0.01"))
    assert Decimal(app["total_value_usd"]) == sum(Decimal(g["total_value_usd"]) for g in lines[:2])
    assert app["commodity_name"] == "干玉米酒糟(DDGS)" and app["unit"] == "070"
    issued = date.fromisoformat(app["exchange_rate_date"])
    until = date.fromisoformat(app["valid_until"])
    assert (
        issued
        < until
        <= date(max(app["year"], issued.year + (issued.month == 12 and issued.day > 25)), 12, 31)
    )


async def test_create_with_idempotency_key_replays(enterprise_a_direct):
    key = str(uuid.uuid4())
    first = await enterprise_a_direct.post(
        "/api/v1/applications", json={"remarks": "once"}, headers={"Idempotency-Key": key}
    )
    again = await enterprise_a_direct.post(
        "/api/v1/applications", json={"remarks": "once"}, headers={"Idempotency-Key": key}
    )
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
    assert again.headers.get("idempotent-replayed") == "true"
    other = await enterprise_a_direct.post(
        "/api/v1/applications", json={"remarks": "different"}, headers={"Idempotency-Key": key}
    )
    assert other.status_code == 422
