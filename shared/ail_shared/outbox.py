"""Transactional outbox: write events with the state change; a relay publishes them to Kafka.

Exactly-once publication, even when the relay is killed (SIGKILL) at any instant:

* One relay per schema is active at a time: it holds a PostgreSQL advisory lock, and its Kafka
  ``transactional_id`` is ``ail-outbox-<schema>``, so a zombie relay is fenced by the broker.
* Each batch is published in one Kafka transaction, together with a record on the compacted
  topic ``ail.outbox-relay.state`` (key = schema) naming the outbox ids of the batch.
* After the Kafka commit the rows are marked published in PostgreSQL. If the relay dies between
  the two, the next relay reads the last state record on start and marks exactly those ids
  published, so they are not sent again. If it dies before the Kafka commit, the broker aborts the
  transaction (consumers read with ``isolation_level=read_committed``) and the rows are sent again.
* Rows are sent in id order and the message key is the aggregate id, so one application's events
  keep their order on one partition. Writers of one aggregate serialise on its row lock, so id
  order equals commit order per aggregate.
* Only what Kafka acknowledged is marked published: every send of a batch is awaited before the
  Kafka commit (aiokafka would otherwise commit a transaction without the refused records). A
  refusal that can never succeed (``is_permanent_refusal``: message too large, invalid record,
  topic not authorised) aborts the transaction; the refused row is *set aside*
  (``set_aside_at``, ``set_aside_reason``), never sent again and never marked published, and the
  other rows go on. When several rows of one broker batch are refused together, the first of
  them is sent alone to find the culprit. The owning service reacts in the same PostgreSQL
  transaction as the set-aside (``on_set_aside``). Any other error (broker down, timeout, not
  leader, fenced) is an outage: the relay waits and retries, and sets nothing aside.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka import errors as kafka_errors

from ail_shared.errors import InvalidInput
from ail_shared.events import Envelope
from ail_shared.failpoints import delay, failpoint
from ail_shared.kafka import MAX_MESSAGE_BYTES, make_producer
from ail_shared.logging import get_logger
from ail_shared.telemetry import current_trace_context
from ail_shared.workers import Worker

RELAY_STATE_TOPIC = "ail.outbox-relay.state"
log = get_logger("ail.outbox")

# Outbox rows per Kafka transaction (each service's relay; benchmarks/outbox_bench.py measures it).
BATCH_SIZE = 5000

# Room for the Kafka record and batch framing and the headers around an envelope's bytes.
ENVELOPE_HEADROOM_BYTES = 16 * 1024
MAX_ENVELOPE_BYTES = MAX_MESSAGE_BYTES - ENVELOPE_HEADROOM_BYTES

# Broker (or client) refusals that will be the same however often the row is sent.
_PERMANENT: dict[type[BaseException], str] = {
    kafka_errors.MessageSizeTooLargeError: "message_too_large",
    kafka_errors.RecordListTooLargeError: "message_too_large",
    kafka_errors.RecordTooLargeError: "message_too_large",
    kafka_errors.CorruptRecordException: "invalid_record",
    kafka_errors.InvalidTimestampError: "invalid_record",
    kafka_errors.UnsupportedForMessageFormatError: "invalid_record",
    kafka_errors.PolicyViolationError: "invalid_record",
    kafka_errors.InvalidTopicError: "invalid_topic",
    kafka_errors.TopicAuthorizationFailedError: "topic_not_authorized",
}
# INVALID_RECORD (87) is newer than aiokafka's error table: it arrives as a broker error with
# that code (or as UnknownError carrying it).
_INVALID_RECORD_ERRNO = 87


def refusal_code(exc: BaseException) -> str | None:
    """The reason code of a permanent refusal of one message, or None (an outage: retry)."""
    for typ, code in _PERMANENT.items():
        if isinstance(exc, typ):
            return code
    if getattr(exc, "errno", None) == _INVALID_RECORD_ERRNO:
        return "invalid_record"
    return None


def is_permanent_refusal(exc: BaseException) -> bool:
    return refusal_code(exc) is not None


class EventTooLarge(InvalidInput):
    """An event that would be larger than the broker accepts; refused when it is written, so the
    state change that produced it is refused too (a 422 that says what to shorten)."""

    code = "event_too_large"


@dataclass(frozen=True)
class SetAside:
    """An outbox row the broker refused for good, handed to the owning service's hook."""

    id: int
    event_id: UUID
    event_type: str
    topic: str
    message_key: str
    value: bytes
    code: str  # message_too_large, invalid_record, invalid_topic, topic_not_authorized
    reason: str  # the code, the broker's error and the size: what the operator reads


