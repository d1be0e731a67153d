"""Issue 10 item 1: the relay marks published only what Kafka acknowledged. A ~2 MB event (over
the broker's message limit) is set aside with its reason, the owning service's hook runs in the
same transaction, and the events after it on the same key (same partition) are published and
consumed. Real Kafka and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from ail_shared.db import migrate_schema
from ail_shared.events import Envelope, envelope_for
from ail_shared.kafka import MAX_MESSAGE_BYTES
from ail_shared.outbox import EventTooLarge, OutboxRelay, SetAside, write_events
from tests.support import create_topic, eventually, read_topic

BIG = 2 * 1024 * 1024


@pytest.fixture
async def scratch_schema(db: asyncpg.Pool) -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await migrate_schema(conn, schema)
        await conn.execute(f"CREATE TABLE {schema}.refusals (outbox_id bigint, code text, reason text)")
    yield schema
    async with db.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _event(key: str, seq: int, size: int = 200) -> Envelope:
    from ail_shared.events import SubmissionRejected

    ev = SubmissionRejected(application_id=key, submission_id=str(seq), reason="test", detail="x" * size)
    env = envelope_for(ev, aggregate_id=key, tenant="1100776367555")
    return env.model_copy(update={"payload": {**env.payload, "seq": seq}})


async def _insert_raw(conn: asyncpg.Connection, schema: str, topic: str, env: Envelope) -> None:
    """What a writer without the write-time size check (an older one, or one from before a limit
    was lowered) leaves in the outbox: the relay must cope with it."""
    await conn.execute(
        f"INSERT INTO {schema}.outbox (event_id, event_type, topic, message_key, headers, value)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        env.event_id,
        env.event_type,
        topic,
        env.aggregate_id,
        {"event_type": env.event_type, "event_id": str(env.event_id)},
        env.to_bytes(),
    )


async def _hook_for(schema: str) -> Any:
    async def hook(conn: asyncpg.Connection, item: SetAside) -> None:
        # In the set-aside's own transaction: the row is set aside iff this is recorded.
        await conn.execute(
            f"INSERT INTO {schema}.refusals (outbox_id, code, reason) VALUES ($1, $2, $3)",
            item.id,
            item.code,
            item.reason,
        )

    return hook


@pytest.mark.parametrize(
    "refused_by",
    ["client", "broker"],
    ids=["refused-by-the-producer", "refused-by-the-broker"],
)
async def test_a_2mb_event_is_set_aside_and_the_partition_goes_on(
    db: asyncpg.Pool, scratch_schema: str, pg_dsn: str, kafka_bootstrap: str, refused_by: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    key = str(uuid.uuid4())
    before, big, after = _event(key, 1), _event(key, 2, size=BIG), _event(key, 3)
    other = _event(str(uuid.uuid4()), 4)
    async with db.acquire() as conn, conn.transaction():
        await write_events(conn, schema=scratch_schema, items=[(topic, before)])
        await _insert_raw(conn, scratch_schema, topic, big)
        await write_events(conn, schema=scratch_schema, items=[(topic, after), (topic, other)])

    # "broker": a producer that lets the 2 MB record through, so that the broker refuses it
    # (MESSAGE_TOO_LARGE in the produce response, not an exception from send()).
    options = {"max_request_size": 8 * BIG} if refused_by == "broker" else {}
    relay = OutboxRelay(
        dsn=pg_dsn,
        bootstrap=kafka_bootstrap,
        schema=scratch_schema,
        on_set_aside=await _hook_for(scratch_schema),
        producer_options=options,
    )
    task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(kafka_bootstrap, topic, expect=3, timeout=60, idle=2.0)
        assert [json.loads(r.value)["event_id"] for r in records] == [
            str(before.event_id),
            str(after.event_id),
            str(other.event_id),
        ]

        rows = {
            r["event_id"]: r
            for r in await db.fetch(
                f"SELECT event_id, published_at, set_aside_at, set_aside_reason FROM {scratch_schema}.outbox"
            )
        }
        refused = rows[big.event_id]
        assert refused["published_at"] is None, "a refused row must never be marked published"
        assert refused["set_aside_at"] is not None
        assert refused["set_aside_reason"].startswith("message_too_large: ")
        assert str(len(big.to_bytes())) in refused["set_aside_reason"]
        await eventually(
            lambda: _all_published(db, scratch_schema, [before, after, other]), what="the others marked"
        )
        hook_rows = await db.fetch(f"SELECT outbox_id, code FROM {scratch_schema}.refusals")
        assert [r["code"] for r in hook_rows] == ["message_too_large"]

        # Later events on that partition flow too, and the refused row is never retried.
        later = _event(key, 5)
        async with db.acquire() as conn, conn.transaction():
            await write_events(conn, schema=scratch_schema, items=[(topic, later)])
        records = await read_topic(kafka_bootstrap, topic, expect=4, timeout=60, idle=2.0)
        assert json.loads(records[-1].value)["event_id"] == str(later.event_id)
        assert len(records) == 4
        assert relay.set_aside == 1
    finally:
        relay.stop()
        await task


async def _all_published(db: asyncpg.Pool, schema: str, envs: list[Envelope]) -> bool:
    n = await db.fetchval(
        f"SELECT count(*) FROM {schema}.outbox WHERE event_id = ANY($1::uuid[]) AND published_at IS NOT NULL",
        [e.event_id for e in envs],
    )
    return bool(n == len(envs))


async def test_a_set_aside_row_is_not_marked_by_recovery_nor_sent_by_a_new_relay(
    db: asyncpg.Pool, scratch_schema: str, pg_dsn: str, kafka_bootstrap: str
) -> None:
    """Exactly-once recovery after a restart leaves the set-aside row alone."""
    topic = await create_topic(kafka_bootstrap, partitions=1)
    key = str(uuid.uuid4())
    big, after = _event(key, 1, size=BIG), _event(key, 2)
    async with db.acquire() as conn, conn.transaction():
        await _insert_raw(conn, scratch_schema, topic, big)
        await write_events(conn, schema=scratch_schema, items=[(topic, after)])
    for _ in range(2):  # the second relay starts with recovery from the state topic
        relay = OutboxRelay(dsn=pg_dsn, bootstrap=kafka_bootstrap, schema=scratch_schema)
        task = asyncio.create_task(relay.run())
        try:
            await eventually(
                lambda: _all_published(db, scratch_schema, [after]), timeout=60, what="published"
            )
        finally:
            relay.stop()
            await task
    row = await db.fetchrow(
        f"SELECT published_at, set_aside_at FROM {scratch_schema}.outbox WHERE event_id = $1", big.event_id
    )
    assert row["published_at"] is None and row["set_aside_at"] is not None
    records = await read_topic(kafka_bootstrap, topic, expect=1, timeout=30, idle=2.0)
    assert [json.loads(r.value)["event_id"] for r in records] == [str(after.event_id)]


async def test_write_events_refuses_an_event_over_the_limit(db: asyncpg.Pool, scratch_schema: str) -> None:
    async with db.acquire() as conn:
        with pytest.raises(EventTooLarge, match="shorten"):
            async with conn.transaction():
                await write_events(
                    conn, schema=scratch_schema, items=[("t", _event("k", 1, size=MAX_MESSAGE_BYTES))]
                )
        assert await conn.fetchval(f"SELECT count(*) FROM {scratch_schema}.outbox") == 0
