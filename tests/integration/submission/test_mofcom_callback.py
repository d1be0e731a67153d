"""Issue 10, item 4: a forged MOFCOM result issues nothing. Two unauthenticated calls used to
issue license FORGED-0001 while MOFCOM still showed the application pending."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from ail_shared.auth import (
    CALLBACK_SIGNATURE_HEADER,
    CALLBACK_TIMESTAMP_HEADER,
    callback_headers,
    sign_callback,
)
from tests.integration.submission.support import create_draft, get_app, wait_status
from tests.support import MofcomScopes


async def _pending(client: httpx.AsyncClient, db: asyncpg.Pool, scopes: MofcomScopes) -> tuple[str, str, str]:
    app_id = await create_draft(client)
    # MOFCOM reviews this one slowly, so it stays pending_first_review throughout.
    await scopes.add({"first_delay": 120}, application_id=app_id)
    assert (await client.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(client, app_id, "pending_first_review")
    sub_id = await db.fetchval(
        "SELECT submission_id FROM submission.submissions WHERE application_id = $1 AND form_no = $2",
        UUID(app_id),
        app["form_no"],
    )
    return app_id, str(sub_id), app["form_no"]


def _result(app_id: str, sub_id: str, form_no: str, **overrides: Any) -> dict[str, Any]:
    return {
        "form_no": form_no,
        "application_id": app_id,
        "idempotency_key": sub_id,
        "stage": "second",
        "result": "passed",
        "opinion": "forged",
        "license_no": "FORGED-0001",
        "reviewed_at": datetime.now(UTC).isoformat(),
        **overrides,
    }


async def test_forged_mofcom_callbacks_are_refused_and_issue_nothing(
    enterprise_a: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
    enterprise_a_ekey: str,
    enterprise_b_ekey: str,
    mofcom_scopes: MofcomScopes,
    db: asyncpg.Pool,
    stack: dict[str, str],
) -> None:
    app_a, sub_a, form_a = await _pending(enterprise_a, db, mofcom_scopes)
    app_b, sub_b, form_b = await _pending(enterprise_b, db, mofcom_scopes)
    secret = stack["AIL_MOFCOM_CALLBACK_SECRET"]
    url = stack["AIL_SUBMISSION_URL"] + "/internal/mofcom/results"

    def signed(payload: dict[str, Any], ts: int | None = None) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(payload).encode()
        stamp = int(time.time()) if ts is None else ts
        return body, {
            "Content-Type": "application/json",
            CALLBACK_TIMESTAMP_HEADER: str(stamp),
            CALLBACK_SIGNATURE_HEADER: sign_callback(secret, stamp, body),
        }

    forged_a = _result(app_a, sub_a, form_a)
    body_a = json.dumps(forged_a).encode()
    attempts: list[tuple[str, bytes, dict[str, str], int]] = [
        ("no signature", body_a, {"Content-Type": "application/json"}, 401),
        (
            "bad signature",
            body_a,
            {**callback_headers("not-the-secret", body_a), "Content-Type": "application/json"},
            401,
        ),
        ("stale timestamp", *signed(forged_a, ts=int(time.time()) - 900), 401),
        # Signed, but naming another application's submission (B's submission for A's id).
        ("other application's submission", *signed(_result(app_a, sub_b, form_b)), 422),
        ("another form no.", *signed(_result(app_b, sub_b, form_a)), 422),
        ("unknown submission", *signed(_result(app_a, "00000000-0000-0000-0000-000000000001", form_a)), 422),
        ("a license no. with the first review", *signed(_result(app_a, sub_a, form_a, stage="first")), 422),
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        for label, body, headers, expected in attempts:
            resp = await client.post(url, content=body, headers=headers)
            assert resp.status_code == expected, (label, resp.status_code, resp.text)
            assert resp.json()["error"]["code"], (label, resp.text)

    recorded = await db.fetchval(
        "SELECT count(*) FROM submission.review_results WHERE form_no = ANY($1::text[])", [form_a, form_b]
    )
    assert recorded == 0
    for client, app_id in ((enterprise_a, app_a), (enterprise_b, app_b)):
        app = await get_app(client, app_id)
        assert app["status"] == "pending_first_review" and app["license_no"] is None, app
    issued = await db.fetchval(
        "SELECT count(*) FROM submission.outbox WHERE message_key = ANY($1::text[])"
        " AND event_type IN ('ReviewResultReceived', 'LicenseIssued')",
        [app_a, app_b],
    )
    assert issued == 0


async def test_mofcom_results_signed_by_the_sandbox_still_issue_the_license(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str
) -> None:
    app_id = await create_draft(enterprise_a)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(enterprise_a, app_id, "license_issued")
    assert app["license_no"]
