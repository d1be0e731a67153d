"""The consumer loop: apply each event in a database transaction with its inbox record, commit
Kafka offsets only after the database has committed, and send what cannot be applied to the
dead-letter topic ``<topic>.dlt`` with the reason.

``process_batch`` is the pure part (unit-tested without Kafka); ``EventConsumer`` is the thin loop.

What a failure means (``classify``):

* ``outage`` (``is_transient``): the database (or the network to it) is away or busy: connection
  refused / reset / closed, asyncpg connection and interface errors, "cannot connect now",
  admin / crash shutdown, too many connections, timeouts, serialization failure, deadlock. The
  consumer holds its position and retries the same events with backoff (capped at
  ``OUTAGE_BACKOFF_CAP`` seconds) until the database is back, however long that takes; it
  never dead-letters them. It says so: a ``consumer_waiting_for_database`` log line per retry and
  ``waiting_for_database_since`` in the service's /healthz.
* ``refused``: the event itself can never be applied: undecodable, an unknown major version, a
  payload that does not fit its type, a handler's ``PermanentError`` or domain refusal
  (``AilError``), a constraint or data error of PostgreSQL. It goes to ``<topic>.dlt`` at once.
* ``error``: anything else (a bug): tried once more, then dead-lettered with the error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, TypeVar

import asyncpg
from aiokafka import TopicPartition
from opentelemetry.trace import SpanKind
from pydantic import ValidationError

from ail_shared import inbox, metrics
from ail_shared.errors import AilError, EventError
from ail_shared.events import Envelope, Event, decode_envelope, parse_payload
from ail_shared.kafka import make_consumer, make_producer
from ail_shared.logging import get_logger
from ail_shared.retry import backoff
from ail_shared.telemetry import context_from_kafka_headers, continue_trace
from ail_shared.unit_of_work import batch_scope

log = get_logger("ail.consumer")

# A handler applies one event inside an open transaction on ``conn``.
Handler = Callable[[asyncpg.Connection, Envelope, Event], Awaitable[None]]
# What a consumer is given: the event types it applies, each with its handler. Keyed by type, so
# a handler is only ever called with the event it is written for.
Handlers = Mapping[type[Event], Handler]

U = TypeVar("U")
# A service's event handler: takes the service's unit of work (on the consumer's transaction, which
# holds the inbox record), the typed event and its envelope.
EventHandler = Callable[[U, Any, Envelope], Awaitable[None]]


def bind_handlers(
    table: Mapping[type[Event], EventHandler[U]], unit_of_work: Callable[[asyncpg.Connection], U]
) -> Handlers:
    """Turn a service's ``EVENT_HANDLERS`` (type -> handler taking a unit of work) into what the
    consumer calls: each event gets a unit of work on the consumer's open transaction."""

    def bound(handler: EventHandler[U]) -> Handler:
        async def apply(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
            await handler(unit_of_work(conn), event, env)

        return apply

    return {event_type: bound(handler) for event_type, handler in table.items()}


def handled_names(handlers: Handlers) -> set[str]:
    """The ``event_type`` names of the envelopes a consumer applies (others are skipped)."""
    return {event_type.__name__ for event_type in handlers}


class BatchUnitFailed(Exception):
    """A unit of work failed inside a batch whose handler went on: the batch is rolled back and
    applied one event at a time (each unit of work with its savepoint)."""


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

    # Apply a poll's records of every partition in one transaction (True), or each partition's
    # in its own (a subclass whose batch step handles one partition at a time: the signer's).
    merge_partitions = True

    def __init__(
        self,
        *,
        name: str,
        topics: list[str],
        handlers: Handlers,
        pool: asyncpg.Pool,
        schema: str,
        bootstrap: str,
        max_attempts: int = 5,
        on_applied: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        # Called once the events of a batch are committed (and only if one was applied): wakes
        # the worker that takes up what they queued (e.g. a license to deliver) at once instead
        # of at its next poll (issue 16: "woken on commit everywhere").
        self.on_applied = on_applied
        self.topics = topics
        self.handlers = dict(handlers)
        self.pool = pool
        self.schema = schema
        self.bootstrap = bootstrap
        # Tries of an event whose handler fails with an error that is neither an outage nor a
        # refusal (a bug) before it is dead-lettered. Outages are retried for ever.
        self.max_attempts = max_attempts
        self.stats = BatchOutcome()
        self.ready = asyncio.Event()
        # Set while the consumer holds its position waiting for the database (shown in /healthz).
        self.waiting_since: datetime | None = None
        self.last_error: str | None = None
        self._stopping = asyncio.Event()
        # What this member last committed per partition (see _commit_positions).
        self._committed: dict[TopicPartition, int] = {}

    def stop(self) -> None:
        self._stopping.set()

    async def _apply(self, env: Envelope, event: Event, rec: Record) -> str:
        async with self.pool.acquire() as conn, conn.transaction():
            return await self._apply_in(conn, env, event, rec)

    async def _apply_all(self, items: list[tuple[Envelope, Event, Record]]) -> list[str]:
        """Every event of a polled batch in one transaction; their inbox records claimed in one
        statement first (``inbox.claim_many``), so a batch costs one BEGIN, one claim and one
        COMMIT however many events it has, plus each handler's own statements."""
        async with self.pool.acquire() as conn, conn.transaction():
            fresh = await inbox.claim_many(
                conn,
                schema=self.schema,
                consumer=self.name,
                events=[(env.event_id, env.event_type) for env, _, _ in items],
            )
            results = []
            # Units of work on the batch's transaction take no savepoint (ail_shared.unit_of_work):
            # one that failed, even if its handler went on, fails the batch (one at a time then).
            with batch_scope(conn) as scope:
                for env, event, rec in items:
                    new = env.event_id in fresh
                    fresh.discard(env.event_id)  # the same event twice in a batch: applied once
                    results.append(await self._apply_in(conn, env, event, rec, claimed=new))
                    if scope.failed is not None:
                        raise BatchUnitFailed(
                            f"a unit of work of {env.event_type} {env.event_id} failed inside the batch"
                        ) from scope.failed
            return results

    async def _apply_in(
        self, conn: asyncpg.Connection, env: Envelope, event: Event, rec: Record, claimed: bool | None = None
    ) -> str:
        """Apply one event on ``conn`` (in its transaction). ``claimed``: whether the caller has
        already claimed its inbox record (True: new, False: seen before); None: claim it here."""
        handler = self.handlers[type(event)]
        carrier = env.trace_context or context_from_kafka_headers(rec.headers)
        with continue_trace(
            carrier,
            f"{rec.topic} process",
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": rec.topic,
                "messaging.consumer.group.name": self.name,
                "messaging.kafka.offset": rec.offset,
                "ail.event_type": env.event_type,
                "ail.event_id": str(env.event_id),
            },
        ):
            where = {
                "consumer": self.name,
                "topic": rec.topic,
                "partition": rec.partition,
                "offset": rec.offset,
                "event_type": env.event_type,
                "event_id": str(env.event_id),
            }
            if claimed is None:
                claimed = await inbox.claim(
                    conn,
                    schema=self.schema,
                    consumer=self.name,
                    event_id=env.event_id,
                    event_type=env.event_type,
                )
            if not claimed:
                log.debug("event_duplicate", **where)
                return "duplicate"
            await handler(conn, env, event)
            # DEBUG: one line per event (issue 14, item 5); logged before the transaction commits,
            # so a rolled-back batch shows its events again when they are applied for real.
            log.debug("event_applied", **where)
            return "applied"

    async def run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            try:
                await self._run_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except ConsumerStopping:
                return
            except Exception as exc:  # noqa: BLE001 - keep consuming after outages
                failures += 1
                delay = backoff(failures, base=0.5, cap=OUTAGE_BACKOFF_CAP)
                log.error("consumer_error", consumer=self.name, error=repr(exc), retry_in=delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)

    async def _run_once(self) -> None:
        consumer = make_consumer(self.bootstrap, *self.topics, group_id=self.name)
        dlt = make_producer(self.bootstrap)
        # Both starts inside the try: a consumer that started (its group coordination runs in a
        # task of its own and joins the group) and is then left unstopped because the
        # dead-letter producer's start failed (Kafka going away at that moment) stays a member
        # that never polls: it holds its partitions, unread, until max_poll_interval (5 min)
        # drops it. Seen in CI (session 8): the signer's requests stalled 3 minutes after
        # Kafka's kill in the chaos run ("Unclosed AIOKafkaConsumer" in its log).
        try:
            await consumer.start()
            await dlt.start()
            self.ready.set()
            handled = handled_names(self.handlers)
            while not self._stopping.is_set():
                batch = await consumer.getmany(timeout_ms=500, max_records=500)
                # One transaction for the whole poll, every partition's records together (issue
                # 16, fix 2): each partition's records keep their order, and partitions are
                # independent of each other, so applying them in one transaction changes no
                # order rule; a failure falls back to one record at a time (the bad one alone
                # is dead-lettered).
                if self.merge_partitions:
                    records = [rec for recs in batch.values() for rec in recs]
                    if records:
                        await self._process_with_retries(consumer, dlt, None, records, handled)
                else:
                    for tp, recs in batch.items():
                        await self._process_with_retries(consumer, dlt, tp, recs, handled)
                await self._commit_positions(consumer)
        finally:
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await dlt.stop()

    async def _commit_positions(self, consumer: Any) -> None:
        """Commit the position the consumer reports where it is past what was committed, and
        export the lag. After the last event of a Kafka transaction comes its commit marker, a
        control record no consumer is given: committing "last offset + 1" would leave the
        group one behind the log end for ever (a false lag of 1 in kafka-consumer-groups.sh
        and in every lag alert). The position is past the marker once the fetch has skipped it,
        and never past an event not yet applied: every event returned by getmany has been
        applied (or dead-lettered) and committed before this runs."""
        assigned = consumer.assignment()
        ahead: dict[TopicPartition, int] = {}
        stable: dict[TopicPartition, int | None] = {}
        for tp in assigned:
            with contextlib.suppress(Exception):  # revoked meanwhile (a rebalance)
                stable[tp] = consumer.last_stable_offset(tp)
            if stable.get(tp) is None:
                continue  # not fetched yet: the position may still be unknown
            try:
                position = await asyncio.wait_for(consumer.position(tp), 1.0)
            except Exception:  # noqa: BLE001 - revoked meanwhile: the next owner commits
                continue
            if position > self._committed.get(tp, -1):
                ahead[tp] = position
        if ahead:
            await consumer.commit(ahead)
            self._committed.update(ahead)
        keep = {(tp.topic, tp.partition) for tp in assigned}
        seen = {(tp.topic, tp.partition) for tp in self._committed}
        metrics.forget_partitions(self.name, keep, seen)
        for tp, last_stable in stable.items():
            if tp in self._committed:
                metrics.consumer_lag(
                    self.name, tp.topic, tp.partition, committed=self._committed[tp], last_stable=last_stable
                )
        self._committed = {tp: off for tp, off in self._committed.items() if tp in assigned}

    async def wait_out_outage(self, exc: BaseException, attempt: int, **where: Any) -> None:
        """Hold the position through a database outage: log, show it in /healthz, sleep with
        capped backoff. Raises ConsumerStopping if the service stops meanwhile."""
        now = datetime.now(UTC)
        if self.waiting_since is None:
            self.waiting_since = now
        self.last_error = repr(exc)
        delay = outage_delay(attempt)
        log.error(
            "consumer_waiting_for_database",
            consumer=self.name,
            since=self.waiting_since.isoformat(),
            waited_seconds=round((now - self.waiting_since).total_seconds(), 1),
            attempt=attempt,
            error=repr(exc),
            retry_in=delay,
            next_step="holding the position (nothing is dead-lettered); retrying until PostgreSQL answers",
            **where,
        )
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), delay)
        if self._stopping.is_set():
            raise ConsumerStopping

    def outage_over(self) -> None:
        if self.waiting_since is not None:
            log.info(
                "consumer_database_back",
                consumer=self.name,
                waited_seconds=round((datetime.now(UTC) - self.waiting_since).total_seconds(), 1),
            )
            self.waiting_since = None

    async def _process_with_retries(
        self, consumer: Any, dlt: Any, tp: TopicPartition | None, records: list[Any], handled: set[str]
    ) -> None:
        """Apply ``records`` (one partition's, ``tp``, or a whole poll's, ``tp`` None) in one
        transaction; on a failure that is not an outage, one record at a time."""
        if len(records) > 1:
            attempt = 0
            while True:
                attempt += 1
                try:
                    outcome = await process_batch(records, self._apply, handled, self._apply_all)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an outage waits; else find the bad event
                    if is_transient(exc):
                        partitions = sorted({rec.partition for rec in records})
                        await self.wait_out_outage(exc, attempt, partitions=partitions, records=len(records))
                        continue
                    log.info(
                        "consumer_batch_fallback", consumer=self.name, size=len(records), error=repr(exc)
                    )
                    break
                else:
                    self.outage_over()
                    await self._finish(consumer, dlt, outcome)
                    return
        total = BatchOutcome()
        for rec in records:
            outcome = await self._process_one(rec, handled)
            total.commits.update(outcome.commits)
            total.applied += outcome.applied
            total.duplicates += outcome.duplicates
            total.ignored += outcome.ignored
            total.dead_letters.extend(outcome.dead_letters)
        await self._finish(consumer, dlt, total)

    async def _process_one(self, rec: Record, handled: set[str]) -> BatchOutcome:
        """Apply one record: an outage is waited out (for ever), a refusal is dead-lettered at
        once, any other error after ``min(2, max_attempts)`` tries."""
        attempt = errors = 0
        while True:
            attempt += 1
            try:
                outcome = await process_batch([rec], self._apply, handled)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - decide below: wait, retry or dead-letter
                kind = classify(exc)
                if kind == "outage":
                    await self.wait_out_outage(exc, attempt, partition=rec.partition, offset=rec.offset)
                    continue
                errors += 1
                # A bug or bad data fails the same way every time: one more try at most, so it
                # does not hold the partition back.
                if kind == "refused" or errors >= min(2, self.max_attempts):
                    self.outage_over()
                    reason = (
                        "handler_refused" if kind == "refused" else f"handler_failed after {errors} attempts"
                    )
                    outcome = BatchOutcome(commits={(rec.topic, rec.partition): rec.offset + 1})
                    outcome.dead_letters.append(DeadLetter(rec, f"{reason}: {exc!r}"))
                    return outcome
                log.warning(
                    "consumer_retry", consumer=self.name, offset=rec.offset, attempt=attempt, error=repr(exc)
                )
                continue
            self.outage_over()
            return outcome

    async def _finish(self, consumer: Any, dlt: Any, outcome: BatchOutcome) -> None:
        if outcome.applied and self.on_applied is not None:
            self.on_applied()  # the database has committed them: what they queued is visible
        for dl in outcome.dead_letters:
            await send_dead_letter(dlt, dl, consumer_name=self.name)
        if outcome.commits:
            offsets = {TopicPartition(t, p): off for (t, p), off in outcome.commits.items()}
            await consumer.commit(offsets)
            self._committed.update(offsets)
        if outcome.commits:
            # A batch is one poll's records (one topic per consumer here); the dead letters carry
            # their own.
            topics = sorted({t for t, _ in outcome.commits})
            metrics.consumer_batch(
                self.name,
                topics[0] if len(topics) == 1 else ",".join(topics),
                applied=outcome.applied,
                duplicates=outcome.duplicates,
                ignored=outcome.ignored,
                dead_letters=[(dl.record.topic, dl.reason) for dl in outcome.dead_letters],
            )
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