# Called inside the transaction that sets the row aside: the owning service records what the
# refusal means for its aggregate (e.g. the application leaves `submitting`). Raising rolls the
# set-aside back; the relay then retries later (a database outage is the likely cause).
SetAsideHook = Callable[[asyncpg.Connection, SetAside], Awaitable[None]]


async def write_event(conn: asyncpg.Connection, *, schema: str, topic: str, envelope: Envelope) -> None:
    """Add one event to the outbox; call inside the transaction of the state change."""
    await write_events(conn, schema=schema, items=[(topic, envelope)])


async def write_events(
    conn: asyncpg.Connection, *, schema: str, items: Sequence[tuple[str, Envelope]]
) -> None:
    if not items:
        return
    trace_ctx = current_trace_context()
    rows = []
    for topic, env in items:
        if not env.trace_context and trace_ctx:
            env = env.model_copy(update={"trace_context": trace_ctx})
        headers = {
            "event_type": env.event_type,
            "schema_version": env.schema_version,
            "event_id": str(env.event_id),
            **env.trace_context,
        }
        value = env.to_bytes()
        if len(value) > MAX_ENVELOPE_BYTES:
            # Cheaper to refuse here, with the state change, than to have the relay set it aside.
            raise EventTooLarge(
                f"this change would publish a {env.event_type} event of {len(value)} bytes; the"
                f" limit is {MAX_ENVELOPE_BYTES} bytes: shorten the longest text fields (e.g."
                " remarks) or send fewer lines, then try again"
            )
        rows.append((env.event_id, env.event_type, topic, env.aggregate_id, headers, value))
    await conn.executemany(
        f"INSERT INTO {schema}.outbox (event_id, event_type, topic, message_key, headers, value)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        rows,
    )


