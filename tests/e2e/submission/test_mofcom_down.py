"""Issue 13, item 9: while MOFCOM is down the application says what is happening (its status
reason and a history entry: "MOFCOM unreachable, attempt N, next at ..."), and goes on by
itself once MOFCOM answers again. The MOFCOM sandbox is killed, not faulted: a real outage."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.integration.submission.support import create_draft, get_app, wait_for_ekey, wait_status
from tests.support import dev, eventually

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)


async def _bind_own_ekey(client: httpx.AsyncClient) -> None:
    """Bind enterprise A's e-key again, so MOFCOM holds its certificate (the demo's binding may
    be older than the sandbox process)."""
    bindings = (await client.get("/api/v1/ekey-bindings")).json()["items"]
    assert bindings, "the demo binds enterprise A's e-key at ./dev up"
    serial = str(bindings[0]["ekey_serial"])
    await wait_for_ekey(client, serial, timeout=60)
    resp = await client.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
    assert resp.status_code == 201, resp.text


async def _delayed_entries(client: httpx.AsyncClient, app_id: str) -> list[dict[str, Any]]:
    resp = await client.get(f"/api/v1/applications/{app_id}/history")
    if resp.status_code == 404:
        return []
    return [e for e in resp.json()["items"] if e["event"]["type"] == "SubmissionDelayed"]


async def test_mofcom_down_is_said_in_status_reason_and_history_then_it_goes_on(
    enterprise_a: httpx.AsyncClient,
) -> None:
    await _bind_own_ekey(enterprise_a)
    app_id = await create_draft(enterprise_a)
    dev("kill", "sandbox-mofcom")
    try:
        resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
        assert resp.status_code == 202, resp.text

        async def says_why() -> dict[str, Any] | None:
            app = await get_app(enterprise_a, app_id)
            assert app["status"] == "submitting", app  # waited out, never back to draft
            reason = app["status_reason"] or ""
            return app if reason.startswith("mofcom_unreachable: MOFCOM unreachable, attempt ") else None

        app = await eventually(
            says_why, timeout=60, interval=0.5, what="the status reason says MOFCOM is down"
        )
        assert ", next at " in app["status_reason"]
        entries = await eventually(
            lambda: _delayed_entries(enterprise_a, app_id), timeout=30, what="a SubmissionDelayed entry"
        )
        first = entries[0]
        assert first["details"]["attempt"] == 1 and first["details"]["next_attempt_at"]
        assert first["reason"].startswith("mofcom_unreachable: MOFCOM unreachable, attempt 1, next at ")
        assert first["status"] is None and first["current_status"] == "submitting"
    finally:
        dev("start", "sandbox-mofcom")
    done = await wait_status(
        enterprise_a,
        app_id,
        "pending_first_review",
        "pending_second_review",
        "approved",
        "license_issued",
        timeout=90,
    )
    assert done["form_no"] and done["status_reason"] in (None, "初审通过", "复审通过"), done
    # Throttled: one entry for the first failed attempt, then at most one per five attempts
    # (or a new kind of error), never one per attempt.
    entries = await _delayed_entries(enterprise_a, app_id)
    attempts = [e["details"]["attempt"] for e in entries]
    assert attempts[0] == 1 and len(attempts) <= 2 + max(attempts) // 5, attempts
