"""Outbox relay throughput against the raw producer, for 5 KB events, in one run.

    .venv/bin/python benchmarks/outbox_bench.py [--events 20000] [--size 5120]

Prints: the raw aiokafka produce rate (acks=all, idempotent producer), the outbox relay rate
(rows already committed in PostgreSQL -> Kafka, exactly-once with Kafka transactions), and their
ratio. Goal: relay >= 70% of raw.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _stack import stack_env  # noqa: E402
from aiokafka.admin import AIOKafkaAdminClient, NewTopic  # noqa: E402

from ail_shared.db import connect, migrate_schema  # noqa: E402
from ail_shared.events import SubmissionRejected, envelope_for  # noqa: E402
from ail_shared.kafka import make_producer  # noqa: E402
from ail_shared.outbox import BATCH_SIZE, OutboxRelay  # noqa: E402


async def new_topic(bootstrap: str) -> str:
    name = f"bench.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 6, 1)])
    finally:
        await admin.close()
    return name


def make_values(n: int, size: int, keys: int = 500) -> list[tuple[str, bytes]]:
    out = []
    for i in range(n):
        key = f"app-{i % keys}"
        ev = SubmissionRejected(application_id=key, submission_id=str(i), reason="bench", detail="x" * size)
        env = envelope_for(ev, aggregate_id=key, tenant="1100776367555")
        raw = env.to_bytes()
        out.append((key, raw[: max(size, 1)] if len(raw) > size * 2 else raw))
    return out


async def raw_rate(bootstrap: str, values: list[tuple[str, bytes]]) -> float:
    topic = await new_topic(bootstrap)
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", key=b"w")
        started = time.perf_counter()
        futures = [await producer.send(topic, v, key=k.encode()) for k, v in values]
        await asyncio.gather(*futures)
        elapsed = time.perf_counter() - started
    finally:
        await producer.stop()
    return len(values) / elapsed


async def relay_rate(dsn: str, bootstrap: str, values: list[tuple[str, bytes]], batch: int) -> float:
    topic = await new_topic(bootstrap)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await connect(dsn)
    try:
        await migrate_schema(conn, schema)
        await conn.executemany(
            f"INSERT INTO {schema}.outbox (event_id, event_type, topic, message_key, headers, value)"
            " VALUES ($1, 'SubmissionRejected', $2, $3, $4, $5)",
            [(uuid.uuid4(), topic, k, {"event_type": "SubmissionRejected"}, v) for k, v in values],
        )
        relay = OutboxRelay(dsn=dsn, bootstrap=bootstrap, schema=schema, batch_size=batch)
        task = asyncio.create_task(relay.run())
        while relay.published == 0:
            await asyncio.sleep(0.001)
        started, first = time.perf_counter(), relay.published
        while relay.published < len(values):
            await asyncio.sleep(0.002)
        elapsed = time.perf_counter() - started
        relay.stop()
        await task
        return (len(values) - first) / elapsed
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--size", type=int, default=5120)
    parser.add_argument("--batch", type=int, default=BATCH_SIZE, help="outbox rows per Kafka transaction")
    args = parser.parse_args()
    env = stack_env()
    dsn, bootstrap = env["AIL_PG_DSN"], env["AIL_KAFKA_BOOTSTRAP"]
    values = make_values(args.events, args.size)
    avg = sum(len(v) for _, v in values) / len(values)
    print(f"events: {len(values)}, average value size: {avg:.0f} bytes, partitions: 6")
    raw = await raw_rate(bootstrap, values)
    print(f"raw aiokafka produce (acks=all, idempotent): {raw:10.0f} events/s")
    relay = await relay_rate(dsn, bootstrap, values, args.batch)
    print(f"outbox relay (PostgreSQL -> Kafka, transactional): {relay:10.0f} events/s")
    print(f"relay / raw: {relay / raw:.0%} (goal >= 70%)")


if __name__ == "__main__":
    asyncio.run(main())
