"""The consumer loop: apply each event in a database transaction with its inbox record, commit
Kafka offsets only after the database has committed, and send what cannot be applied to the
dead-letter topic ``<topic>.dlt`` with the reason.

``process_batch`` is the pure part (unit-tested without Kafka); ``EventConsumer`` is the thin loop.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg
from aiokafka import TopicPartition
from pydantic import ValidationError

from ail_shared import inbox
from ail_shared.errors import EventError
from ail_shared.events import Envelope, Event, decode_envelope, parse_payload
from ail_shared.kafka import make_consumer, make_producer
from ail_shared.logging import get_logger
from ail_shared.telemetry import context_from_kafka_headers, continue_trace

log = get_logger("ail.consumer")

# A handler applies one event inside an open transaction on ``conn``.
Handler = Callable[[asyncpg.Connection, Envelope, Event], Awaitable[None]]


class PermanentError(Exception):
    """Raised by a handler for an event that can never be applied: goes to the dead-letter topic."""


class Record(Protocol):
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


@dataclass
class DeadLetter:
    record: Record
    reason: str


@dataclass
class BatchOutcome:
    commits: dict[tuple[str, int], int] = field(default_factory=dict)  # next offset to read
    applied: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)


# Applies one decoded event; returns "applied", "duplicate" or "ignored".
ApplyFn = Callable[[Envelope, Event, Record], Awaitable[str]]
# Applies many decoded events at once (one transaction); returns one such word per event.
ApplyAllFn = Callable[[list[tuple[Envelope, Event, Record]]], Awaitable[list[str]]]


async def process_batch(
    records: Iterable[Record],
    apply: ApplyFn,
    handled_types: set[str],
    apply_all: ApplyAllFn | None = None,
) -> BatchOutcome:
    """Decide what happens to each record. Never raises for a bad message; a handler error that
    is not permanent propagates (the loop retries the batch from the last committed offset).

    With ``apply_all``, every decodable event of the batch is applied in one call (one database
    transaction, one commit to disk); any handler error then propagates, and the caller falls
    back to applying one event at a time, which tells the bad event from the good ones."""
    out = BatchOutcome()
    ready: list[tuple[Envelope, Event, Record]] = []
    for rec in records:
        out.commits[(rec.topic, rec.partition)] = rec.offset + 1
        try:
            env = decode_envelope(rec.value)
            if env.event_type not in handled_types:
                out.ignored += 1
                continue
            event = parse_payload(env)
        except EventError as exc:
            out.dead_letters.append(DeadLetter(rec, f"{exc.code}: {exc.message}"))
            continue
        if apply_all is not None:
            ready.append((env, event, rec))
            continue
        try:
            result = await apply(env, event, rec)
        except (PermanentError, ValidationError) as exc:
            out.dead_letters.append(DeadLetter(rec, f"handler_refused: {exc}"))
            continue
        _tally(out, result)
    if ready:
        assert apply_all is not None
        for result in await apply_all(ready):
            _tally(out, result)
    return out


def _tally(out: BatchOutcome, result: str) -> None:
    if result == "applied":
        out.applied += 1
    elif result == "duplicate":
        out.duplicates += 1
    else:
        out.ignored += 1


class EventConsumer:
    """Consumes ``topics`` as group ``name`` and applies events with ``handlers``."""

    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        handlers: dict[str, Handler],
        pool: asyncpg.Pool,
        schema: str,
        bootstrap: str,
        max_attempts: int = 5,
    ) -> None:
        self.name = name
        self.topics = topics
        self.handlers = handlers
        self.pool = pool
        self.schema = schema
        self.bootstrap = bootstrap
        self.max_attempts = max_attempts
        self.stats = BatchOutcome()
        self.ready = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()

    async def _apply(self, env: Envelope, event: Event, rec: Record) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._apply_in(conn, env, event, rec)

    async def _apply_all(self, items: list[tuple[Envelope, Event, Record]]) -> list[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            return [await self._apply_in(conn, env, event, rec) for env, event, rec in items]

    async def _apply_in(self, conn: asyncpg.Connection, env: Envelope, event: Event, rec: Record) -> str:
        handler = self.handlers[env.event_type]
        carrier = env.trace_context or context_from_kafka_headers(rec.headers)
        with continue_trace(
            carrier, f"consume {env.event_type}", consumer=self.name, event_id=str(env.event_id)
        ):
            if not await inbox.claim(
                conn,
                schema=self.schema,
                consumer=self.name,
                event_id=env.event_id,
                event_type=env.event_type,
            ):
                return "duplicate"
            await handler(conn, env, event)
            return "applied"

    async def run(self) -> None:
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._run_once()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep consuming after outages
                log.error("consumer_error", consumer=self.name, error=repr(exc), retry_in=backoff)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _run_once(self) -> None:
        consumer = make_consumer(self.bootstrap, *self.topics, group_id=self.name)
        dlt = make_producer(self.bootstrap)
        await consumer.start()
        await dlt.start()
        try:
            self.ready.set()
            handled = set(self.handlers)
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                for tp, records in batch.items():
                    await self._process_with_retries(consumer, dlt, tp, records, handled)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await dlt.stop()

    async def _process_with_retries(
        self, consumer: Any, dlt: Any, tp: TopicPartition, records: list[Any], handled: set[str]
    ) -> None:
        if len(records) > 1:
            try:
                outcome = await process_batch(records, self._apply, handled, self._apply_all)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - find the bad event one at a time below
                log.info("consumer_batch_fallback", consumer=self.name, size=len(records), error=repr(exc))
            else:
                await self._finish(consumer, dlt, outcome)
                return
        total = BatchOutcome()
        for rec in records:
            attempt = 0
            while True:
                attempt += 1
                try:
                    outcome = await process_batch([rec], self._apply, handled)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - decide below: retry or dead-letter
                    # An outage (database, network) is worth waiting out; a bug or bad data
                    # fails the same way every time, so it goes to the dead-letter topic after
                    # one more try instead of holding the partition back.
                    transient = is_transient(exc)
                    limit = self.max_attempts if transient else min(2, self.max_attempts)
                    if attempt >= limit:
                        outcome = BatchOutcome(commits={(rec.topic, rec.partition): rec.offset + 1})
                        outcome.dead_letters.append(
                            DeadLetter(rec, f"handler_failed after {attempt} attempts: {exc!r}")
                        )
                        break
                    delay = min(0.2 * 2**attempt, 5.0) if transient else 0.0
                    log.warning(
                        "consumer_retry",
                        consumer=self.name,
                        offset=rec.offset,
                        attempt=attempt,
                        error=repr(exc),
                        retry_in=delay,
                    )
                    await asyncio.sleep(delay)
            total.commits.update(outcome.commits)
            total.applied += outcome.applied
            total.duplicates += outcome.duplicates
            total.ignored += outcome.ignored
            total.dead_letters.extend(outcome.dead_letters)
        await self._finish(consumer, dlt, total)

    async def _finish(self, consumer: Any, dlt: Any, outcome: BatchOutcome) -> None:
        for dl in outcome.dead_letters:
            await send_dead_letter(dlt, dl, consumer_name=self.name)
        if outcome.commits:
            await consumer.commit({TopicPartition(t, p): off for (t, p), off in outcome.commits.items()})
        self.stats.applied += outcome.applied
        self.stats.duplicates += outcome.duplicates
        self.stats.ignored += outcome.ignored
        self.stats.dead_letters.extend(outcome.dead_letters)
        if outcome.dead_letters:
            for dl in outcome.dead_letters:
                log.warning(
                    "dead_lettered",
                    consumer=self.name,
                    topic=dl.record.topic,
                    offset=dl.record.offset,
                    reason=dl.reason,
                )


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes ConnectionError
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.TooManyConnectionsError,
    asyncpg.CannotConnectNowError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.LockNotAvailableError,
    asyncpg.QueryCanceledError,
)


def is_transient(exc: BaseException) -> bool:
    """Errors that may go away by themselves (outages, contention), as opposed to bad data."""
    return isinstance(exc, TRANSIENT_ERRORS)


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlt"


async def send_dead_letter(producer: Any, dl: DeadLetter, *, consumer_name: str) -> None:
    rec = dl.record
    headers = [(k, v) for k, v in (rec.headers or ()) if not k.startswith("dlt-")]
    headers += [
        ("dlt-reason", dl.reason.encode()),
        ("dlt-source-topic", rec.topic.encode()),
        ("dlt-source-partition", str(rec.partition).encode()),
        ("dlt-source-offset", str(rec.offset).encode()),
        ("dlt-consumer", consumer_name.encode()),
    ]
    await producer.send_and_wait(dead_letter_topic(rec.topic), value=rec.value, key=rec.key, headers=headers)