# Exception types that mean "the database (or the way to it) is away or busy", not "this event".
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, BrokenPipeError, ...
    TimeoutError,  # asyncio.TimeoutError too (Python 3.11), asyncpg's command/connect timeouts
    asyncpg.PostgresConnectionError,  # class 08, incl. "connection was closed in the middle of operation"
    asyncpg.InterfaceError,  # pool closing/closed, connection released or lost
    asyncpg.InternalClientError,
)
# SQLSTATE classes (first two characters) and codes that are outages or contention.
TRANSIENT_SQLSTATE_CLASSES = frozenset(
    {
        "08",  # connection exception
        "40",  # transaction rollback: serialization failure 40001, deadlock 40P01
        "53",  # insufficient resources: too many connections 53300, disk full, out of memory
        "57",  # operator intervention: admin shutdown 57P01, crash shutdown, cannot connect now, canceled
        "58",  # system error (I/O)
    }
)
TRANSIENT_SQLSTATES = frozenset({"55P03", "25006"})  # lock not available; read-only (fail-over)
OUTAGE_BACKOFF_CAP = 10.0

Failure = Literal["outage", "refused", "error"]


def _causes(exc: BaseException) -> Iterable[BaseException]:
    """``exc`` and what it was raised from or during (a handler may wrap a database error)."""
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen and len(seen) < 10:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, TRANSIENT_ERRORS):
        return True
    state = getattr(exc, "sqlstate", None)
    if isinstance(exc, asyncpg.PostgresError) and isinstance(state, str):
        return state[:2] in TRANSIENT_SQLSTATE_CLASSES or state in TRANSIENT_SQLSTATES
    return False


def is_transient(exc: BaseException) -> bool:
    """An outage or contention that goes away by itself: wait and retry, never dead-letter."""
    return any(_is_transient_one(e) for e in _causes(exc))


def classify(exc: BaseException) -> Failure:
    """What a failure to apply an event means (see the module doc)."""
    if is_transient(exc):
        return "outage"
    if isinstance(exc, PermanentError | ValidationError | AilError | asyncpg.PostgresError):
        # A PostgresError that is not an outage: a constraint, data or syntax error, which
        # fails the same way on every try.
        return "refused"
    return "error"


def outage_delay(attempt: int) -> float:
    """Backoff while waiting for the database (the shared ``ail_shared.retry.backoff``): 0.4 s,
    0.8 s, ... at most OUTAGE_BACKOFF_CAP."""
    return backoff(attempt, base=0.4, cap=OUTAGE_BACKOFF_CAP)


class ConsumerStopping(Exception):
    """The service is stopping while the consumer waits out an outage: leave without committing."""


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
