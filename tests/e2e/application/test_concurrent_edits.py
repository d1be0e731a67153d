"""Optimistic concurrency on an application through the nginx entry point (issue 12 item 3):
two operators read the same version, one writes, the other's write is refused with 412 and
nothing of the first is lost."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import api_client

CONTRACT = {
    "applicant": {"name": "北京示例进出口有限公司", "contact": "李四"},
    "foreign_contract": {"contract_no": "C-ETAG-1"},
}


async def test_a_stale_if_match_is_refused_and_the_first_write_kept(
    entry_url: str, demo: dict[str, Any]
) -> None:
    key = demo["enterprises"][0]["api_key"]
    async with api_client(entry_url, key) as first, api_client(entry_url, key) as second:
        created = await first.post("/api/v1/applications", json={"handler_name": "王五", "remarks": "初稿"})
        assert created.status_code == 201, created.text
        path = f"/api/v1/applications/{created.json()['id']}"

        read_1, read_2 = await first.get(path), await second.get(path)
        tag = read_1.headers["ETag"]
        assert tag == read_2.headers["ETag"] == f'"{read_1.json()["version"]}"'

        won = await first.patch(path, json={"remarks": "第一位的修改"}, headers={"If-Match": tag})
        assert won.status_code == 200, won.text
        assert won.headers["ETag"] != tag and won.headers["ETag"] == f'"{won.json()["version"]}"'

        lost = await second.patch(path, json={"remarks": "第二位的修改"}, headers={"If-Match": tag})
        assert lost.status_code == 412, lost.text
        error = lost.json()["error"]
        assert error["code"] == "precondition_failed" and "read it again" in error["message"]
        now = (await second.get(path)).json()
        assert now["remarks"] == "第一位的修改" and now["handler_name"] == "王五"

        # The contract is part of the same application version: a stale tag is refused there too.
        contract = f"{path}/contract"
        fresh = (await second.get(contract)).headers["ETag"]
        assert fresh == won.headers["ETag"]
        stale = await second.put(contract, json=CONTRACT, headers={"If-Match": tag})
        assert stale.status_code == 412, stale.text
        saved = await second.put(contract, json=CONTRACT, headers={"If-Match": fresh})
        assert saved.status_code == 200 and saved.headers["ETag"] != fresh, saved.text
        assert (await first.get(path)).json()["remarks"] == "第一位的修改"  # still there

        # Without If-Match the write applies (the manual's clients and the CLI send none).
        assert (await second.patch(path, json={"remarks": "无条件"})).status_code == 200
        bad = await second.patch(path, json={"remarks": "x"}, headers={"If-Match": 'W/"1"'})
        assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "If-Match"
        await first.delete(path)


async def test_if_match_star_means_any_version(enterprise_a: httpx.AsyncClient) -> None:
    created = await enterprise_a.post("/api/v1/applications", json={"handler_name": "赵六"})
    path = f"/api/v1/applications/{created.json()['id']}"
    r = await enterprise_a.patch(path, json={"remarks": "任意"}, headers={"If-Match": "*"})
    assert r.status_code == 200 and r.json()["remarks"] == "任意"
    await enterprise_a.delete(path)
