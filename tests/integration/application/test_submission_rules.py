"""Submission-time validation through the submit endpoint, contracts and the iron-ore contract."""

from __future__ import annotations

import json

from tests.integration.application.support import complete_contract, complete_form, iron_ore_contract


def fields(r) -> dict[str, str]:
    return {d["field"]: d["reason"] for d in r.json()["error"]["details"]}


def codes(r) -> dict[str, str]:
    return {d["field"]: d["code"] for d in r.json()["error"]["details"]}


async def test_validation_reports_all_errors_at_once_and_keeps_the_draft(enterprise_a_direct, make_draft):
    app = await make_draft(
        goods=[{"spec": "x", "unit": "XYZ", "quantity": "-1"}], customs_ports=["4200", "9999", "2200"]
    )
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 422
    got = fields(r)
    for path in (
        "handler_name",
        "import_user_code",
        "trade_country",
        "origin_country",
        "expected_arrival_date",
        "commodity_code",
        "customs_ports",
        "customs_ports.1",
        "goods.0.unit",
        "goods.0.quantity",
        "goods.0.unit_price",
        "contract",
    ):
        assert path in got, (path, got)
    assert "PUT /api/v1/applications/" in got["contract"]
    after = (await enterprise_a_direct.get(f"/api/v1/applications/{app['id']}")).json()
    assert after["status"] == "draft" and after["customs_ports"] == ["4200", "9999", "2200"]


async def test_code_table_values_are_enforced(enterprise_a_direct, make_draft):
    app = await make_draft(
        complete=True,
        trade_mode="99",
        trade_country="000",
        forex_source="77",
        commodity_usage="00",
        currency="XXX",
        customs_ports=["1234"],
        commodity_code="8471300000",
        goods=[{"spec": "x", "unit": "KGS", "quantity": "1", "unit_price": "1"}],
    )
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 422
    got = fields(r)
    for path, table in [
        ("trade_mode", "trade_modes"),
        ("trade_country", "countries"),
        ("forex_source", "forex_sources"),
        ("commodity_usage", "commodity_usages"),
        ("currency", "currencies"),
        ("customs_ports.0", "customs_ports"),
        ("goods.0.unit", "units"),
    ]:
        assert f"code table '{table}'" in got[path]
    assert "不在" in got["commodity_code"] and "自动进口许可管理货物目录" in got["commodity_code"]
    assert codes(r)["commodity_code"] == "commodity_not_on_catalogue"
    assert codes(r)["trade_mode"] == "not_in_code_table"


async def test_iron_ore_without_its_contract_is_refused_clearly(enterprise_a_direct, make_draft):
    app = await make_draft(complete=True, commodity_code="2601110000")
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 422
    got = fields(r)
    assert list(got) == ["iron_ore_contract"]
    assert "iron ore (HS heading 2601" in got["iron_ore_contract"]
    assert "iron-ore-contract" in got["iron_ore_contract"]


async def test_iron_ore_contract_only_for_2601_and_amounts_computed(enterprise_a_direct, make_draft):
    ddgs = await make_draft(commodity_code="2303300010")
    r = await enterprise_a_direct.put(
        f"/api/v1/applications/{ddgs['id']}/iron-ore-contract", json=iron_ore_contract()
    )
    assert r.status_code == 422 and "HS heading 2601" in fields(r)["commodity_code"]
    ore = await make_draft(complete=True, commodity_code="2601200000")
    assert (
        await enterprise_a_direct.get(f"/api/v1/applications/{ore['id']}/iron-ore-contract")
    ).status_code == 404
    body = iron_ore_contract()
    body["lines"][0]["amount_usd"] = "1"  # computed: whatever the client says is replaced
    r = await enterprise_a_direct.put(f"/api/v1/applications/{ore['id']}/iron-ore-contract", json=body)
    assert r.status_code == 200, r.text
    saved = (await enterprise_a_direct.get(f"/api/v1/applications/{ore['id']}/iron-ore-contract")).json()
    assert saved["lines"][0]["amount_usd"] == "158250.00"
    assert saved["importer_code"] == "1100776367555" and saved["importer_name"]
    # Changing the commodity away from iron ore leaves a contract that must go before submission.
    await enterprise_a_direct.patch(
        f"/api/v1/applications/{ore['id']}", json={"commodity_code": "2303300010"}
    )
    got = fields(await enterprise_a_direct.post(f"/api/v1/applications/{ore['id']}/submit"))
    assert list(got) == ["iron_ore_contract"] and "only for HS heading 2601" in got["iron_ore_contract"]
    assert (
        await enterprise_a_direct.delete(f"/api/v1/applications/{ore['id']}/iron-ore-contract")
    ).status_code == 204
    assert (await enterprise_a_direct.post(f"/api/v1/applications/{ore['id']}/submit")).status_code == 202
    assert (
        await enterprise_a_direct.delete(f"/api/v1/applications/{ore['id']}/iron-ore-contract")
    ).status_code == 409


