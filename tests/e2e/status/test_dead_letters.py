"""Issue 14, item 6, through the entry point: a poisoned message on each consumed topic lands in
its dead-letter topic (the partition moves on), shows in the operations list with its reason and
original bytes, and is skipped with a recorded reason; on each consumed topic, a dead letter whose
cause is gone is redriven to its topic and applied exactly once, however often it is redriven.
What operations did shows in the application's history (who, when, why). Operations only."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest

from ail_shared import metrics, topics
from ail_shared.events import EkeyHeartbeat, Envelope, SignatureRequested, envelope_for
from ail_shared.kafka import make_producer
from tests.integration.status.support import App, fresh_enterprise, history
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


# The schemas whose consumers keep an inbox (ail_shared.inbox): who applied an event, how often.
INBOX_SCHEMAS = ("application", "submission", "status", "customs", "signer")


def _fixed_case(topic: str, enterprise: str, serial: str) -> tuple[Envelope, str, str]:
    """A valid event of ``topic`` that one of its consumers dead-lettered (a handler bug, since
    fixed): its envelope, its key and the consumer (group) that must apply it once redriven."""
    app = App(enterprise)
    if topic == topics.APPLICATION:
        return app.submitted(), app.application_id, "status.lifecycle"
    if topic == topics.SUBMISSION:
        return app.accepted(), app.application_id, "status.lifecycle"
    if topic == topics.SIGNER:
        return app.signing_failed(), app.application_id, "status.lifecycle"
    if topic == topics.CUSTOMS:
        return app.customs_stored(), app.application_id, "status.lifecycle"
    if topic == topics.SIGNER_REQUESTS:  # the demo e-key's host signs it (key: the e-key serial)
        request = SignatureRequested(
            application_id=app.application_id,
            submission_id=app.submission_id,
            enterprise_code=enterprise,
            ekey_serial=serial,
            canonical_payload=base64.b64encode(b'{"serial_no":"' + app.serial_no.encode() + b'"}').decode(),
        )
        return envelope_for(request, aggregate_id=app.application_id, tenant=enterprise), serial, "signer."
    assert topic == topics.SIGNER_HEARTBEATS  # a host that holds no key, gone at once
    host = f"dlt-test-{uuid.uuid4()}"
    beat = EkeyHeartbeat(host_id=host, keys=[], sent_at=datetime.now(UTC), ttl_seconds=1)
    return envelope_for(beat, aggregate_id=host, tenant=""), host, "submission.heartbeats"


async def _dead_letter(producer: Any, topic: str, env: Envelope, key: str) -> None:
    """Put ``env`` in ``<topic>.dlt`` as the consumer does when its handler fails: the relay's
    headers on the original record (docs/asyncapi.json), then the DLT's."""
    await producer.send_and_wait(
        f"{topic}.dlt",
        value=env.to_bytes(),
        key=key.encode(),
        headers=[
            ("event_type", env.event_type.encode()),
            ("schema_version", env.schema_version.encode()),
            ("event_id", str(env.event_id).encode()),
            ("dlt-reason", b"handler_failed after 2 attempts: RuntimeError('fixed since')"),
            ("dlt-source-topic", topic.encode()),
            ("dlt-source-partition", b"0"),
            ("dlt-source-offset", b"0"),
            ("dlt-consumer", b"a consumer since fixed"),
        ],
    )


async def _applied(db: asyncpg.Pool, event_id: uuid.UUID) -> dict[str, int]:
    """How often each consumer applied the event (its inbox rows)."""
    out: dict[str, int] = {}
    for schema in INBOX_SCHEMAS:
        rows = await db.fetch(
            f"SELECT consumer, count(*) AS n FROM {schema}.inbox WHERE event_id = $1 GROUP BY consumer",
            event_id,
        )
        out.update({r["consumer"]: int(r["n"]) for r in rows})
    return out


async def _positions(kafka_bootstrap: str, group: str, topic: str) -> dict[int, tuple[int, int]]:
    """The group's committed offset and the last stable offset of each partition of ``topic``."""
    lags = await metrics.group_lags(kafka_bootstrap, [group])
    return {pl.partition: (pl.committed, pl.last_stable) for pl in lags if pl.topic == topic}


