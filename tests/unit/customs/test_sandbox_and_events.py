"""The Customs sandbox's own behaviour (in process, ASGI transport) and the LicenseIssued 1.1
minor version."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx

from ail_sandbox.customs import create_app
from ail_shared.events import LicenseIssued, decode_envelope, parse_payload


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


def test_license_issued_1_0_payload_reads_with_no_tolerance() -> None:
    payload = {
        "application_id": "a1",
        "enterprise_code": "1100776367555",
        "form_no": "f",
        "license_no": "26AANW0001",
        "issued_at": "2026-01-02T00:00:00+00:00",
        "valid_until": "2026-07-01",
        "commodity_code": "2601111000",
        "quantity": "1000.5",
        "one_batch_one_license": False,
    }
    raw = {
        "event_id": "2f1c5d0e-8d8a-4b55-9a43-7e8d4f2f0a11",
        "event_type": "LicenseIssued",
        "schema_version": "1.0",
        "occurred_at": "2026-01-02T00:00:00+00:00",
        "aggregate_id": "a1",
        "tenant": "1100776367555",
        "payload": payload,
    }
    event = parse_payload(decode_envelope(json.dumps(raw).encode()))
    assert isinstance(event, LicenseIssued)
    assert event.overflow_tolerance_pct is None and event.quantity == Decimal("1000.5")
    assert LicenseIssued.schema_version() == "1.1"
