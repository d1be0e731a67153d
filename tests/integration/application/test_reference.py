"""Code tables, pre-check and key agricultural products filings."""

from __future__ import annotations

import pytest

TABLES = [
    "commodities",
    "trade_modes",
    "countries",
    "forex_sources",
    "customs_ports",
    "commodity_usages",
    "currencies",
    "units",
    "issuing_agencies",
]


@pytest.mark.parametrize("table", TABLES)
async def test_every_table_answers(enterprise_a_direct, table):
    rows = (await enterprise_a_direct.get(f"/api/v1/reference/{table}")).json()["items"]
    assert rows and all({"code", "name_zh", "letters"} <= set(r) for r in rows)


async def test_lookup_by_code_letters_and_chinese_name(enterprise_a_direct):
    by_code = (await enterprise_a_direct.get("/api/v1/reference/commodities", params={"q": "2601"})).json()[
        "items"
    ]
    assert {r["code"] for r in by_code} == {"2601110000", "2601120000", "2601200000"}
    by_letters = (
        await enterprise_a_direct.get("/api/v1/reference/commodities", params={"q": "gymjz"})
    ).json()["items"]
    assert {r["code"] for r in by_letters} == {"2303300010"}
    by_name = (await enterprise_a_direct.get("/api/v1/reference/countries", params={"q": "澳大利亚"})).json()[
        "items"
    ]
    assert [r["code"] for r in by_name] == ["601"]
    ddgs = by_letters[0]
    assert ddgs["tolerance_pct"] == "5" and ddgs["effective_from"].endswith("-01-01") and ddgs["year"] >= 2026
    crude = (await enterprise_a_direct.get("/api/v1/reference/commodities", params={"q": "原油"})).json()[
        "items"
    ]
    assert {r["tolerance_pct"] for r in crude} == {"3"}
    assert (await enterprise_a_direct.get("/api/v1/reference/planets")).status_code == 404


async def test_precheck_answers_each_commodity(enterprise_a_direct):
    r = await enterprise_a_direct.post(
        "/api/v1/prechecks",
        json={
            "year": 2026,
            "one_batch_one_license": True,
            "commodities": [
                {"code": "2601110000"},
                {"code": "2303300010"},
                {"code": "8003000010"},
                {"code": "8471300000"},
            ],
            "customs_ports": ["4200", "2200"],
        },
    )
    assert r.status_code == 200, r.text
    ans = {x["commodity_code"]: x for x in r.json()["answers"]}
    assert ans["2601110000"]["iron_ore"] and ans["2601110000"]["electronic_allowed"]
    assert ans["2303300010"]["key_agri"] and not ans["2303300010"]["iron_ore"]
    assert ans["8003000010"]["on_catalogue"] and not ans["8003000010"]["electronic_allowed"]
    assert not ans["8471300000"]["on_catalogue"]
    too_many = {"year": 2026, "commodities": [{"code": "2601110000"}] * 5, "customs_ports": ["4200"] * 3}
    r = await enterprise_a_direct.post("/api/v1/prechecks", json=too_many)
    assert {d["field"] for d in r.json()["error"]["details"]} == {"commodities", "customs_ports"}


async def test_key_agri_filing(enterprise_a_direct, enterprise_b_direct):
    r = await enterprise_a_direct.post(
        "/api/v1/key-agri-filings", json={"enterprise_name": "北京示例进出口有限公司"}
    )
    assert r.status_code == 422
    assert len(r.json()["error"]["details"]) == 6
    body = {
        "enterprise_name": "北京示例进出口有限公司",
        "customs_registration_no": "1105960123",
        "business_registration_no": "110000012345678",
        "registered_capital_wan_yuan": "5000",
        "business_address": "北京市朝阳区示例路1号",
        "contact": "王五",
        "phone": "010-87654321",
    }
    r = await enterprise_a_direct.post(
        "/api/v1/key-agri-filings", json=body, headers={"Idempotency-Key": f"ka-{id(body)}-{body['phone']}"}
    )
    assert r.status_code == 201 and r.json()["enterprise_code"] == "1100776367555"
    filing = r.json()
    assert filing["id"] in {
        x["id"] for x in (await enterprise_a_direct.get("/api/v1/key-agri-filings")).json()["items"]
    }
    assert filing["id"] not in {
        x["id"] for x in (await enterprise_b_direct.get("/api/v1/key-agri-filings")).json()["items"]
    }
