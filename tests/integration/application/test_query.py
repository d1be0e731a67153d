"""Application query: every filter, paging and the total count."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from tests.integration.application.support import set_status, token, unique_code


async def test_every_filter_and_paging(enterprise_a_direct, make_draft, db):
    name = f"查询用户{token()}"
    code = unique_code()
    apps = [await make_draft(import_user_name=name, import_user_code=code) for _ in range(5)]
    other_code = unique_code()
    odd = await make_draft(import_user_name=name, import_user_code=other_code, trade_mode="13")
    form_no = f"26{uuid.uuid4().int % 10**19:019d}"
    await set_status(
        db,
        apps[0]["id"],
        "pending_first_review",
        form_no=form_no,
        applied_at=datetime(2026, 3, 15, 2, 0, tzinfo=UTC),  # 10:00 in China, 15 March
        issuing_agency="AC",
    )
    await set_status(
        db, apps[1]["id"], "approved", applied_at=datetime(2026, 4, 1, 17, 0, tzinfo=UTC)
    )  # 2 April in China
    await db.execute("UPDATE application.applications SET year = 2025 WHERE id = $1", apps[2]["id"])

    async def ids(**params) -> set[str]:
        r = await enterprise_a_direct.get(
            "/api/v1/applications", params={"import_user_name": name, "page_size": 50, **params}
        )
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["total"] == len(body["items"])
        return {x["id"] for x in body["items"]}

    everything = {x["id"] for x in apps} | {odd["id"]}
    assert await ids() == everything
    assert await ids(status="pending_first_review") == {apps[0]["id"]}
    assert await ids(status="draft") == everything - {apps[0]["id"], apps[1]["id"]}
    assert await ids(serial_no=apps[3]["serial_no"]) == {apps[3]["id"]}
    assert await ids(form_no=form_no) == {apps[0]["id"]}
    assert await ids(issuing_agency="AC") == {apps[0]["id"]}
    assert await ids(import_user_code=other_code) == {odd["id"]}
    assert await ids(trade_mode="13") == {odd["id"]}
    assert await ids(year=2025) == {apps[2]["id"]}
    assert await ids(applied_from="2026-03-15", applied_to="2026-03-15") == {apps[0]["id"]}
    assert await ids(applied_from="2026-03-16") == {apps[1]["id"]}
    assert await ids(applied_to="2026-04-01") == {apps[0]["id"]}
    assert await ids(status="approved", applied_from="2026-04-02", applied_to="2026-04-02") == {apps[1]["id"]}

    # Paging: 6 rows, 4 a page; newest first; the total is the count of all pages.
    r1 = (
        await enterprise_a_direct.get(
            "/api/v1/applications", params={"import_user_name": name, "page_size": 4}
        )
    ).json()
    r2 = (
        await enterprise_a_direct.get(
            "/api/v1/applications", params={"import_user_name": name, "page_size": 4, "page": 2}
        )
    ).json()
    assert r1["total"] == r2["total"] == 6
    assert len(r1["items"]) == 4 and len(r2["items"]) == 2
    assert {x["id"] for x in r1["items"] + r2["items"]} == everything
    assert r1["items"][0]["id"] == odd["id"]
    row = next(x for x in r1["items"] + r2["items"] if x["id"] == apps[1]["id"])
    assert row["status"] == "approved" and row["serial_no"] == apps[1]["serial_no"]
    default = (await enterprise_a_direct.get("/api/v1/applications")).json()
    assert default["page_size"] == 10 and len(default["items"]) <= 10


async def test_query_input_errors_name_the_parameter(enterprise_a_direct):
    r = await enterprise_a_direct.get("/api/v1/applications", params={"page": 0, "applied_from": "yesterday"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"query.page", "query.applied_from"}
