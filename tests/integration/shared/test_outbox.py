"""Outbox to Kafka through the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from ail_shared.db import migrate_schema
from ail_shared.events import Envelope, envelope_for
from ail_shared.outbox import OutboxRelay, write_event, write_events
from tests.support import REPO, create_topic, eventually, read_topic


@pytest.fixture
async def scratch_schema(db: asyncpg.Pool) -> AsyncIterator[str]:
    schema = f"t_{uuid.uuid4().hex[:10]}"
    async with db.acquire() as conn:
        await migrate_schema(conn, schema)
    yield schema
    async with db.acquire() as conn:
        await conn.execute(f"DROP SCHEMA {schema} CASCADE")


def _event(key: str, seq: int, size: int = 200) -> Envelope:
    from ail_shared.events import SubmissionRejected

    ev = SubmissionRejected(application_id=key, submission_id=str(seq), reason="test", detail="x" * size)
    env = envelope_for(ev, aggregate_id=key, tenant="1100776367555")
    return env.model_copy(update={"payload": {**env.payload, "seq": seq}})


async def _unpublished(db: asyncpg.Pool, schema: str) -> int:
    n: int = await db.fetchval(f"SELECT count(*) FROM {schema}.outbox WHERE published_at IS NULL")
    return n


async def test_n_rows_give_exactly_n_messages_in_key_order_despite_sigkill(
    db: asyncpg.Pool, scratch_schema: str, pg_dsn: str, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap)
    keys = [str(uuid.uuid4()) for _ in range(40)]
    n_per_key = 100
    n = len(keys) * n_per_key
    # Commit in many small transactions, interleaving keys, like concurrent applications.
    async with db.acquire() as conn:
        for seq in range(n_per_key):
            async with conn.transaction():
                await write_events(conn, schema=scratch_schema, items=[(topic, _event(k, seq)) for k in keys])

    env = {
        **os.environ,
        "AIL_PG_DSN": pg_dsn,
        "AIL_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "AIL_OUTBOX_BATCH": "97",
    }

    def start(failpoint: str = "") -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "ail_shared.outbox", scratch_schema],
            cwd=REPO,
            env={**env, "AIL_FAILPOINTS": failpoint},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # First: die in the narrowest window, after the Kafka commit and before PostgreSQL marks
    # the rows published (what a SIGKILL at the worst instant does).
    # Also while the previous batch is still being marked (the pipelined relay's window).
    for points in (
        "outbox_after_kafka_commit=1",
        "outbox_after_kafka_commit=3",
        "outbox_mark=sleep:0.5,outbox_after_kafka_commit=3",
    ):
        relay = start(points)
        assert relay.wait(30) == -signal.SIGKILL
    kills = 0
    # Then: SIGKILL at whatever instant the relay happens to be in.
    for _ in range(3):
        relay = start()
        before = await _unpublished(db, scratch_schema)
        # Kill it as soon as it has made some progress (or after a while), mid-run.
        for _ in range(200):
            await asyncio.sleep(0.05)
            if await _unpublished(db, scratch_schema) < before:
                break
        relay.send_signal(signal.SIGKILL)
        relay.wait()
        kills += 1
    assert await _unpublished(db, scratch_schema) > 0, "relay finished before it could be killed"

    relay = start()
    try:
        await eventually(lambda: _is_zero(db, scratch_schema), timeout=60, what="outbox drained")
    finally:
        relay.terminate()
        relay.wait(10)

    records = await read_topic(kafka_bootstrap, topic, expect=n, timeout=60, idle=2.0)
    assert kills == 3
    assert len(records) == n, f"expected exactly {n} messages, got {len(records)}"
    ids = [json.loads(r.value)["event_id"] for r in records]
    assert len(set(ids)) == n
    by_key: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for r in records:
        body = json.loads(r.value)
        by_key[r.key.decode()].append(body["payload"]["seq"])
        partitions[r.key.decode()].add(r.partition)
    for key in keys:
        assert by_key[key] == list(range(n_per_key)), f"key {key} out of order"
        assert len(partitions[key]) == 1


async def _is_zero(db: asyncpg.Pool, schema: str) -> bool:
    return await _unpublished(db, schema) == 0


async def test_rolled_back_state_change_publishes_nothing(
    db: asyncpg.Pool, scratch_schema: str, pg_dsn: str, kafka_bootstrap: str
) -> None:
    topic = await create_topic(kafka_bootstrap, partitions=1)
    relay = OutboxRelay(dsn=pg_dsn, bootstrap=kafka_bootstrap, schema=scratch_schema)
    task = asyncio.create_task(relay.run())
    try:
        rolled_back = _event("app-1", 1)
        committed = _event("app-1", 2)
        async with db.acquire() as conn:
            with pytest.raises(RuntimeError):
                async with conn.transaction():
                    await conn.execute(f"CREATE TABLE {scratch_schema}.state (v int)")
                    await write_event(conn, schema=scratch_schema, topic=topic, envelope=rolled_back)
                    raise RuntimeError("business rule refused the change")
            async with conn.transaction():
                await write_event(conn, schema=scratch_schema, topic=topic, envelope=committed)
        records = await read_topic(kafka_bootstrap, topic, expect=1, idle=2.0)
    finally:
        relay.stop()
        await task
    assert [json.loads(r.value)["event_id"] for r in records] == [str(committed.event_id)]
    assert await db.fetchval(f"SELECT to_regclass('{scratch_schema}.state')") is None


async def test_trace_context_travels_in_headers(
    db: asyncpg.Pool, scratch_schema: str, pg_dsn: str, kafka_bootstrap: str
) -> None:
    from ail_shared.telemetry import configure_tracing, tracer

    configure_tracing("test")
    topic = await create_topic(kafka_bootstrap, partitions=1)
    with tracer("test").start_as_current_span("http request") as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
        async with db.acquire() as conn, conn.transaction():
            await write_event(conn, schema=scratch_schema, topic=topic, envelope=_event("k", 1))
    relay = OutboxRelay(dsn=pg_dsn, bootstrap=kafka_bootstrap, schema=scratch_schema)
    task = asyncio.create_task(relay.run())
    try:
        records = await read_topic(kafka_bootstrap, topic, expect=1)
    finally:
        relay.stop()
        await task
    headers: dict[str, Any] = {k: v.decode() for k, v in records[0].headers}
    assert trace_id in headers["traceparent"]
    assert trace_id in json.loads(records[0].value)["trace_context"]["traceparent"]
    assert headers["event_type"] == "SubmissionRejected"
