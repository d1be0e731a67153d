"""The consumer loop against the real broker: inbox dedup and the dead-letter topic."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from ail_shared.consumer import EventConsumer
from ail_shared.db import migrate_schema
from ail_shared.events import Envelope, Event, SubmissionAccepted, envelope_for, utcnow
from ail_shared.kafka import make_producer
from tests.support import create_topic, eventually, read_topic


@pytest.fixture
async def schema(db: asyncpg.Pool) -> AsyncIterator[str]:
    name = f"t_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await migrate_schema(conn, name)
        await conn.execute(
            f"CREATE TABLE {name}.accepted (application_id text PRIMARY KEY,"
            " form_no text, times integer NOT NULL DEFAULT 1)"
        )
    yield name
    async with db.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {name} CASCADE")


def _consumer(db: asyncpg.Pool, schema: str, topic: str, bootstrap: str) -> EventConsumer:
    async def on_accepted(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        assert isinstance(event, SubmissionAccepted)
        await conn.execute(
            f"INSERT INTO {schema}.accepted (application_id, form_no) VALUES ($1, $2)"
            " ON CONFLICT (application_id) DO UPDATE SET times = accepted.times + 1",
            event.application_id,
            event.form_no,
        )

    return EventConsumer(
        name=f"test-{schema}",
        topics=[topic],
        handlers={SubmissionAccepted: on_accepted},
        pool=db,
        schema=schema,
        bootstrap=bootstrap,
    )


def _accepted(app_id: str) -> Envelope:
    return envelope_for(
        SubmissionAccepted(
            application_id=app_id, submission_id="s1", form_no="261100776367555600014", applied_at=utcnow()
        ),
        aggregate_id=app_id,
        tenant="1100776367555",
    )


async def _dlt_topic(bootstrap: str, topic: str) -> str:
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(f"{topic}.dlt", 1, 1)])
    finally:
        await admin.close()
    return f"{topic}.dlt"


async def test_same_event_delivered_twice_changes_state_once(
    db: asyncpg.Pool, schema: str, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    await _dlt_topic(kafka_bootstrap, topic)
    env = _accepted("app-dup")
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for _ in range(2):
            await producer.send_and_wait(topic, env.to_bytes(), key=b"app-dup")
        other = _accepted("app-other")
        await producer.send_and_wait(topic, other.to_bytes(), key=b"app-other")
    finally:
        await producer.stop()
    consumer = _consumer(db, schema, topic, kafka_bootstrap)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(
            lambda: db.fetchval(f"SELECT count(*) = 2 FROM {schema}.accepted"),
            what="both applications applied",
        )
        await asyncio.sleep(1.0)  # let a wrongly re-applied duplicate show up
    finally:
        consumer.stop()
        await task
    assert await db.fetchval(f"SELECT times FROM {schema}.accepted WHERE application_id='app-dup'") == 1
    assert consumer.stats.duplicates == 1
    assert await db.fetchval(f"SELECT count(*) FROM {schema}.inbox") == 2


async def test_malformed_and_unknown_major_go_to_dlt_and_consumer_goes_on(
    db: asyncpg.Pool, schema: str, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    dlt = await _dlt_topic(kafka_bootstrap, topic)
    future = json.loads(_accepted("app-future").to_bytes())
    future["schema_version"] = "9.0"
    bad_payload = json.loads(_accepted("app-badpayload").to_bytes())
    del bad_payload["payload"]["form_no"]
    good = _accepted("app-good")
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"{not json", key=b"x")
        await producer.send_and_wait(topic, json.dumps(future).encode(), key=b"app-future")
        await producer.send_and_wait(topic, json.dumps(bad_payload).encode(), key=b"y")
        await producer.send_and_wait(topic, good.to_bytes(), key=b"app-good")
    finally:
        await producer.stop()
    consumer = _consumer(db, schema, topic, kafka_bootstrap)
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(
            lambda: db.fetchval(
                f"SELECT count(*) = 1 FROM {schema}.accepted WHERE application_id = 'app-good'"
            ),
            what="the valid message after the bad ones",
        )
        dead = await read_topic(kafka_bootstrap, dlt, expect=3)
    finally:
        consumer.stop()
        await task
    reasons = [dict(d.headers)["dlt-reason"].decode() for d in dead]
    assert len(dead) == 3
    assert reasons[0].startswith("undecodable_event: value is not JSON")
    assert reasons[1].startswith("unsupported_schema_version")
    assert "9.0" in reasons[1]
    assert "form_no" in reasons[2]
    assert dead[1].value == json.dumps(future).encode()  # the original bytes, untouched
    assert dict(dead[0].headers)["dlt-source-topic"].decode() == topic


async def test_a_bad_event_in_a_batch_does_not_hold_back_the_good_ones(
    db: asyncpg.Pool, schema: str, kafka_bootstrap: str
) -> None:
    """Events are applied a batch per transaction; one that the handler refuses rolls the batch
    back, and the consumer then applies one by one: the good ones land, the bad one is
    dead-lettered, nothing is applied twice."""
    topic = await create_topic(kafka_bootstrap, partitions=1)
    dlt = await _dlt_topic(kafka_bootstrap, topic)
    good = [_accepted(f"app-{i}") for i in range(20)]
    poison = _accepted("app-poison")
    producer = make_producer(kafka_bootstrap)
    await producer.start()
    try:
        for env in [*good[:10], poison, *good[10:]]:
            await producer.send(topic, env.to_bytes(), key=env.aggregate_id.encode())
        await producer.flush()
    finally:
        await producer.stop()

    async def on_accepted(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        assert isinstance(event, SubmissionAccepted)
        if event.application_id == "app-poison":
            from ail_shared.consumer import PermanentError

            raise PermanentError("form_no belongs to another application")
        await conn.execute(
            f"INSERT INTO {schema}.accepted (application_id, form_no) VALUES ($1, $2)"
            " ON CONFLICT (application_id) DO UPDATE SET times = accepted.times + 1",
            event.application_id,
            event.form_no,
        )

    consumer = EventConsumer(
        name=f"test-{schema}",
        topics=[topic],
        handlers={SubmissionAccepted: on_accepted},
        pool=db,
        schema=schema,
        bootstrap=kafka_bootstrap,
    )
    task = asyncio.create_task(consumer.run())
    try:
        await eventually(
            lambda: db.fetchval(f"SELECT count(*) = 20 FROM {schema}.accepted"), what="the 20 good events"
        )
        dead = await read_topic(kafka_bootstrap, dlt, expect=1)
    finally:
        consumer.stop()
        await task
    assert await db.fetchval(f"SELECT max(times) FROM {schema}.accepted") == 1
    assert len(dead) == 1 and dead[0].key == b"app-poison"
    assert "handler_refused" in dict(dead[0].headers)["dlt-reason"].decode()
