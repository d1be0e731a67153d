"""MOFCOM outages and a signer killed mid-batch: every application still goes through, exactly
once."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict

import asyncpg
import httpx
import pytest

from tests.integration.submission.support import (
    Signer,
    create_drafts,
    wait_all_past_submitting,
    wait_for_ekey,
)
from tests.support import eventually, read_topic

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)


async def _exactly_once_at_mofcom(
    sandbox: httpx.AsyncClient, db: asyncpg.Pool, enterprise: httpx.AsyncClient, ids: list[str]
) -> dict[str, int]:
    subs = await db.fetch(
        "SELECT application_id, submission_id, form_no, state FROM submission.submissions"
        " WHERE application_id = ANY($1::uuid[])",
        [uuid.UUID(i) for i in ids],
    )
    assert len(subs) == len(ids) and all(s["state"] == "accepted" for s in subs)
    received = (await sandbox.get("/control/received")).json()["submissions"]
    for s in subs:
        counts = received[str(s["submission_id"])]
        assert counts["created"] == 1, (s, counts)
        at_mofcom = (await sandbox.get(f"/control/applications/{s['application_id']}")).json()["submissions"]
        assert [m["form_no"] for m in at_mofcom] == [s["form_no"]]
    forms = [s["form_no"] for s in subs]
    assert len(set(forms)) == len(forms)
    return {str(s["submission_id"]): received[str(s["submission_id"])]["received"] for s in subs}


async def test_mofcom_timeouts_and_500s_every_application_accepted_once(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    db: asyncpg.Pool,
) -> None:
    await mofcom_sandbox.post(
        "/control",
        json={
            "faults": {
                "error_rate": 0.35,
                "timeout_rate": 0.35,
                "hang_seconds": 2.5,
                "process_before_timeout": True,
            },
            "seed": 4,
        },
    )
    ids = await create_drafts(enterprise_a, 30)
    resp = await enterprise_a.post("/api/v1/applications/submit", json={"ids": ids})
    assert resp.json()["submitted"] == 30, resp.text

    async def some_retried() -> bool:
        n = await db.fetchval(
            "SELECT count(*) FROM submission.submissions WHERE application_id = ANY($1::uuid[])"
            " AND last_error IS NOT NULL",
            [uuid.UUID(i) for i in ids],
        )
        return bool(n)

    await eventually(some_retried, timeout=60, what="a submission that MOFCOM failed")
    await wait_all_past_submitting(db, ids, timeout=180)
    received = await _exactly_once_at_mofcom(mofcom_sandbox, db, enterprise_a, ids)
    assert sum(received.values()) > len(ids), "the faults made the adapter send again"
    errors = await db.fetchval(
        "SELECT count(*) FROM submission.submissions WHERE application_id = ANY($1::uuid[]) AND attempts > 1",
        [uuid.UUID(i) for i in ids],
    )
    assert errors > 0


async def test_signer_killed_mid_batch_every_application_signed_and_submitted_once(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    db: asyncpg.Pool,
    signer: Signer,
    kafka_bootstrap: str,
) -> None:
    ids = await create_drafts(enterprise_a, 120)
    app_uuids = [uuid.UUID(i) for i in ids]
    resp = await enterprise_a.post("/api/v1/applications/submit", json={"ids": ids})
    assert resp.json()["submitted"] == 120, resp.text

    async def some_signed() -> bool:
        n = await db.fetchval(
            "SELECT count(*) FROM submission.submissions WHERE application_id = ANY($1::uuid[])"
            " AND signature IS NOT NULL",
            app_uuids,
        )
        return n > 0

    await eventually(some_signed, timeout=60, interval=0.05, what="first signatures")
    signer.kill9()
    signed_at_kill = await db.fetchval(
        "SELECT count(*) FROM submission.submissions"
        " WHERE application_id = ANY($1::uuid[]) AND signature IS NOT NULL",
        app_uuids,
    )
    signer.start()
    await wait_for_ekey(enterprise_a, enterprise_a_ekey)
    final = await wait_all_past_submitting(db, ids, timeout=180)
    assert all(s != "draft" for s in final.values())
    await _exactly_once_at_mofcom(mofcom_sandbox, db, enterprise_a, ids)

    sub_ids = {
        str(r["submission_id"])
        for r in await db.fetch(
            "SELECT submission_id FROM submission.submissions WHERE application_id = ANY($1::uuid[])",
            app_uuids,
        )
    }
    records = await read_topic(kafka_bootstrap, "ail.signer", timeout=5.0, idle=0.5)
    answers: dict[str, set[str]] = defaultdict(set)
    for rec in records:
        try:
            env = json.loads(rec.value)
        except ValueError:
            continue  # a poison message of the dead-letter tests: not an envelope, dead-lettered
        if env["event_type"] == "ApplicationSigned" and env["payload"]["submission_id"] in sub_ids:
            answers[env["payload"]["submission_id"]].add(env["event_id"])
    assert set(answers) == sub_ids, "every submission was signed"
    assert all(len(v) == 1 for v in answers.values()), "one signature (event id) per submission"
    print(f"signed before SIGKILL: {signed_at_kill}/120")
