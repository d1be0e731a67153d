"""Issue 13, item 9 (the operations list) and issue 14, item 6 (parked work), through the entry
point: while MOFCOM fails, the sends show in /api/v1/ops/submissions with their attempts and
error; operations resend one (recorded, sent again, accepted once MOFCOM is back) and close
another with a reason (recorded, shown in the list and in the application's history, back to
draft). Operations only: 403 for an enterprise key, 401 without one. MOFCOM fails this test's
two applications only (scopes): it runs in the parallel phase."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from tests.integration.submission.support import create_drafts, get_app, wait_for_ekey
from tests.support import MofcomScopes, api_client, eventually

OPS = "/api/v1/ops/submissions"


@pytest.fixture
async def ops(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


async def _entry(ops: httpx.AsyncClient, app_id: str, **params: str) -> dict[str, Any] | None:
    r = await ops.get(OPS, params=params)
    assert r.status_code == 200, r.text
    found = [s for s in r.json()["items"] if s["application_id"] == app_id]
    return found[0] if found else None


async def test_operations_see_resend_and_close_mofcom_sends_that_fail(
    ops: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    mofcom_scopes: MofcomScopes,
    stack: dict[str, str],
) -> None:
    await wait_for_ekey(enterprise_a, stack["AIL_DEMO_EKEY_SERIALS"].split(",")[0], timeout=60)
    resend_id, close_id = await create_drafts(enterprise_a, 2)
    failing = {"faults": {"error_rate": 1.0}}
    resend_scope = await mofcom_scopes.add(failing, application_id=resend_id)
    await mofcom_scopes.add(failing, application_id=close_id)
    r = await enterprise_a.post("/api/v1/applications/submit", json={"ids": [resend_id, close_id]})
    assert r.status_code == 202, r.text

    async def retrying(app_id: str) -> dict[str, Any] | None:
        e = await _entry(ops, app_id, state="retrying")
        return e if e and e["attempts"] >= 1 and e["last_error"] else None

    for app_id in (resend_id, close_id):
        e = await eventually(
            functools.partial(retrying, app_id), timeout=90, interval=0.5, what="a retrying send"
        )
        assert e is not None and e["form_no"] is None and e["next_attempt_at"] and e["actions"] == []
        req = e["last_request"]
        assert req["size_bytes"] > 100 and req["commodity_code"] and req["ekey_serial"]
        assert "signature" not in req and "certificate_pem" not in req
        # The console's search: the sends of one serial number, this one only.
        r = await ops.get(OPS, params={"serial_no": req["serial_no"]})
        assert r.status_code == 200 and [s["application_id"] for s in r.json()["items"]] == [app_id], r.text

    # Close one, with a reason: recorded, listed, and the application back to draft with it.
    closing = await retrying(close_id)
    assert closing is not None
    why = "applicant asked by phone to withdraw this one"
    r = await ops.post(f"{OPS}/{closing['submission_id']}/close", json={"reason": why})
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "closed"
    closed = await _entry(ops, close_id, state="closed")
    assert closed is not None
    [action] = closed["actions"]
    assert (action["action"], action["reason"]) == ("close", why) and action["actor"] and action["at"]
    again = await ops.post(f"{OPS}/{closing['submission_id']}/close", json={"reason": why})
    assert again.status_code == 409, again.text

    async def in_history() -> bool:
        h = await enterprise_a.get(f"/api/v1/applications/{close_id}/history")
        return h.status_code == 200 and any(why in (e.get("reason") or "") for e in h.json()["items"])

    await eventually(
        in_history, timeout=60, interval=0.5, what="the close reason in the application's history"
    )

    # The application service applies the same event through its own consumer, a moment later
    # at most (the status service's history may show it first).
    async def back_to_draft() -> dict[str, Any] | None:
        app = await get_app(enterprise_a, close_id)
        return app if app["status"] == "draft" else None

    app = await eventually(back_to_draft, timeout=60, interval=0.5, what="the application back to draft")
    assert app["status_reason"].startswith("closed_by_operations")

    # Resend the other once MOFCOM is back: recorded, sent again now, accepted.
    # Resend while MOFCOM still fails: were the fault lifted first, the sender's own retry could
    # be accepted before the resend reaches it (CI saw the 409 "nothing to resend"). The resend is
    # recorded and sent at once (another failed attempt); then MOFCOM comes back.
    resending = await retrying(resend_id)
    assert resending is not None
    r = await ops.post(f"{OPS}/{resending['submission_id']}/resend", json={"reason": "MOFCOM is back"})
    assert r.status_code == 200, r.text
    assert [a["action"] for a in r.json()["actions"]] == ["resend"]

    resent_at = datetime.fromisoformat(r.json()["actions"][0]["at"])

    async def tried_again() -> bool:
        # The resend starts a fresh round (attempts from 0): its first attempt has failed.
        e = await _entry(ops, resend_id)
        return (
            e is not None
            and e["attempts"] >= 1
            and datetime.fromisoformat(e["updated_at"]) > resent_at
            and bool(e["last_error"])
        )

    await eventually(tried_again, timeout=60, interval=0.5, what="the resent send attempted again")
    await mofcom_scopes.change(resend_scope, {"faults": {"error_rate": 0.0}})

    async def accepted() -> bool:
        return (await get_app(enterprise_a, resend_id))["status"] not in ("submitting", "draft")

    await eventually(accepted, timeout=60, interval=0.5, what="the resent application accepted by MOFCOM")
    assert await _entry(ops, resend_id) is None  # answered: no longer in the queue


async def test_the_send_queue_is_for_operations_only(enterprise_a: httpx.AsyncClient, entry_url: str) -> None:
    some = "00000000-0000-0000-0000-000000000000"
    for method, path, body in (
        ("GET", OPS, None),
        ("POST", f"{OPS}/{some}/resend", {"reason": "try it"}),
        ("POST", f"{OPS}/{some}/close", {"reason": "try it"}),
    ):
        r = await enterprise_a.request(method, path, json=body)
        assert r.status_code == 403, (path, r.text)
        async with httpx.AsyncClient(base_url=entry_url, timeout=10.0) as anonymous:
            r = await anonymous.request(method, path, json=body)
        assert r.status_code == 401, (path, r.text)


async def test_bad_input_is_a_4xx_naming_the_field(ops: httpx.AsyncClient) -> None:
    r = await ops.get(OPS, params={"state": "bogus"})
    assert r.status_code == 422 and "state" in r.text
    some = "00000000-0000-0000-0000-000000000000"
    r = await ops.post(f"{OPS}/{some}/close", json={"reason": ""})
    assert r.status_code == 422 and "reason" in r.text
    r = await ops.post(f"{OPS}/{some}/resend", json={"reason": "nothing there"})
    assert r.status_code == 404, r.text