@pytest.mark.parametrize("topic", CONSUMED)
async def test_a_dead_letter_redriven_after_its_fix_is_applied_exactly_once(
    topic: str,
    producer: Any,
    ops: httpx.AsyncClient,
    db: asyncpg.Pool,
    entry_url: str,
    kafka_bootstrap: str,
    stack: dict[str, str],
) -> None:
    """A valid event of each consumed topic that a consumer dead-lettered (a bug since fixed):
    redriven, its consumer applies it; redriven again, the consumer reads it past its inbox
    (applied still once). An application's redrives show in its history, with who, when, why."""
    enterprise = await fresh_enterprise(db)
    serial = stack["AIL_DEMO_EKEY_SERIALS"].split(",")[0]
    env, key, consumer = _fixed_case(topic, enterprise.code, serial)
    await _dead_letter(producer, topic, env, key)
    dlt = f"{topic}.dlt"

    async def ours() -> list[dict[str, Any]] | None:
        found = await _listed(ops, dlt, key) or []
        return [m for m in found if base64.b64decode(m["value_base64"]) == env.to_bytes()] or None

    [letter, *_] = await eventually(ours, timeout=30, what=f"the dead letter in {dlt}")
    where = {"topic": dlt, "partition": letter["partition"], "offset": letter["offset"]}
    first = await ops.post("/api/v1/ops/dead-letters/redrive", json={**where, "reason": "bug fixed in 1.4.2"})
    assert first.status_code == 200 and first.json()["state"] == "redriven", first.text

    async def applied_by_it() -> dict[str, int] | None:
        done = await _applied(db, env.event_id)
        return done if any(c.startswith(consumer) for c in done) else None

    await eventually(applied_by_it, timeout=60, interval=0.5, what=f"{env.event_type} applied by {consumer}")
    second = await ops.post("/api/v1/ops/dead-letters/redrive", json={**where, "reason": "once more"})
    assert second.status_code == 200, second.text
    done = await _applied(db, env.event_id)
    for group in done:
        # the second copy is before these ends; the group reads past it
        ends = {p: end for p, (_, end) in (await _positions(kafka_bootstrap, group, topic)).items()}

        async def past(g: str = group, ends: dict[int, int] = ends) -> bool:
            now = await _positions(kafka_bootstrap, g, topic)
            return all(now[p][0] >= end for p, end in ends.items())

        await eventually(past, timeout=60, interval=0.5, what=f"{group} past the second copy")
    assert await _applied(db, env.event_id) == dict.fromkeys(done, 1)
    # (ours() may now list more: a consumer that refuses the event for a cause of its own, here
    # submission refusing this test's stub snapshot on ail.application, dead-letters it anew)
    [entry] = [m for m in await ours() or [] if m["offset"] == letter["offset"]]
    assert [(a["action"], a["reason"]) for a in entry["actions"]] == [
        ("redrive", "bug fixed in 1.4.2"),
        ("redrive", "once more"),
    ]
    if consumer != "status.lifecycle":
        return
    # Issue 14: every such action is visible in the application's history (who, when, why).
    async with enterprise.client(entry_url) as own:
        hist = await eventually(lambda: history(own, key), timeout=30, what="the application's history")
    acted = [h["operations"] for h in hist["items"] if h.get("operations")]
    assert [(a["action"], a["reason"], a["dead_letter_topic"]) for a in acted] == [
        ("redrive", "bug fixed in 1.4.2", dlt),
        ("redrive", "once more", dlt),
    ]
    assert all(a["actor"].startswith("operations:") and a["at"] for a in acted)
    [applied] = [h for h in hist["items"] if not h.get("operations")]
    assert applied["event"]["id"] == str(env.event_id)


async def test_a_skipped_dead_letter_shows_in_its_applications_history_and_changes_nothing(
    producer: Any, ops: httpx.AsyncClient, db: asyncpg.Pool, entry_url: str, enterprise_b: httpx.AsyncClient
) -> None:
    enterprise = await fresh_enterprise(db)
    app = App(enterprise.code)
    submitted = app.submitted()
    await producer.send_and_wait(
        topics.APPLICATION, value=submitted.to_bytes(), key=app.application_id.encode()
    )
    failed = app.signing_failed()
    await _dead_letter(producer, topics.SIGNER, failed, app.application_id)
    dlt = f"{topics.SIGNER}.dlt"
    [letter] = await eventually(lambda: _listed(ops, dlt, app.application_id), timeout=30, what="the letter")
    where = {"topic": dlt, "partition": letter["partition"], "offset": letter["offset"]}
    r = await ops.post(
        "/api/v1/ops/dead-letters/skip", json={**where, "reason": "customer asked to resubmit"}
    )
    assert r.status_code == 200, r.text
    async with enterprise.client(entry_url) as own:
        hist = await eventually(lambda: history(own, app.application_id), timeout=30, what="the history")
    [skip] = [h for h in hist["items"] if h.get("operations")]
    assert skip["operations"]["action"] == "skip"
    assert skip["operations"]["reason"] == skip["reason"] == "customer asked to resubmit"
    assert skip["operations"]["actor"].startswith("operations:")
    assert skip["status"] is None and skip["event"] == {"id": str(failed.event_id), "type": "SigningFailed"}
    assert hist["status"] == "submitting"  # the skipped SigningFailed was not applied
    # another enterprise sees neither the application nor the action
    assert (await enterprise_b.get(f"/api/v1/applications/{app.application_id}/history")).status_code == 404


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
