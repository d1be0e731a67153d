"""Issue 10, item 3: short outages never send in-flight work back to draft. A signer or Kafka
outage longer than the 15 s lifetime of the e-key announcements used to bounce applications to
draft with ekey_not_present; now they wait, visibly, and go on by themselves."""

from __future__ import annotations

import asyncio

import asyncpg
import httpx
import pytest

from tests.integration.submission.support import (
    create_drafts,
    get_app,
    statuses,
    wait_all_past_submitting,
    wait_for_ekey,
)
from tests.support import dev, eventually

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

HEARTBEAT_LIFETIME = 15.0


async def _bound_serial(client: httpx.AsyncClient) -> str:
    bindings = (await client.get("/api/v1/ekey-bindings")).json()["items"]
    assert bindings, "the demo binds enterprise A's e-key at ./dev up"
    serial = str(bindings[0]["ekey_serial"])
    await wait_for_ekey(client, serial, timeout=60)
    return serial


async def _submit(client: httpx.AsyncClient, ids: list[str]) -> None:
    resp = await client.post("/api/v1/applications/submit", json={"ids": ids})
    assert resp.status_code == 202 and resp.json()["submitted"] == len(ids), resp.text


async def test_signer_down_longer_than_the_heartbeat_lifetime_waits_visibly_then_goes_on(
    enterprise_a: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    serial = await _bound_serial(enterprise_a)
    ids = await create_drafts(enterprise_a, 10)
    dev("kill", "signer")
    try:
        await asyncio.sleep(HEARTBEAT_LIFETIME + 5)  # the last announcement has lapsed
        await _submit(enterprise_a, ids)
        reason = f"waiting_for_ekey: waiting for e-key {serial} on a signer host"

        async def all_waiting() -> bool:
            apps = [await get_app(enterprise_a, i) for i in ids]
            drafts = [(a["id"], a["status_reason"]) for a in apps if a["status"] == "draft"]
            assert not drafts, f"sent back to draft while the signer was down: {drafts}"
            return all(
                a["status"] == "submitting" and (a["status_reason"] or "").startswith(reason) for a in apps
            )

        await eventually(all_waiting, timeout=60, interval=0.5, what=f"every application shows {reason!r}")
        # Still waiting a while later: the wait is not the old fail-fast, merely delayed.
        await asyncio.sleep(5)
        assert await all_waiting()
        waiting = await db.fetchval(
            "SELECT count(*) FROM submission.submissions s JOIN submission.applications a"
            " ON a.submission_id = s.submission_id WHERE s.state = 'waiting_ekey'"
            " AND a.application_id::text = ANY($1::text[])",
            ids,
        )
        assert waiting == len(ids)
    finally:
        dev("start", "signer")
    final = await wait_all_past_submitting(db, ids, timeout=180)
    assert "draft" not in final.values(), final
    for i in ids[:3]:
        assert (await get_app(enterprise_a, i))["status_reason"] != reason


async def test_kafka_restarted_for_30s_while_submitting_sends_nothing_back_to_draft(
    enterprise_a: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    await _bound_serial(enterprise_a)
    ids = await create_drafts(enterprise_a, 60)
    before, during, after = ids[:20], ids[20:40], ids[40:]
    await _submit(enterprise_a, before)
    dev("kill", "kafka")
    try:
        # Submissions go on while the broker is down (they wait in the application's outbox).
        for chunk in (during[:7], during[7:14], during[14:]):
            await _submit(enterprise_a, chunk)
            await asyncio.sleep(10)
    finally:
        dev("start", "kafka", timeout=240)
    await _submit(enterprise_a, after)

    async def no_draft_and_done() -> dict[str, str] | None:
        st = await statuses(db, ids)
        drafts = [i for i in ids if st.get(i) == "draft"]
        assert not drafts, f"{len(drafts)} applications back to draft after the Kafka outage"
        return st if all(st.get(i) not in (None, "submitting") for i in ids) else None

    final = await eventually(
        no_draft_and_done, timeout=300, interval=1.0, what="60 applications past submitting"
    )
    await wait_all_past_submitting(db, ids, timeout=60)
    assert "draft" not in final.values()
