"""Issue 10, item 3, the fail-fast side: a signer host's explicit "this key is absent" still
sends the application back to draft at once, whether it came before the submission or while
the submission was waiting for the key. The heartbeats are a test host's, written to Kafka the
way a signer host writes them."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from ail_shared import topics
from ail_shared.events import EkeyHeartbeat, HeldKey, envelope_for, utcnow
from tests.integration.submission.support import create_draft, get_app, wait_status
from tests.support import eventually

ENTERPRISE_B = "3100123456789"


async def beat(bootstrap: str, host: str, serials: list[str], ttl: float = 15.0) -> None:
    event = EkeyHeartbeat(
        host_id=host,
        keys=[HeldKey(serial=s, label="test", subject=f"O={ENTERPRISE_B}") for s in serials],
        sent_at=utcnow(),
        ttl_seconds=ttl,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        env = envelope_for(event, aggregate_id=host, tenant="")
        await producer.send_and_wait(topics.SIGNER_HEARTBEATS, env.to_bytes(), key=host.encode())
    finally:
        await producer.stop()


async def presence(db: asyncpg.Pool, host: str, serial: str, *, absent: bool) -> Any:
    async def check() -> Any:
        row = await db.fetchrow(
            "SELECT absent_at FROM submission.ekey_presence WHERE host_id = $1 AND serial = $2", host, serial
        )
        return row is not None and (row["absent_at"] is not None) == absent

    return await eventually(check, what=f"{host} {'absent' if absent else 'present'} {serial}")


async def _bound_to(db: asyncpg.Pool, serial: str) -> None:
    await db.execute(
        "UPDATE submission.ekey_bindings SET ekey_serial = $2 WHERE enterprise_code = $1",
        ENTERPRISE_B,
        serial,
    )


async def _fails_fast(client: httpx.AsyncClient, db: asyncpg.Pool, app_id: str) -> None:
    app = await wait_status(client, app_id, "draft", timeout=30)
    assert app["status_reason"].startswith("ekey_not_present")
    row = await db.fetchrow(
        "SELECT state, reason, last_error FROM submission.submissions WHERE application_id = $1", UUID(app_id)
    )
    assert row["state"] == "signing_failed" and row["reason"] == "ekey_not_present"
    assert "reported e-key" in row["last_error"], row["last_error"]


async def test_key_the_host_said_is_absent_fails_fast(
    enterprise_b: httpx.AsyncClient, enterprise_b_ekey: str, db: asyncpg.Pool, kafka_bootstrap: str
) -> None:
    host, serial = f"test-host-{uuid4().hex[:8]}", f"pulled-{uuid4().hex[:8]}"
    await beat(kafka_bootstrap, host, [serial])
    await presence(db, host, serial, absent=False)
    await beat(kafka_bootstrap, host, [])  # the key was pulled out
    await presence(db, host, serial, absent=True)
    app_id = await create_draft(enterprise_b)
    await _bound_to(db, serial)
    try:
        assert (await enterprise_b.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
        await _fails_fast(enterprise_b, db, app_id)
    finally:
        await _bound_to(db, enterprise_b_ekey)


async def test_waiting_submission_fails_when_the_host_says_the_key_is_absent(
    enterprise_b: httpx.AsyncClient, enterprise_b_ekey: str, db: asyncpg.Pool, kafka_bootstrap: str
) -> None:
    host, serial = f"test-host-{uuid4().hex[:8]}", f"flaky-{uuid4().hex[:8]}"
    await beat(kafka_bootstrap, host, [serial], ttl=1.0)
    await presence(db, host, serial, absent=False)
    await asyncio.sleep(1.5)  # the announcement lapses: the host went quiet
    app_id = await create_draft(enterprise_b)
    await _bound_to(db, serial)
    try:
        assert (await enterprise_b.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202

        async def waiting() -> bool:
            app = await get_app(enterprise_b, app_id)
            assert app["status"] != "draft", app["status_reason"]
            reason = app["status_reason"] or ""
            return reason.startswith(f"waiting_for_ekey: waiting for e-key {serial} on a signer host")

        await eventually(waiting, what="the application says it waits for the e-key")
        await beat(kafka_bootstrap, host, [])  # the host is back, without the key
        await _fails_fast(enterprise_b, db, app_id)
    finally:
        await _bound_to(db, enterprise_b_ekey)
