"""Issue 10 item 1, through the application service: a submission whose ApplicationSubmitted event
is larger than the broker accepts never leaves the application stuck in ``submitting``. Either it
is refused when it is made (422 that says what to shorten), or, if such an event reached the
outbox, the relay sets it aside and the application goes back to draft with the reason; either
way the application can be corrected and submitted again."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg
import httpx

from ail_shared.events import ApplicationSubmitted, envelope_for
from tests.integration.application.support import complete_contract, complete_form
from tests.integration.submission.support import PAST_SUBMITTING
from tests.support import eventually

HUGE_REMARKS = "备注" * 300_000  # ~1.8 MB of UTF-8: under the 2 MiB body limit, over every event limit


async def _complete_draft(client: httpx.AsyncClient, enterprise_code: str) -> dict[str, Any]:
    created = await client.post("/api/v1/applications", json=complete_form())
    assert created.status_code == 201, created.text
    app: dict[str, Any] = created.json()
    r = await client.put(
        f"/api/v1/applications/{app['id']}/contract", json=complete_contract(enterprise_code)
    )
    assert r.status_code == 200, r.text
    return app


async def _application(client: httpx.AsyncClient, app_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/applications/{app_id}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def _resubmit_after_correction(client: httpx.AsyncClient, app_id: str) -> None:
    r = await client.patch(f"/api/v1/applications/{app_id}", json={"remarks": "已缩短"})
    assert r.status_code == 200, r.text
    r = await client.post(f"/api/v1/applications/{app_id}/submit")
    assert r.status_code == 202, r.text

    async def moved_on() -> dict[str, Any] | None:
        app = await _application(client, app_id)
        return app if app["status"] != "submitting" else None

    # The corrected submission goes through the whole pipeline (MOFCOM accepts it).
    app = await eventually(moved_on, timeout=60, what="the corrected submission to leave submitting")
    assert app["status"] in PAST_SUBMITTING and app["form_no"], app


async def test_an_oversized_event_in_the_outbox_returns_the_application_to_draft_with_the_reason(
    enterprise_a: httpx.AsyncClient, demo: dict[str, Any], db: asyncpg.Pool
) -> None:
    code = demo["enterprises"][0]["code"]
    app = await _complete_draft(enterprise_a, code)
    # What a submit wrote before events were size-checked at write time (or with a limit that
    # was lowered since): the application in `submitting` and an ApplicationSubmitted of ~2 MB.
    submission_id = str(uuid.uuid4())
    event = ApplicationSubmitted(
        application_id=app["id"],
        serial_no=app["serial_no"],
        enterprise_code=code,
        submission_id=submission_id,
        submitted_by="test",
        snapshot={"id": app["id"], "remarks": "x" * (2 * 1024 * 1024)},
    )
    env = envelope_for(event, aggregate_id=app["id"], tenant=code)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE application.applications SET status = 'submitting', submission_id = $2 WHERE id = $1",
            uuid.UUID(app["id"]),
            uuid.UUID(submission_id),
        )
        await conn.execute(
            "INSERT INTO application.outbox (event_id, event_type, topic, message_key, headers, value)"
            " VALUES ($1, $2, 'ail.application', $3, $4, $5)",
            env.event_id,
            env.event_type,
            app["id"],
            {"event_type": env.event_type, "event_id": str(env.event_id)},
            env.to_bytes(),
        )

    async def back_to_draft() -> dict[str, Any] | None:
        current = await _application(enterprise_a, app["id"])
        return current if current["status"] == "draft" else None

    current = await eventually(back_to_draft, timeout=60, what="the application to leave submitting")
    reason = current["status_reason"]
    assert reason.startswith("submission_too_large: "), reason
    assert "remarks" in reason and "submit again" in reason
    row = await db.fetchrow(
        "SELECT published_at, set_aside_at, set_aside_reason FROM application.outbox WHERE event_id = $1",
        env.event_id,
    )
    assert row["published_at"] is None and row["set_aside_at"] is not None
    assert row["set_aside_reason"].startswith("message_too_large: ")

    await _resubmit_after_correction(enterprise_a, app["id"])


async def test_an_oversized_form_is_refused_with_what_to_shorten_and_can_be_corrected(
    enterprise_a: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    app = await _complete_draft(enterprise_a, demo["enterprises"][0]["code"])
    saved = await enterprise_a.patch(f"/api/v1/applications/{app['id']}", json={"remarks": HUGE_REMARKS})
    if saved.status_code == 422:
        # Input limits refuse it already when it is saved, naming the field.
        assert "remarks" in saved.text
    else:
        assert saved.status_code == 200, saved.text
        r = await enterprise_a.post(f"/api/v1/applications/{app['id']}/submit")
        assert r.status_code == 422, r.text
        error = r.json()["error"]
        assert error["code"] == "event_too_large"
        assert "shorten" in error["message"] and "remarks" in error["message"]
    assert (await _application(enterprise_a, app["id"]))["status"] == "draft"
    await _resubmit_after_correction(enterprise_a, app["id"])
