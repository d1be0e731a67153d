"""The dead-letter topics (``<topic>.dlt``, written by ``ail_shared.consumer``), read and redriven
for operations (issue 14, item 6), and the record of what operations did (``ops_actions``).

A redrive sends the message's original bytes, key and headers (less the ``dlt-*`` ones) to its
original topic, with ``ail-redriven-from`` naming where it came from. It is safe to repeat: the
consumers' inbox makes a second apply of the same event id a no-op.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from ail_shared import topics
from ail_shared.consumer import dead_letter_topic
from ail_shared.errors import EventError
from ail_shared.events import Envelope, decode_envelope
from ail_shared.kafka import make_producer

SCHEMA = "status"
READ_TIMEOUT_MS = 1000
# Every dead-letter topic has one partition (ail_shared.topics.ensure_topics creates them so).
DLT_PARTITIONS = 1


def dead_letter_topics() -> list[str]:
    """The dead-letter topic of every topic the platform consumes."""
    return sorted(t for t in topics.all_topic_names() if t.endswith(".dlt"))


@dataclass
class DeadLetter:
    topic: str
    partition: int
    offset: int
    timestamp_ms: int
    key: str | None
    value: bytes
    headers: dict[str, str]
    actions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return self.headers.get("dlt-reason", "")

    def envelope(self) -> Envelope | None:
        """The envelope the bytes carry, or None (not one: a poison message)."""
        try:
            return decode_envelope(self.value)
        except EventError:
            return None

    @property
    def source_topic(self) -> str:
        return self.headers.get("dlt-source-topic") or self.topic.removesuffix(".dlt")

    def view(self) -> dict[str, Any]:
        try:
            text: str | None = self.value.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        done = [a["action"] for a in self.actions]
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "timestamp_ms": self.timestamp_ms,
            "key": self.key,
            "reason": self.reason,
            "source_topic": self.source_topic,
            "source_partition": _int(self.headers.get("dlt-source-partition")),
            "source_offset": _int(self.headers.get("dlt-source-offset")),
            "consumer": self.headers.get("dlt-consumer"),
            "headers": self.headers,
            "value_base64": base64.b64encode(self.value).decode(),
            "value_text": text,
            "state": "skipped" if "skip" in done else "redriven" if "redrive" in done else "open",
            "actions": self.actions,
        }


def _int(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def _decode_headers(raw: Any) -> dict[str, str]:
    return {k: (v or b"").decode("utf-8", errors="replace") for k, v in raw or ()}


class DeadLetterStore:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def _consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            auto_offset_reset="earliest",
        )

    async def read(self, topic: str, *, limit: int) -> list[DeadLetter]:
        """The last ``limit`` messages of each partition of ``topic`` (oldest first)."""
        consumer = self._consumer()
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(DLT_PARTITIONS)]
            consumer.assign(tps)
            end = await consumer.end_offsets(tps)
            begin = await consumer.beginning_offsets(tps)
            remaining = {tp for tp in tps if end[tp] > begin[tp]}
            for tp in tps:
                consumer.seek(tp, max(begin[tp], end[tp] - limit))
            out: list[DeadLetter] = []
            while remaining:
                batch = await consumer.getmany(*remaining, timeout_ms=READ_TIMEOUT_MS)
                for records in batch.values():
                    out.extend(_letter(r) for r in records)
                for tp in list(remaining):
                    if await consumer.position(tp) >= end[tp]:
                        remaining.discard(tp)
                if not batch:
                    break  # nothing more within the timeout (e.g. an aborted tail)
            return sorted(out, key=lambda d: (d.partition, d.offset))
        finally:
            await consumer.stop()

    async def one(self, topic: str, partition: int, offset: int) -> DeadLetter | None:
        if not 0 <= partition < DLT_PARTITIONS:
            return None
        consumer = self._consumer()
        await consumer.start()
        try:
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            end = (await consumer.end_offsets([tp]))[tp]
            begin = (await consumer.beginning_offsets([tp]))[tp]
            if not begin <= offset < end:
                return None
            consumer.seek(tp, offset)
            try:
                rec = await asyncio.wait_for(consumer.getone(tp), READ_TIMEOUT_MS / 1000 * 5)
            except TimeoutError:
                return None
            return _letter(rec) if rec.offset == offset else None
        finally:
            await consumer.stop()

    async def redrive(self, letter: DeadLetter) -> None:
        """Send the original bytes, key and headers back to the original topic."""
        headers = [(k, v.encode()) for k, v in letter.headers.items() if not k.startswith("dlt-")]
        headers.append(("ail-redriven-from", f"{letter.topic}:{letter.partition}:{letter.offset}".encode()))
        producer = make_producer(self.bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait(
                letter.source_topic,
                value=letter.value,
                key=letter.key.encode() if letter.key is not None else None,
                headers=headers,
            )
        finally:
            await producer.stop()


def _letter(rec: Any) -> DeadLetter:
    return DeadLetter(
        topic=rec.topic,
        partition=rec.partition,
        offset=rec.offset,
        timestamp_ms=rec.timestamp,
        key=rec.key.decode("utf-8", errors="replace") if rec.key is not None else None,
        value=rec.value or b"",
        headers=_decode_headers(rec.headers),
    )


async def actions(conn: asyncpg.Connection, topic: str) -> dict[tuple[int, int], list[dict[str, Any]]]:
    rows = await conn.fetch(
        f"SELECT dlt_partition, dlt_offset, action, reason, actor, acted_at FROM {SCHEMA}.ops_actions"
        " WHERE dlt_topic = $1 ORDER BY id",
        topic,
    )
    out: dict[tuple[int, int], list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault((r["dlt_partition"], r["dlt_offset"]), []).append(
            {
                "action": r["action"],
                "reason": r["reason"],
                "actor": r["actor"],
                "at": r["acted_at"].isoformat(),
            }
        )
    return out


async def record_action(
    conn: asyncpg.Connection, letter: DeadLetter, *, action: str, reason: str, actor: str
) -> dict[str, Any]:
    # The application the message belongs to (its envelope's aggregate and tenant), so that the
    # action shows in that application's history (queries.history).
    env = letter.envelope()
    row = await conn.fetchrow(
        f"INSERT INTO {SCHEMA}.ops_actions (dlt_topic, dlt_partition, dlt_offset, source_topic, message_key,"
        " action, reason, actor, aggregate_id, tenant, event_id, event_type)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING acted_at",
        letter.topic,
        letter.partition,
        letter.offset,
        letter.source_topic,
        letter.key,
        action,
        reason,
        actor,
        env.aggregate_id if env else None,
        env.tenant if env else None,
        str(env.event_id) if env else None,
        env.event_type if env else None,
    )
    assert row is not None
    return {"action": action, "reason": reason, "actor": actor, "at": row["acted_at"].isoformat()}


__all__ = ["DeadLetterStore", "dead_letter_topic", "dead_letter_topics"]