async def test_contract_totals_and_dates_must_be_coherent(enterprise_a_direct, make_draft):
    app = await make_draft(complete=True)
    contract = complete_contract(total_quantity="100", total_amount="1000", expiry_date="2000-01-01")
    assert (
        await enterprise_a_direct.put(f"/api/v1/applications/{app['id']}/contract", json=contract)
    ).status_code == 200
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    got = fields(r)
    assert "超过对外成交合同总数量 100" in got["contract.foreign_contract.total_quantity"]
    assert "超过对外成交合同总金额 1000" in got["contract.foreign_contract.total_amount"]
    assert codes(r)["contract.foreign_contract.total_quantity"] == "contract_quantity_exceeded"
    assert codes(r)["contract.foreign_contract.total_amount"] == "contract_amount_exceeded"
    expiry = [
        d for d in r.json()["error"]["details"] if d["field"] == "contract.foreign_contract.expiry_date"
    ]
    assert [d["reason"] for d in expiry][0] == "must not be before the signing date"
    assert [d["code"] for d in expiry] == ["date_order", "contract_expired"]  # and it expired in 2000


async def test_contract_is_prefilled_from_the_last_entry(enterprise_a_direct, make_draft):
    first = await make_draft(complete=True)
    saved = (await enterprise_a_direct.get(f"/api/v1/applications/{first['id']}/contract")).json()
    assert saved["saved"] is True
    second = await make_draft()
    pre = (await enterprise_a_direct.get(f"/api/v1/applications/{second['id']}/contract")).json()
    assert pre["saved"] is False and pre["prefilled"] is True
    assert pre["applicant"] == saved["applicant"]
    assert pre["foreign_contract"]["contract_no"] is None


async def test_complete_application_submits_with_full_snapshot(enterprise_a_direct, make_draft, db):
    app = await make_draft(complete=True)
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert r.status_code == 202, r.text
    assert r.json()["status"] == "submitting"
    row = await db.fetchrow(
        "SELECT value FROM application.outbox WHERE message_key = $1 AND event_type = 'ApplicationSubmitted'",
        app["id"],
    )
    snapshot = json.loads(bytes(row["value"]))["payload"]["snapshot"]
    for key in (
        "commodity_code",
        "commodity_name",
        "unit",
        "total_quantity",
        "total_value_usd",
        "trade_mode",
        "trade_country",
        "issuing_agency",
        "one_batch_one_license",
        "year",
        "enterprise_code",
        "serial_no",
        "goods",
        "contract",
        "valid_until",
    ):
        assert key in snapshot, key
    assert snapshot["total_value_usd"] == app["total_value_usd"]
    assert snapshot["contract"]["foreign_contract"]["total_quantity"] == "5000"
    again = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert again.status_code == 409
    assert (
        await enterprise_a_direct.patch(f"/api/v1/applications/{app['id']}", json={"remarks": "x"})
    ).status_code == 409


async def test_paper_only_commodity_cannot_be_electronic(enterprise_a_direct, make_draft):
    app = await make_draft(complete=True, commodity_code="8003000010", electronic_license=True)
    r = await enterprise_a_direct.post(f"/api/v1/applications/{app['id']}/submit")
    assert "不能申领电子许可证" in fields(r)["electronic_license"]
    assert codes(r)["electronic_license"] == "electronic_license_not_allowed"
    _ = complete_form
