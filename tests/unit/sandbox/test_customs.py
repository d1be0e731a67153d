"""The Customs sandbox's own behaviour (in process, ASGI transport)."""

from __future__ import annotations

import httpx

from ail_sandbox.customs import create_app


async def test_script_then_mode_then_feed_paging_and_redelivery() -> None:
    app = create_app()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        await c.put("/control/licenses/L1", json={"mode": "failed", "script": ["unavailable", "stored"]})
        answers = [await c.post("/licenses", json={"license_no": "L1"}) for _ in range(3)]
        assert [a.status_code for a in answers] == [503, 200, 200]
        assert [answers[1].json()["result"], answers[2].json()["result"]] == ["stored", "failed"]
        d1 = (
            await c.post("/control/declarations", json={"license_no": "L1", "lines": [{"quantity": "1.5"}]})
        ).json()
        d2 = (
            await c.post("/control/declarations", json={"license_no": "L1", "lines": [{"quantity": "2"}]})
        ).json()
        assert d1["declaration_no"] != d2["declaration_no"] and d1["quantity"] == "1.5"
        copy = (await c.post("/control/feed/redeliver", json={"message_id": d1["message_id"]})).json()
        assert (copy["message_id"], copy["position"]) == (d1["message_id"], 3)
        page = (await c.get("/feed", params={"after": 1, "limit": 1})).json()
        assert [m["position"] for m in page["messages"]] == [2] and page["last_position"] == 3
        inv = await c.post(f"/control/declarations/{d2['declaration_no']}/invalidate", json={})
        assert inv.json()["kind"] == "invalidated" and "lines" not in inv.json()
        bad = await c.post("/control/declarations", json={"license_no": "L1", "lines": [{"quantity": "0"}]})
        assert bad.status_code == 422
