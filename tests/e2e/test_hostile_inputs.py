"""Inputs that answered 500 (issue 10, item 7) and inputs without limits (item 8): each is now a
4xx in the project's error body naming the field, through the entry point as a client sees it.

Bodies are sent as raw JSON text, because a JSON encoder would refuse to write a lone surrogate
and would write NUL as the escape ``\\u0000`` (which is what an attacker sends)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support import api_client

JSON = {"content-type": "application/json"}


def fields(r: httpx.Response) -> dict[str, str]:
    body = r.json()
    assert set(body) == {"error"} and {"code", "message", "details"} <= set(body["error"]), body
    return {d["field"]: d["reason"] for d in body["error"]["details"]}


def refused(r: httpx.Response, field: str, status: int = 422) -> str:
    assert r.status_code == status, (r.status_code, r.text[:500])
    got = fields(r)
    assert field in got, got
    return got[field]


async def post_raw(client: httpx.AsyncClient, path: str, raw: str) -> httpx.Response:
    return await client.post(path, content=raw.encode("utf-8"), headers=JSON)


# -- item 7: NUL bytes and lone surrogates --------------------------------------------------------
@pytest.mark.parametrize(
    ("path", "raw", "field"),
    [
        ("/api/v1/applications", '{"remarks": "a\\u0000b"}', "remarks"),
        ("/api/v1/applications", '{"goods": [{"spec": "Fe\\u0000 62%"}]}', "goods.0.spec"),
        (
            "/api/v1/key-agri-filings",
            '{"enterprise_name": "x\\u0000", "customs_registration_no": "1", "business_registration_no": "1",'
            ' "registered_capital_wan_yuan": "1", "business_address": "x", "contact": "x", "phone": "1"}',
            "enterprise_name",
        ),
        (
            "/api/v1/subscriptions",
            '{"url": "http://127.0.0.1:9/hook", "all_applications": true, "description": "\\u0000"}',
            "description",
        ),
        ("/api/v1/ekey-bindings", '{"ekey_serial": "ab\\u0000cd"}', "ekey_serial"),
    ],
    ids=["application", "goods-line", "key-agri", "subscription", "ekey-binding"],
)
async def test_a_nul_in_any_services_body_text_is_named(
    enterprise_a: httpx.AsyncClient, path: str, raw: str, field: str
) -> None:
    assert "NUL" in refused(await post_raw(enterprise_a, path, raw), field)


async def test_a_nul_in_contract_text_is_named(enterprise_a: httpx.AsyncClient) -> None:
    draft = (await enterprise_a.post("/api/v1/applications", json={})).json()
    r = await enterprise_a.put(
        f"/api/v1/applications/{draft['id']}/contract",
        content=b'{"applicant": {"name": "a\\u0000b", "address": "\\ud800"}}',
        headers=JSON,
    )
    got = fields(r)
    assert r.status_code == 422 and {"applicant.name", "applicant.address"} <= set(got), got


async def test_a_lone_surrogate_in_body_text_is_named(enterprise_a: httpx.AsyncClient) -> None:
    r = await post_raw(
        enterprise_a, "/api/v1/applications", '{"remarks": "ok \\ud800 then", "handler_name": "张三"}'
    )
    assert "surrogate" in refused(r, "remarks")


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/api/v1/applications", {"serial_no": "NA\x00"}, "query.serial_no"),
        ("/api/v1/applications", {"import_user_name": "北京\x00"}, "query.import_user_name"),
        ("/api/v1/customs/status", {"license_no": "\x00"}, "query.license_no"),
        ("/api/v1/customs/clearances", {"license_no": "18AA\x00"}, "query.license_no"),
        ("/api/v1/history", {"license_no": "18AA\x00"}, "query.license_no"),
        ("/api/v1/stats/monthly", {"month": "2026-11", "trade_mode": "1\x000"}, "query.trade_mode"),
        ("/api/v1/reference/countries", {"q": "\x00"}, "query.q"),
    ],
    ids=[
        "applications",
        "applications-name",
        "customs-status",
        "clearances",
        "history",
        "stats",
        "reference",
    ],
)
async def test_a_nul_in_a_query_parameter_is_named(
    enterprise_a: httpx.AsyncClient, path: str, params: dict[str, str], field: str
) -> None:
    assert "NUL" in refused(await enterprise_a.get(path, params=params), field)


async def test_a_lone_surrogate_in_a_query_parameter_is_named(enterprise_a: httpx.AsyncClient) -> None:
    # %ED%A0%80 is U+D800 written as UTF-8 bytes: not valid UTF-8, so not text.
    r = await enterprise_a.get("/api/v1/applications?serial_no=%ED%A0%80")
    assert "UTF-8" in refused(r, "query.serial_no")
    r = await enterprise_a.get("/api/v1/customs/status?serial_no=a%FFb")
    assert "UTF-8" in refused(r, "query.serial_no")


async def test_a_nul_in_a_path_parameter_is_named(stack: dict[str, str], demo: dict[str, Any]) -> None:
    """Straight to the services: the entry point itself already refuses %00 in a path."""
    key = demo["enterprises"][0]["api_key"]
    async with api_client(stack["AIL_STATUS_URL"], key) as status:
        r = await status.get("/api/v1/applications/a%00b/status")
        assert "NUL" in refused(r, "path.application_id")
    async with api_client(stack["AIL_CUSTOMS_SERVICE_URL"], key) as customs:
        r = await customs.get("/api/v1/licenses/18AA%00/availability", params={"quantity": "1"})
        assert "NUL" in refused(r, "path.license_no")


async def test_the_entry_point_answers_a_nul_in_the_path_in_our_error_body(
    enterprise_a: httpx.AsyncClient,
) -> None:
    r = await enterprise_a.get("/api/v1/licenses/18AA%00")
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text[:300]


# -- item 7: numbers, dates, years, cursors ------------------------------------------------------
async def test_a_40_digit_quantity_is_named(enterprise_a: httpx.AsyncClient) -> None:
    r = await enterprise_a.post("/api/v1/applications", json={"goods": [{"quantity": "1" + "0" * 39}]})
    assert "digits before the decimal point" in refused(r, "goods.0.quantity")


async def test_a_1e308_price_is_named(enterprise_a: httpx.AsyncClient) -> None:
    r = await post_raw(
        enterprise_a, "/api/v1/applications", '{"goods": [{"quantity": "1", "unit_price": 1e308}]}'
    )
    refused(r, "goods.0.unit_price")
    r = await post_raw(enterprise_a, "/api/v1/applications", '{"goods": [{"unit_price": "1e308"}]}')
    refused(r, "goods.0.unit_price")


async def test_a_1e308_quantity_in_a_query_is_named(enterprise_a: httpx.AsyncClient) -> None:
    r = await enterprise_a.get("/api/v1/licenses/18AA0001/availability", params={"quantity": "1e308"})
    refused(r, "query.quantity")


async def test_history_from_or_to_year_9999_is_named(enterprise_a: httpx.AsyncClient) -> None:
    r = await enterprise_a.get(
        "/api/v1/history", params={"license_no": "18AA0001", "from": "9999-12-31", "to": "9999-12-31"}
    )
    got = fields(r)
    assert r.status_code == 422 and {"from", "to"} <= set(got), got
    r = await enterprise_a.get(
        "/api/v1/history", params={"license_no": "18AA0001", "to": "9999-12-31T23:00:00-10:00"}
    )
    refused(r, "to")


async def test_a_year_past_the_integer_range_is_named(enterprise_a: httpx.AsyncClient) -> None:
    refused(await enterprise_a.post("/api/v1/applications", json={"year": 2**31}), "year")
    refused(await enterprise_a.get("/api/v1/applications", params={"year": str(2**31)}), "query.year")
    refused(await enterprise_a.get("/api/v1/applications", params={"page": str(2**63)}), "query.page")


async def test_a_huge_last_event_id_is_refused_before_the_stream_opens(
    enterprise_a: httpx.AsyncClient,
) -> None:
    for bad in ("9" * 40, str(2**63), "1" * 5000):
        r = await enterprise_a.get("/api/v1/events/stream", headers={"Last-Event-ID": bad})
        refused(r, "Last-Event-ID")
    refused(await enterprise_a.get("/api/v1/events/stream", params={"after": str(2**63)}), "query.after")


# -- item 8: limits -------------------------------------------------------------------------------
async def test_remarks_over_the_limit_are_named(enterprise_a: httpx.AsyncClient) -> None:
    ok = await enterprise_a.post("/api/v1/applications", json={"remarks": "备" * 500})
    assert ok.status_code == 201, ok.text[:300]
    refused(await enterprise_a.post("/api/v1/applications", json={"remarks": "备" * 501}), "remarks")
    # 1.5 MB: under the body limit, so the field is named (the 1.8 MB event of item 1 was this)
    refused(await enterprise_a.post("/api/v1/applications", json={"remarks": "x" * 1_500_000}), "remarks")


async def test_a_15_mb_body_is_refused_with_413_in_our_error_body(enterprise_a: httpx.AsyncClient) -> None:
    r = await enterprise_a.post("/api/v1/applications", json={"remarks": "x" * 15_000_000})
    assert r.status_code == 413, r.text[:300]
    assert r.json()["error"]["code"] == "payload_too_large"


async def test_10000_goods_lines_are_refused(enterprise_a: httpx.AsyncClient) -> None:
    line = {"spec": "Fe 62%", "unit": "035", "quantity": "1", "unit_price": "1"}
    ok = await enterprise_a.post("/api/v1/applications", json={"goods": [line] * 20})
    assert ok.status_code == 201, ok.text[:300]
    refused(await enterprise_a.post("/api/v1/applications", json={"goods": [line] * 21}), "goods")
    refused(await enterprise_a.post("/api/v1/applications", json={"goods": [line] * 10_000}), "goods")


async def test_a_quantity_of_1e_minus_400_is_refused(enterprise_a: httpx.AsyncClient) -> None:
    r = await enterprise_a.post("/api/v1/applications", json={"goods": [{"quantity": "1e-400"}]})
    assert "after the decimal point" in refused(r, "goods.0.quantity")


@pytest.mark.parametrize("year", [-1, 0, 1999, 9999, 2030])
async def test_years_outside_the_license_window_are_refused(
    enterprise_a: httpx.AsyncClient, year: int
) -> None:
    refused(await enterprise_a.post("/api/v1/applications", json={"year": year}), "year")


async def test_the_limits_are_in_the_openapi_document(stack: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=stack["AIL_APPLICATION_URL"]) as c:
        doc = (await c.get("/openapi.json")).json()
    schemas = doc["components"]["schemas"]
    form = schemas["DraftCreate"]["properties"]
    assert form["remarks"]["anyOf"][0]["maxLength"] == 500
    assert form["goods"]["anyOf"][0]["maxItems"] == 20
    assert form["year"]["anyOf"][0]["maximum"] == 2100
    line = schemas["GoodsLineInput"]["properties"]
    assert line["quantity"]["anyOf"][0]["maximum"] == pytest.approx(999999999999.9999)
    assert schemas["IronOreContract"]["properties"]["lines"]["maxItems"] == 20


async def test_attachments_per_application_are_bounded_and_file_names_are_text(
    enterprise_a: httpx.AsyncClient,
) -> None:
    draft = await enterprise_a.post(
        "/api/v1/applications", json={"commodity_code": "2601110000", "electronic_license": True}
    )
    assert draft.status_code == 201 and draft.json()["electronic_license"], draft.text[:300]
    base = f"/api/v1/applications/{draft.json()['id']}/attachments"
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
    # Written by hand: httpx would percent-encode the NUL in the file name.
    multipart = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a\x00.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n--b--\r\n"
    )
    r = await enterprise_a.post(
        base, content=multipart, headers={"content-type": "multipart/form-data; boundary=b"}
    )
    assert "NUL" in refused(r, "file.filename")
    for i in range(20):
        r = await enterprise_a.post(base, files={"file": (f"scan-{i}.png", png, "image/png")})
        assert r.status_code == 201, r.text[:300]
    r = await enterprise_a.post(base, files={"file": ("scan-20.png", png, "image/png")})
    assert "delete one first" in refused(r, "file")
