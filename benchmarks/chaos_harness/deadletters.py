"""Dead-letter topics: their end offsets when the run starts, and afterwards every record
written to any ``*.dlt`` topic since. A record whose value decodes as a valid event (envelope
and typed payload, as a consumer would parse it) is a good event that was set aside: lost work."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ail_shared.errors import UndecodableEvent, UnsupportedSchemaVersion
from ail_shared.events import decode_envelope, parse_payload


@dataclass
class DeadLetters:
    start: dict[TopicPartition, int] = field(default_factory=dict)
    records: int = 0
    valid: list[dict[str, str]] = field(default_factory=list)
    by_reason: Counter[str] = field(default_factory=Counter)


def _consumer(bootstrap: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)


async def _partitions(bootstrap: str) -> list[TopicPartition]:
    """Every partition of every ``*.dlt`` topic, from the broker's own description (a consumer's
    cached metadata knows no partitions of topics it has not been assigned)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        topics = sorted(t for t in await admin.list_topics() if t.endswith(".dlt"))
        described = await admin.describe_topics(topics) if topics else []
    finally:
        await admin.close()
    return sorted(
        (TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]),
        key=lambda tp: (tp.topic, tp.partition),
    )


async def mark(bootstrap: str) -> DeadLetters:
    tps = await _partitions(bootstrap)
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        return DeadLetters(start=dict(await consumer.end_offsets(tps)))
    finally:
        await consumer.stop()


async def read_since(bootstrap: str, dl: DeadLetters, timeout: float = 60.0) -> DeadLetters:
    tps = await _partitions(bootstrap)
    consumer = _consumer(bootstrap)
    await consumer.start()
    try:
        end = await consumer.end_offsets(tps)
        todo = {tp: end[tp] for tp in tps if end[tp] > dl.start.get(tp, 0)}
        if not todo:
            return dl
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, dl.start.get(tp, 0))
        deadline = time.monotonic() + timeout
        while todo and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for tp, records in batch.items():
                for rec in records:
                    if tp in todo and rec.offset < todo[tp]:
                        _inspect(dl, rec)
            for tp in list(todo):
                if await consumer.position(tp) >= todo[tp]:
                    del todo[tp]
        return dl
    finally:
        await consumer.stop()


def _inspect(dl: DeadLetters, rec: object) -> None:
    dl.records += 1
    headers = {k: v.decode(errors="replace") for k, v in (getattr(rec, "headers", None) or ())}
    reason = headers.get("dlt-reason", "")
    dl.by_reason[f"{getattr(rec, 'topic', '')}: {reason[:80]}"] += 1
    try:
        env = decode_envelope(getattr(rec, "value", None))
        parse_payload(env)
    except (UndecodableEvent, UnsupportedSchemaVersion):
        return
    dl.valid.append(
        {
            "topic": str(getattr(rec, "topic", "")),
            "event_type": env.event_type,
            "aggregate_id": env.aggregate_id,
            "reason": reason,
            "consumer": headers.get("dlt-consumer", ""),
        }
    )
