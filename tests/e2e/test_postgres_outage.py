"""Issue 10 item 2: PostgreSQL stopped for 60 s while a batch of applications goes through the
pipeline. Nothing is dead-lettered, every event is applied once the database is back (each
application reaches its final status in the application and the status services, with its
whole history), liveness holds during the outage, and the stack (pools, relays, consumers,
workers) works again afterwards."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from ail_shared.topics import all_topic_names
from tests.integration.submission.support import create_drafts
from tests.support import dev, eventually

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

N = 40
OUTAGE_SECONDS = 60
SERVICES = ("application", "submission", "status", "customs", "signer", "stats")
DEAD_LETTER_TOPICS = [t for t in all_topic_names() if t.endswith(".dlt")]


async def _dead_letter_ends(bootstrap: str) -> dict[str, int]:
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, isolation_level="read_uncommitted"
    )
    await consumer.start()
    try:
        tps = [TopicPartition(t, 0) for t in DEAD_LETTER_TOPICS]
        ends = await consumer.end_offsets(tps)
        return {tp.topic: off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def _liveness(stack: dict[str, str]) -> dict[str, tuple[int, dict[str, Any]]]:
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    async with httpx.AsyncClient(timeout=10) as http:
        for svc in SERVICES:
            url = stack["AIL_CUSTOMS_SERVICE_URL" if svc == "customs" else f"AIL_{svc.upper()}_URL"]
            r = await http.get(f"{url}/healthz")
            out[svc] = (
                r.status_code,
                r.json() if r.headers.get("content-type", "").startswith("application/json") else {},
            )
    return out


async def _final(client: httpx.AsyncClient, ids: list[str]) -> dict[str, dict[str, Any]] | None:
    apps: dict[str, dict[str, Any]] = {}
    for app_id in ids:
        r = await client.get(f"/api/v1/applications/{app_id}")
        if r.status_code != 200:
            return None
        app = r.json()
        if app["status"] != "license_issued":
            return None
        view = await client.get(f"/api/v1/applications/{app_id}/history")
        if view.status_code != 200 or view.json()["status"] != "license_issued":
            return None
        apps[app_id] = {**app, "history": view.json()}
    return apps


@pytest.mark.timeout(900)
async def test_a_60s_postgres_outage_under_load_loses_nothing_and_dead_letters_nothing(
    enterprise_a: httpx.AsyncClient, stack: dict[str, str], kafka_bootstrap: str
) -> None:
    ids = await create_drafts(enterprise_a, N)
    before = await _dead_letter_ends(kafka_bootstrap)

    r = await enterprise_a.post("/api/v1/applications/submit", json={"ids": ids})
    assert r.status_code == 202, r.text
    assert r.json()["submitted"] == N, r.text
    # Let the pipeline get busy (relays publishing, consumers applying, signer signing), then
    # take the database away in the middle of it.
    await asyncio.sleep(1.0)
    dev("kill", "postgres")
    try:
        await asyncio.sleep(OUTAGE_SECONDS / 2)
        during = await _liveness(stack)
        await asyncio.sleep(OUTAGE_SECONDS / 2)
    finally:
        dev("start", "postgres")

    # Liveness held: nothing would have been restarted by an orchestrator during the outage;
    # each service said it was waiting for the database (and which consumer groups waited).
    assert {svc: code for svc, (code, _) in during.items() if code != 200} == {}
    for svc, (_, body) in during.items():
        assert body["database"]["ok"] is False, (svc, body)
        if svc != "stats":  # the statistics do not need the database (auth only)
            assert body["status"] == "waiting_for_database", (svc, body)
        for group, c in (body.get("consumers") or {}).items():
            if c["waiting_for_database_since"]:
                assert c["last_error"], (svc, group, c)

    apps = await eventually(
        lambda: _final(enterprise_a, ids), timeout=240, interval=2.0, what="every application license_issued"
    )
    for app_id, app in apps.items():
        types = [e["event"]["type"] for e in app["history"]["items"]]
        for expected in ("ApplicationSubmitted", "SubmissionAccepted", "LicenseIssued"):
            assert types.count(expected) == 1, f"{app_id}: {expected} not once in its history {types}"
        assert types.count("ReviewResultReceived") == 2, f"{app_id}: both reviews in {types}"
        assert app["form_no"] and app["license_no"]

    after = await _dead_letter_ends(kafka_bootstrap)
    new = {t: after[t] - before.get(t, 0) for t in after if after[t] != before.get(t, 0)}
    assert new == {}, f"records were dead-lettered during the outage: {new}"

    # The rest of the stack is back too: ready, and a new application goes all the way.
    async with httpx.AsyncClient(timeout=10) as http:
        for svc in SERVICES:
            url = stack["AIL_CUSTOMS_SERVICE_URL" if svc == "customs" else f"AIL_{svc.upper()}_URL"]
            ready = await http.get(f"{url}/readyz" if svc != "stats" else f"{url}/healthz")
            assert ready.status_code == 200, (svc, ready.text)
    [fresh] = await create_drafts(enterprise_a, 1)
    assert (await enterprise_a.post(f"/api/v1/applications/{fresh}/submit")).status_code == 202
    assert await eventually(lambda: _final(enterprise_a, [fresh]), timeout=90, what="a new application after")
