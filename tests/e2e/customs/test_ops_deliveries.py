"""Issue 14, item 6 (parked work, Customs side), through the entry point: deliveries to Customs
that fail show in /api/v1/ops/customs-deliveries with their rounds and error; operations close
them with a reason (recorded, listed, in the license's and the application's history) and resend
one (recorded, stored once Customs takes it). Operations only: 403 for an enterprise key, 401
without one."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.integration.customs.support import licensed, set_mode, wait_status
from tests.support import api_client, eventually

OPS = "/api/v1/ops/customs-deliveries"


@pytest.fixture
async def ops(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


async def _entry(ops: httpx.AsyncClient, license_no: str, **params: str) -> dict[str, Any] | None:
    r = await ops.get(OPS, params={"page_size": "200", **params})
    assert r.status_code == 200, r.text
    found = [d for d in r.json()["items"] if d["license_no"] == license_no]
    return found[0] if found else None


async def _closed(ops: httpx.AsyncClient, license_no: str, why: str) -> dict[str, Any] | None:
    """Close it; a 409 (an automatic round is under way) is tried again once that round ends."""
    r = await ops.post(f"{OPS}/{license_no}/close", json={"reason": why})
    if r.status_code == 409:
        return None
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_operations_see_close_and_resend_failed_deliveries(
    ops: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
) -> None:
    one = await licensed(kafka_producer, customs_sandbox, mode="unavailable")
    other = await licensed(kafka_producer, customs_sandbox, mode="unavailable")
    for lic in (one, other):
        await wait_status(enterprise_a, lic.license_no, "send_failed")
        e = await _entry(ops, lic.license_no)
        assert e is not None and e["state"] in ("retrying", "queued"), e
        assert e["attempts"] >= 1 and e["customs_status"] == "send_failed" and e["last_error"]
        assert e["last_request"]["size_bytes"] > 50 and e["last_request"]["form_no"] == lic.form_no

    why = "Customs confirmed it on paper; do not send again"
    closed = await eventually(
        functools.partial(_closed, ops, one.license_no, why), timeout=60, interval=0.5, what="closed"
    )
    assert closed is not None and closed["state"] == "closed" and closed["next_attempt_at"] is None
    listed = await _entry(ops, one.license_no, state="closed")
    assert listed is not None
    [action] = listed["actions"]
    assert (action["action"], action["reason"]) == ("close", why) and action["actor"] and action["at"]
    r = await enterprise_a.get("/api/v1/history", params={"license_no": one.license_no})
    assert r.status_code == 200 and why in r.text

    async def in_application_history() -> bool:
        h = await enterprise_a.get(f"/api/v1/applications/{one.application_id}/history")
        return h.status_code == 200 and why in h.text

    await eventually(in_application_history, timeout=60, interval=0.5, what="the reason in the history")

    # Resend the other once Customs takes it: recorded, then stored.
    await eventually(
        functools.partial(_closed, ops, other.license_no, "holding it while Customs is down"),
        timeout=60,
        interval=0.5,
        what="closed",
    )
    await set_mode(customs_sandbox, other.license_no, "stored")
    r = await ops.post(f"{OPS}/{other.license_no}/resend", json={"reason": "Customs is back"})
    assert r.status_code == 200, r.text
    assert [a["action"] for a in r.json()["actions"]] == ["close", "resend"]
    await wait_status(enterprise_a, other.license_no, "stored")
    assert await _entry(ops, other.license_no) is None  # stored: no longer in the queue


async def test_the_delivery_queue_is_for_operations_only(
    enterprise_a: httpx.AsyncClient, entry_url: str, ops: httpx.AsyncClient
) -> None:
    for method, path, body in (
        ("GET", OPS, None),
        ("POST", f"{OPS}/NO-SUCH/resend", {"reason": "try it"}),
        ("POST", f"{OPS}/NO-SUCH/close", {"reason": "try it"}),
    ):
        r = await enterprise_a.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        async with httpx.AsyncClient(base_url=entry_url, timeout=10.0) as anonymous:
            r = await anonymous.request(method, path, json=body)
        assert r.status_code == 401, (path, r.text)
    r = await ops.get(OPS, params={"state": "bogus"})
    assert r.status_code == 422 and "state" in r.text
    r = await ops.post(f"{OPS}/NO-SUCH/close", json={"reason": "x"})
    assert r.status_code == 422 and "reason" in r.text
    r = await ops.post(f"{OPS}/NO-SUCH/resend", json={"reason": "nothing there"})
    assert r.status_code == 404, r.text
