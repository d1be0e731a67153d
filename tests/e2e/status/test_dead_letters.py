"""Issue 14, item 6, through the entry point: a poisoned message on each consumed topic lands in
its dead-letter topic (the partition moves on), shows in the operations list with its reason and
original bytes, and is skipped with a recorded reason; a dead letter whose cause is gone is
redriven to its topic and applied exactly once, however often it is redriven. Operations only."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from ail_shared import topics
from ail_shared.kafka import make_producer
from tests.integration.status.support import App, fresh_enterprise
from tests.support import api_client, eventually

CONSUMED = (
    topics.APPLICATION,
    topics.SUBMISSION,
    topics.SIGNER_REQUESTS,
    topics.SIGNER,
    topics.SIGNER_HEARTBEATS,
    topics.CUSTOMS,
)


@pytest.fixture(scope="module")
async def producer(kafka_bootstrap: str) -> AsyncIterator[Any]:
    p = make_producer(kafka_bootstrap)
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def ops(entry_url: str, demo: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


async def _listed(ops: httpx.AsyncClient, dlt: str, key: str) -> list[dict[str, Any]] | None:
    r = await ops.get("/api/v1/ops/dead-letters", params={"topic": dlt})
    assert r.status_code == 200, r.text
    [entry] = r.json()["items"]
    found = [m for m in entry["messages"] if m["key"] == key]
    return found or None


@pytest.mark.parametrize("topic", CONSUMED)
async def test_a_poisoned_message_is_dead_lettered_listed_and_skipped(
    topic: str, producer: Any, ops: httpx.AsyncClient, stack: dict[str, str]
) -> None:
    # The signer reads only the requests keyed by an e-key serial it holds.
    serial = stack["AIL_DEMO_EKEY_SERIALS"].split(",")[0]
    key = serial if topic == topics.SIGNER_REQUESTS else f"poison-{uuid.uuid4()}"
    value = b"\xff not an envelope " + uuid.uuid4().bytes
    await producer.send_and_wait(topic, value=value, key=key.encode())
    dlt = f"{topic}.dlt"

    async def listed() -> list[dict[str, Any]] | None:
        found = await _listed(ops, dlt, key)
        return [m for m in found if base64.b64decode(m["value_base64"]) == value] if found else None

    [letter, *_] = await eventually(listed, timeout=60, interval=0.5, what=f"the poison in {dlt}")
    assert letter["source_topic"] == topic and letter["state"] == "open"
    assert letter["reason"].startswith("undecodable"), letter["reason"]
    assert letter["consumer"] and letter["source_offset"] is not None

    skipped = await ops.post(
        "/api/v1/ops/dead-letters/skip",
        json={
            "topic": dlt,
            "partition": letter["partition"],
            "offset": letter["offset"],
            "reason": "test poison",
        },
    )
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["state"] == "skipped"
    [action] = skipped.json()["actions"]
    assert (
        action["actor"] == "operations:" + action["actor"].split(":", 1)[1]
        and action["reason"] == "test poison"
    )
    again = await _listed(ops, dlt, key)
    assert again and any(m["state"] == "skipped" and m["offset"] == letter["offset"] for m in again)


async def test_a_redriven_dead_letter_is_applied_exactly_once(
    producer: Any, ops: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    """A valid SigningFailed that a consumer dead-lettered (say, a bug since fixed): redriven
    twice, the status service applies it once (its inbox)."""
    enterprise = await fresh_enterprise(db)
    env = App(enterprise.code).signing_failed()
    dlt = f"{topics.SIGNER}.dlt"
    await producer.send_and_wait(
        dlt,
        value=env.to_bytes(),
        key=env.aggregate_id.encode(),
        headers=[
            # The headers the relay wrote on the original record (docs/asyncapi.json), then the DLT's.
            ("event_type", env.event_type.encode()),
            ("schema_version", env.schema_version.encode()),
            ("event_id", str(env.event_id).encode()),
            ("dlt-reason", b"handler_failed after 2 attempts: RuntimeError('fixed since')"),
            ("dlt-source-topic", topics.SIGNER.encode()),
            ("dlt-source-partition", b"0"),
            ("dlt-source-offset", b"0"),
            ("dlt-consumer", b"status.lifecycle"),
        ],
    )
    [letter] = await eventually(
        lambda: _listed(ops, dlt, env.aggregate_id), timeout=30, what="the dead letter"
    )
    where = {"topic": dlt, "partition": letter["partition"], "offset": letter["offset"]}
    for _ in range(2):
        r = await ops.post("/api/v1/ops/dead-letters/redrive", json={**where, "reason": "bug fixed"})
        assert r.status_code == 200, r.text
    assert r.json()["state"] == "redriven"

    async def applied() -> int | None:
        n = await db.fetchval(
            "SELECT count(*) FROM status.inbox WHERE consumer = 'status.lifecycle' AND event_id = $1",
            env.event_id,
        )
        return int(n) or None

    assert await eventually(applied, timeout=30, what="the redriven event applied") == 1
    view = await db.fetchrow(
        "SELECT status FROM status.applications WHERE application_id = $1", env.aggregate_id
    )
    assert view is not None
    [entry] = await _listed(ops, dlt, env.aggregate_id) or []
    assert [a["action"] for a in entry["actions"]] == ["redrive", "redrive"]


async def test_dead_letters_are_for_operations_only(enterprise_a: httpx.AsyncClient, entry_url: str) -> None:
    assert (await enterprise_a.get("/api/v1/ops/dead-letters")).status_code == 403
    body = {"topic": "ail.signer.dlt", "partition": 0, "offset": 0, "reason": "not mine"}
    assert (await enterprise_a.post("/api/v1/ops/dead-letters/redrive", json=body)).status_code == 403
    async with httpx.AsyncClient(base_url=entry_url) as anonymous:
        assert (await anonymous.get("/api/v1/ops/dead-letters")).status_code == 401


async def test_bad_actions_name_the_field(ops: httpx.AsyncClient) -> None:
    r = await ops.post(
        "/api/v1/ops/dead-letters/skip", json={"topic": "nope", "partition": 0, "offset": 0, "reason": "x"}
    )
    assert r.status_code == 422
    r = await ops.post(
        "/api/v1/ops/dead-letters/skip",
        json={"topic": "nope", "partition": 0, "offset": 0, "reason": "long enough"},
    )
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "topic", r.text
    r = await ops.post(
        "/api/v1/ops/dead-letters/skip",
        json={"topic": "ail.signer.dlt", "partition": 0, "offset": 10**12, "reason": "long enough"},
    )
    assert r.status_code == 404, r.text
