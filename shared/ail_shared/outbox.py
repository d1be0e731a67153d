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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from ail_shared.events import Envelope
from ail_shared.failpoints import delay, failpoint
from ail_shared.kafka import make_producer
from ail_shared.logging import get_logger
from ail_shared.telemetry import current_trace_context

RELAY_STATE_TOPIC = "ail.outbox-relay.state"
log = get_logger("ail.outbox")


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
        rows.append((env.event_id, env.event_type, topic, env.aggregate_id, headers, env.to_bytes()))
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
        batch_size: int = 5000,
        poll_interval: float = 0.5,
    ) -> None:
        self.dsn = dsn
        self.bootstrap = bootstrap
        self.schema = schema
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.published = 0
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Wait for leadership, then publish until stopped. Errors are logged and retried."""
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                await self._run_as_leader()
                backoff = 0.5
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive broker/db outages
                log.error("outbox_relay_error", schema=self.schema, error=repr(exc), retry_in=backoff)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _run_as_leader(self) -> None:
        from ail_shared.db import connect

        lock_conn = await connect(self.dsn)
        try:
            while not await lock_conn.fetchval(
                "SELECT pg_try_advisory_lock(hashtext($1))", f"ail-outbox-{self.schema}"
            ):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), 2.0)
                if self._stopping.is_set():
                    return
            await lock_conn.add_listener("ail_outbox", self._on_notify)
            fetch_conn = await connect(self.dsn)
            mark_conn = await connect(self.dsn)
            producer = make_producer(
                self.bootstrap,
                transactional_id=f"ail-outbox-{self.schema}",
                transaction_timeout_ms=60000,
            )
            await producer.start()
            try:
                await self._recover(mark_conn)
                log.info("outbox_relay_leader", schema=self.schema)
                await self._publish_loop(fetch_conn, mark_conn, producer)
            finally:
                with contextlib.suppress(Exception):
                    await producer.stop()
                await fetch_conn.close()
                await mark_conn.close()
        finally:
            with contextlib.suppress(Exception):
                await lock_conn.close()

    def _on_notify(self, *args: Any) -> None:
        if args and args[-1] == self.schema:
            self._wake.set()

    async def _recover(self, conn: asyncpg.Connection) -> None:
        """Mark as published the ids of the last Kafka-committed batch (see module doc)."""
        ids = await last_committed_batch(self.bootstrap, self.schema)
        if ids:
            n = await conn.execute(
                f"UPDATE {self.schema}.outbox SET published_at = clock_timestamp()"
                " WHERE id = ANY($1::bigint[]) AND published_at IS NULL",
                ids,
            )
            log.info("outbox_relay_recovered", schema=self.schema, batch=len(ids), marked=n)

    async def _fetch(self, conn: asyncpg.Connection, exclude: list[int]) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await conn.fetch(
            f"SELECT id, topic, message_key, headers, value FROM {self.schema}.outbox"
            " WHERE published_at IS NULL AND NOT (id = ANY($2::bigint[])) ORDER BY id LIMIT $1",
            self.batch_size,
            exclude,
        )
        return rows

    async def _mark(self, conn: asyncpg.Connection, ids: list[int]) -> None:
        await delay("outbox_mark")
        await conn.execute(
            f"UPDATE {self.schema}.outbox SET published_at = clock_timestamp() WHERE id = ANY($1::bigint[])",
            ids,
        )

    async def _publish_loop(
        self, fetch_conn: asyncpg.Connection, mark_conn: asyncpg.Connection, producer: Any
    ) -> None:
        """Publish batches, overlapping PostgreSQL work with the Kafka commit.

        While batch N commits to Kafka, batch N+1 is fetched; while batch N+1 is sent, batch N is
        marked published. So the state record of batch N+1 names N's ids too ("unconfirmed"):
        after a crash, recovery marks every id that Kafka has and PostgreSQL may not.
        """
        pending_mark: asyncio.Task[None] | None = None
        next_fetch: asyncio.Task[list[asyncpg.Record]] | None = None
        unconfirmed: list[int] = []
        try:
            rows = await self._fetch(fetch_conn, [])
            while not self._stopping.is_set():
                if not rows:
                    if pending_mark is not None:
                        await pending_mark
                        pending_mark, unconfirmed = None, []
                    self._wake.clear()
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                    rows = await self._fetch(fetch_conn, [])
                    continue
                ids = [r["id"] for r in rows]
                await producer.begin_transaction()
                try:
                    for r in rows:
                        headers = [(k, str(v).encode()) for k, v in r["headers"].items()]
                        await producer.send(
                            r["topic"],
                            value=r["value"],
                            key=r["message_key"].encode(),
                            headers=headers,
                        )
                    await producer.send(
                        RELAY_STATE_TOPIC,
                        key=self.schema.encode(),
                        value=json.dumps({"ids": ids + unconfirmed}).encode(),
                    )
                    next_fetch = asyncio.create_task(self._fetch(fetch_conn, ids + unconfirmed))
                    await producer.commit_transaction()
                except BaseException:
                    with contextlib.suppress(Exception):
                        await producer.abort_transaction()
                    raise
                failpoint("outbox_after_kafka_commit")
                if pending_mark is not None:
                    await pending_mark
                unconfirmed = ids
                pending_mark = asyncio.create_task(self._mark(mark_conn, ids))
                self.published += len(ids)
                rows = await next_fetch
                next_fetch = None
            if pending_mark is not None:
                await pending_mark
                pending_mark = None
        finally:
            for task in (next_fetch, pending_mark):
                if task is not None and not task.done():
                    task.cancel()
                    with contextlib.suppress(BaseException):
                        await task


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
        batch_size=int(os.environ.get("AIL_OUTBOX_BATCH", "5000")),
    )
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, relay.stop)
    await relay.run()


if __name__ == "__main__":  # pragma: no cover
    import sys

    asyncio.run(_main(sys.argv[1]))
