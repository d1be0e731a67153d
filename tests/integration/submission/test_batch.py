"""Batch submit: 1,000 ids mixing valid and invalid ones get the right result each, and each
valid application is submitted exactly once."""

from __future__ import annotations

import random
import uuid

import asyncpg
import httpx

from tests.integration.submission.support import create_drafts, wait_all_past_submitting


async def test_batch_of_1000_mixed_ids(
    enterprise_a: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    db: asyncpg.Pool,
) -> None:
    valid = await create_drafts(enterprise_a, 250)
    incomplete = await create_drafts(enterprise_a, 100, contract=False)  # fails submission validation
    in_flight = await create_drafts(enterprise_a, 50)
    first = await enterprise_a.post("/api/v1/applications/submit", json={"ids": in_flight})
    assert first.status_code == 202 and first.json()["submitted"] == 50, first.text
    others = await create_drafts(enterprise_b, 100, contract=False)
    unknown = [str(uuid.uuid4()) for _ in range(400)]
    malformed = [f"not-an-id-{i}" for i in range(50)]
    repeated = random.sample(valid, 50)
    ids = valid + incomplete + in_flight + others + unknown + malformed + repeated
    random.shuffle(ids)
    assert len(ids) == 1000

    key = f"batch-{uuid.uuid4()}"
    resp = await enterprise_a.post(
        "/api/v1/applications/submit", json={"ids": ids}, headers={"Idempotency-Key": key}, timeout=120
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    results = body["results"]
    assert [r["id"] for r in results] == ids
    assert body["submitted"] == 300 and body["refused"] == 700
    kinds = {
        **dict.fromkeys(valid, ("submitted", None)),
        **dict.fromkeys(in_flight, ("refused", "conflict")),
        **dict.fromkeys(others + unknown, ("refused", "not_found")),
        **dict.fromkeys(malformed + incomplete, ("refused", "invalid_input")),
    }
    for r in results:
        expected, code = kinds[r["id"]]
        assert r["result"] == expected, r
        if code:
            assert r["error"]["code"] == code, r
        else:
            assert r["status"] == "submitting", r
    in_flight_messages = [r["error"]["message"] for r in results if r["id"] in set(in_flight)]
    assert all("cannot be submitted" in m for m in in_flight_messages), in_flight_messages[:3]
    contract_problems = [r["error"]["details"] for r in results if r["id"] in set(incomplete)]
    assert all(any(d["field"].startswith("contract") for d in ds) for ds in contract_problems)

    replay = await enterprise_a.post(
        "/api/v1/applications/submit", json={"ids": ids}, headers={"Idempotency-Key": key}, timeout=120
    )
    assert replay.json() == body
    again = await enterprise_a.post("/api/v1/applications/submit", json={"ids": valid[:20]})
    assert all(r["result"] == "refused" for r in again.json()["results"])

    final = await wait_all_past_submitting(db, valid + in_flight, timeout=180)
    assert set(final.values()) <= {
        "pending_first_review",
        "pending_second_review",
        "approved",
        "license_issued",
    }
    rows = await db.fetch(
        "SELECT application_id, count(*) AS n, count(form_no) AS forms FROM submission.submissions"
        " WHERE application_id = ANY($1::uuid[]) GROUP BY application_id",
        [uuid.UUID(i) for i in valid + in_flight],
    )
    assert len(rows) == 300 and all(r["n"] == 1 and r["forms"] == 1 for r in rows)
    untouched = await db.fetch(
        "SELECT status FROM application.applications WHERE id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in others],
    )
    assert {r["status"] for r in untouched} == {"draft"}