class OutboxRelay:
    """Publishes one schema's outbox. Run with :meth:`run`; stop with :meth:`stop`."""

    def __init__(
        self,
        *,
        dsn: str,
        bootstrap: str,
        schema: str,
        batch_size: int = BATCH_SIZE,
        poll_interval: float = 0.5,
        on_set_aside: SetAsideHook | None = None,
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.on_set_aside = on_set_aside
        # Tests only: e.g. a larger max_request_size, so the broker (not the client) refuses.
        self.producer_options = dict(producer_options or {})
        self.published = 0
        self.set_aside = 0
        # The loop (leadership, then publishing) runs on the shared worker helper: its backoff
        # after an outage, its wake (LISTEN/NOTIFY) and its stop.
        self.worker = Worker(
            f"outbox-relay-{schema}", self._lead, poll_seconds=0, backoff_base=0.5, schema=schema
        )
        # The id to send alone, after a broker batch of several rows was refused together.
        self._isolate: int | None = None

    def stop(self) -> None:
        self.worker.stop()

    async def run(self) -> None:
        """Wait for leadership, then publish until stopped. An error (broker or database outage)
        is logged by the worker (``worker_failed``) and the relay starts over after its backoff."""
        await self.worker.run()

    async def _lead(self) -> float:
        await self._run_as_leader()
        return 0.0  # it returns when stopping (the worker then leaves) or to start over at once

    def _make_producer(self) -> Any:
        return make_producer(
            self.bootstrap,
            transactional_id=f"ail-outbox-{self.schema}",
            transaction_timeout_ms=60000,
            # No linger (issue 16, paced submit): the relay hands a whole batch to the producer
            # without yielding, then waits for every acknowledgement before it commits, so the
            # records are already batched; lingering only held each batch back 5 ms more, on
            # each of the four relay hops of a submission.
            linger_ms=0,
            **self.producer_options,
        )

    async def _run_as_leader(self) -> None:
        from ail_shared.db import connect

        lock_conn = await connect(self.dsn)
        try:
            while not await lock_conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"ail-outbox-{self.schema}"
            ):
                await self.worker.pause(2.0, wakeable=False)
                if self.worker.stopping:
                    return
            await lock_conn.add_listener("ail_outbox", self._on_notify)
            fetch_conn = await connect(self.dsn)
            mark_conn = await connect(self.dsn)
            try:
                recovered = False
                while not self.worker.stopping:
                    producer = self._make_producer()
                    try:
                        await producer.start()  # inside: a failed start is stopped too
                        if not recovered:
                            await self._recover(mark_conn)
                            recovered = True
                            log.info("outbox_relay_leader", schema=self.schema)
                            self.worker.mark_healthy()  # the next outage backs off from 0.5 s again
                        if not await self._publish_loop(fetch_conn, mark_conn, producer):
                            return
                    finally:
                        with contextlib.suppress(Exception):
                            await producer.stop()
                    # A refused batch leaves aiokafka's sequence numbers past what the broker
                    # holds for that partition (so every later batch there would fail): a new
                    # producer with the same transactional id starts a fresh epoch.
            finally:
                await fetch_conn.close()
                await mark_conn.close()
        finally:
            with contextlib.suppress(Exception):
                await lock_conn.close()

    def _on_notify(self, *args: Any) -> None:
        if args and args[-1] == self.schema:
            self.worker.wake()

    async def _recover(self, conn: asyncpg.Connection) -> None:
        """Mark as published the ids of the last Kafka-committed batch (see module doc)."""
        ids = await last_committed_batch(self.bootstrap, self.schema)
        if ids:
            n = await conn.execute(
                f"UPDATE {self.schema}.outbox SET published_at = clock_timestamp()"
                " WHERE id = ANY($1::bigint[]) AND published_at IS NULL AND set_aside_at IS NULL",
                ids,
            )
            log.info("outbox_relay_recovered", schema=self.schema, batch=len(ids), marked=n)

    async def _fetch(self, conn: asyncpg.Connection, exclude: list[int]) -> list[asyncpg.Record]:
        isolate = self._isolate
        rows: list[asyncpg.Record] = await conn.fetch(
            f"SELECT id, event_id, event_type, topic, message_key, headers, value FROM {self.schema}.outbox"
            # NOT IN a subquery: a hashed subplan. ``NOT (id = ANY($2))`` compared each row with
            # every excluded id once asyncpg's prepared statement went to PostgreSQL's generic
            # plan (the sixth run): 830 ms instead of 65 ms for 5,000 rows past 10,000 excluded,
            # the relay's fixed cost per batch (issue 16, session 9).
            " WHERE published_at IS NULL AND set_aside_at IS NULL AND id NOT IN (SELECT unnest($2::bigint[]))"
            " AND ($3::bigint IS NULL OR id <= $3) ORDER BY id LIMIT $1",
            self.batch_size,
            exclude,
            isolate,
        )
        if isolate is not None:
            if not rows:
                # The suspect went through (or was set aside) while this fetch was prepared.
                self._isolate = None
                return await self._fetch(conn, exclude)
            # Rows before the suspect go out as usual; the suspect goes alone.
            before = [r for r in rows if r["id"] < isolate]
            rows = before or rows[:1]
        return rows

    async def _mark(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await delay("outbox_mark")
        await conn.execute(
            f"UPDATE {self.schema}.outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
            ids,
        )

    async def _send_batch(
        self, producer: Any, rows: list[asyncpg.Record], state_ids: list[int]
    ) -> dict[int, tuple[BaseException, bool]]:
        """Send ``rows`` and the state record in the open Kafka transaction and wait for every
        acknowledgement. Returns the permanent refusals (id -> error, and whether the error is
        that row's for certain); raises for anything else (an outage)."""
        sent: list[tuple[int, asyncio.Future[Any]]] = []
        refused: dict[int, tuple[BaseException, bool]] = {}
        for r in rows:
            headers = [(k, str(v).encode()) for k, v in r["headers"].items()]
            try:
                fut = await producer.send(
                    r["topic"], value=r["value"], key=r["message_key"].encode(), headers=headers
                )
            except Exception as exc:
                if not is_permanent_refusal(exc):
                    raise
                # Refused by the client before sending (larger than max_request_size): this row.
                refused[r["id"]] = (exc, True)
                break
            sent.append((r["id"], fut))
        if not refused:
            state = json.dumps({"ids": state_ids}).encode()
            sent.append((-1, await producer.send(RELAY_STATE_TOPIC, key=self.schema.encode(), value=state)))
        results = await asyncio.gather(*(f for _, f in sent), return_exceptions=True)
        failed = [
            (i, res) for (i, _), res in zip(sent, results, strict=True) if isinstance(res, BaseException)
        ]
        permanent = [(i, res) for i, res in failed if i >= 0 and is_permanent_refusal(res)]
        for i, res in failed:
            if i < 0 or not (permanent or refused):
                raise res  # an outage, or the relay's own state record: never set aside
        # Other failures next to a refusal are its consequence (a refused broker batch leaves
        # the producer's sequence numbers ahead: OutOfOrderSequenceNumber for the partition's
        # next batch); those rows are sent again after the refused one is dealt with.
        if permanent:
            # Every record of a refused broker batch fails with it: one refused record was alone
            # in its batch, so it is the one; several do not say which one is too large.
            alone = len(permanent) == 1
            refused.update({i: (res, alone) for i, res in permanent})
        return refused

    async def _publish_loop(
        self, fetch_conn: asyncpg.Connection, mark_conn: asyncpg.Connection, producer: Any
    ) -> bool:
        """Publish batches, overlapping PostgreSQL work with the Kafka commit. Returns True when
        the caller must start a new producer (after a refused batch), False when stopping.

        While batch N commits to Kafka, batch N+1 is fetched; while batch N+1 is sent, batch N is
        marked published. So the state record of batch N+1 names N's ids too ("unconfirmed"):
        after a crash, recovery marks every id that Kafka has and PostgreSQL may not.
        """
        pending_mark: asyncio.Task[None] | None = None
        next_fetch: asyncio.Task[list[asyncpg.Record]] | None = None
        unconfirmed: list[int] = []
        try:
            rows = await self._fetch(fetch_conn, [])
            while not self.worker.stopping:
                if not rows:
                    if pending_mark is not None:
                        await pending_mark
                        pending_mark, unconfirmed = None, []
                    # Until the poll interval ends or a NOTIFY wakes us (one that came during
                    # the fetch is kept: the next fetch is at once).
                    await self.worker.pause(self.poll_interval)
                    rows = await self._fetch(fetch_conn, [])
                    continue
                ids = [r["id"] for r in rows]
                await producer.begin_transaction()
                try:
                    if self._isolate is None:
                        # The next batch is read while this one is sent (its rows are not
                        # marked yet: they are excluded). A 5 KB batch of 5,000 takes PostgreSQL
                        # ~70 ms, which the Kafka commit alone (~1 ms) did not hide (issue 16).
                        # While a suspect is isolated the read waits for this batch's outcome.
                        next_fetch = asyncio.create_task(self._fetch(fetch_conn, ids + unconfirmed))
                    refused = await self._send_batch(producer, rows, ids + unconfirmed)
                    if refused:
                        await producer.abort_transaction()
                        if next_fetch is not None:  # let it end: its connection stays usable
                            await asyncio.gather(next_fetch, return_exceptions=True)
                            next_fetch = None
                    else:
                        if next_fetch is None:
                            next_fetch = asyncio.create_task(self._fetch(fetch_conn, ids + unconfirmed))
                        await producer.commit_transaction()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.abort_transaction()
                    raise
                if refused:
                    # Nothing of this batch is in Kafka. Finish the previous batch's mark (its
                    # ids are in the last committed state record), then deal with the refusal.
                    if pending_mark is not None:
                        await pending_mark
                        pending_mark, unconfirmed = None, []
                    await self._handle_refusal(mark_conn, rows, refused)
                    return True
                if self._isolate is not None and ids == [self._isolate]:
                    self._isolate = None  # sent alone, it went through: it was not the culprit
                failpoint("outbox_after_kafka_commit")
                if pending_mark is not None:
                    await pending_mark
                unconfirmed = ids
                pending_mark = asyncio.create_task(self._mark(mark_conn, ids))
                self.published += len(ids)
                assert next_fetch is not None
                rows = await next_fetch
                next_fetch = None
            if pending_mark is not None:
                await pending_mark
                pending_mark = None
            return False
        finally:
            for task in (next_fetch, pending_mark):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task

    async def _handle_refusal(
        self,
        conn: asyncpg.Connection,
        rows: list[asyncpg.Record],
        refused: dict[int, tuple[BaseException, bool]],
    ) -> None:
        by_id = {r["id"]: r for r in rows}
        certain = [i for i, (_, alone) in refused.items() if alone or len(rows) == 1]
        if not certain:
            self._isolate = min(refused)
            log.warning(
                "outbox_batch_refused_isolating",
                schema=self.schema,
                refused=len(refused),
                first_id=self._isolate,
                error=repr(next(iter(refused.values()))[0]),
            )
            return
        for i in sorted(certain):
            await self._set_aside(conn, by_id[i], refused[i][0])
        if self._isolate in certain:
            self._isolate = None

    async def _set_aside(self, conn: asyncpg.Connection, row: asyncpg.Record, exc: BaseException) -> None:
        code = refusal_code(exc) or "refused"
        size = len(row["value"])
        reason = f"{code}: Kafka refused the {row['event_type']} event of {size} bytes ({exc!r})"
        item = SetAside(
            id=row["id"],
            event_id=row["event_id"],
            event_type=row["event_type"],
            topic=row["topic"],
            message_key=row["message_key"],
            value=bytes(row["value"]),
            code=code,
            reason=reason,
        )
        async with conn.transaction():
            done = await conn.fetchval(
                f"UPDATE {self.schema}.outbox SET set_aside_at = clock_timestamp(), set_aside_reason = $2"
                " WHERE id = $1 AND published_at IS NULL AND set_aside_at IS NULL RETURNING id",
                item.id,
                reason,
            )
            if done is not None and self.on_set_aside is not None:
                await self.on_set_aside(conn, item)
        if done is not None:
            self.set_aside += 1
            log.error(
                "outbox_row_set_aside",
                schema=self.schema,
                outbox_id=item.id,
                event_id=str(item.event_id),
                event_type=item.event_type,
                topic=item.topic,
                key=item.message_key,
                bytes=size,
                code=code,
                reason=reason,
                next_step=(
                    "the row is kept in the outbox with set_aside_at/set_aside_reason and will not be"
                    " sent; the owning service has been told. Fix the cause (e.g. a smaller event)"
                    " and write a new event; later events are published as usual"
                ),
            )


async def last_committed_batch(bootstrap: str, schema: str) -> list[int]:
    """The ids in the newest committed state record for ``schema`` (empty if none)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        auto_offset_reset="earliest",
        group_id=None,
    )
    await consumer.start()
    try:
        # The state topic has one partition (shared/ail_shared/topics.py creates it so).
        tps = [TopicPartition(RELAY_STATE_TOPIC, 0)]
        consumer.assign(tps)
        end = await consumer.end_offsets(tps)
        for tp, first in (await consumer.beginning_offsets(tps)).items():
            consumer.seek(tp, first)
        latest: list[int] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batch = await consumer.getmany(timeout_ms=1000)
            if not batch:
                # positions may sit on transaction markers past the last record
                remaining = {tp for tp in remaining if await consumer.position(tp) < end[tp]}
                continue
            for tp, messages in batch.items():
                for m in messages:
                    if m.key == schema.encode() and m.value:
                        latest = list(json.loads(m.value)["ids"])
                if await consumer.position(tp) >= end[tp]:
                    remaining.discard(tp)
        return latest
    finally:
        await consumer.stop()


async def _main(schema: str) -> None:  # pragma: no cover - exercised by the relay kill test
    import os

    from ail_shared.logging import configure_logging

    configure_logging(f"outbox-relay-{schema}")
    relay = OutboxRelay(
        dsn=os.environ["AIL_PG_DSN"],
        bootstrap=os.environ["AIL_KAFKA_BOOTSTRAP"],
        schema=schema,
        batch_size=int(os.environ.get("AIL_OUTBOX_BATCH", str(BATCH_SIZE))),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stop)
    await relay.run()


if __name__ == "__main__":  # pragma: no cover
    import sys

    asyncio.run(_main(sys.argv[1]))
