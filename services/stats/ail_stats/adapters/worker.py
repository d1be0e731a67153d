"""The faust-streaming worker: one agent folds approvals from ``ail.submission`` into two tables
with changelog topics (memory store, recovered from the changelog on start).

Settings that keep it from losing or double counting (docs/stats.md explains each):

* ``concurrency=1`` (one actor): events of a partition are processed in offset order and an offset
  is acked only after its table writes were handed to the producer. With concurrency > 1 faust can
  commit past an event still being processed (faust-streaming issue #606).
* ``processing_guarantee="at_least_once"`` plus idempotent folding (``domain.figures.decide``):
  faust flushes the producer (the changelog writes) *before* it commits source offsets, so a crash
  can only redeliver, and a redelivery is recognised through the tables themselves.
  ``exactly_once`` (Kafka transactions) is not used: see docs/stats.md.
* the producer buffer is drained completely before each commit (:func:`_drain_fully`):
  faust's own ``buffer.flush()`` gives up after 0.1 s without a send, which would let a commit
  overtake changelog writes still in faust's buffer.
* recovery cannot hang on a missing standby or leader: ``table_standby_replicas=0`` (one node),
  ``topic_disable_leader=True``, ``consumer_auto_offset_reset="earliest"`` (faust issue #651),
  ``stream_recovery_delay=0``; a SIGKILLed member leaves the group after ``broker_session_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient
from pydantic import ValidationError

from ail_shared import topics
from ail_shared.consumer import DeadLetter, send_dead_letter
from ail_shared.errors import ConfigError, EventError
from ail_shared.events import ReviewResultReceived, decode_envelope, parse_payload
from ail_shared.failpoints import failpoint
from ail_shared.kafka import make_producer
from ail_shared.logging import get_logger
from ail_stats.domain.figures import NotCountable, contribution, decide, figure_key, is_approval

log = get_logger("ail.stats.worker")

APP_ID = "ail-stats"  # consumer group id and prefix of faust's own topics
PARTITIONS = 6  # default; must equal the partitions of ail.submission (faust co-partitions tables)
APPROVALS_TABLE = "approvals"
FIGURES_TABLE = "figures"
CONSUMER_NAME = f"{APP_ID}.fold"


def changelog_topics() -> list[str]:
    return [f"{APP_ID}-{APPROVALS_TABLE}-changelog", f"{APP_ID}-{FIGURES_TABLE}-changelog"]


@dataclass
class FoldStats:
    counted: int = 0
    already_folded: int = 0
    duplicates: int = 0
    ignored: int = 0
    dead_letters: int = 0
    last_error: str = ""
    started_at: float = field(default_factory=time.monotonic)


@dataclass
class _Rec:
    """The shape ``send_dead_letter`` needs."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Any


async def _drain_fully(buffer: Any) -> None:
    """Replacement for faust's ``ProducerBuffer.flush``: wait until *every* buffered message has
    been handed to aiokafka (faust's version returns after 0.1 s without progress)."""
    while buffer.size:
        buffer.message_sent.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(buffer.message_sent.wait(), timeout=1.0)


class _StopOnSendError(faust.Sensor):
    """A changelog write that failed for good (after aiokafka's retries) must not be followed by
    an offset commit: stop the process at once; the restart redelivers the uncommitted events."""

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        log.critical("changelog_send_failed_exiting", error=repr(exc))
        os._exit(70)


def _arm_commit_failpoint(consumer: Any, folded: Callable[[], int]) -> None:
    """Failpoint ``stats_before_offset_commit``: the changelog writes of the batch have been
    flushed, its source offsets are not committed yet (the window a crash test needs). Only
    commits that carry offsets count, once this process has folded
    ``AIL_STATS_FAILPOINT_MIN_FOLDED`` approvals, so a test hits a batch of its own events."""
    commit = consumer._commit  # noqa: SLF001 - faust's Kafka commit, after producer.flush()
    min_folded = int(os.environ.get("AIL_STATS_FAILPOINT_MIN_FOLDED", "0"))

    async def commit_with_failpoint(offsets: Any) -> bool:
        if offsets and folded() >= min_folded:
            failpoint("stats_before_offset_commit")
        result: bool = await commit(offsets)
        return result

    consumer._commit = commit_with_failpoint  # noqa: SLF001


class StatsWorker:
    """Owns the faust app and the dead-letter producer; started inside the API process."""

    def __init__(
        self, *, bootstrap: str, datadir: str, session_timeout: float = 6.0, partitions: int = PARTITIONS
    ) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.stats = FoldStats()
        self.app = faust.App(
            APP_ID,
            broker=f"kafka://{bootstrap}",
            store="memory://",
            datadir=datadir,
            autodiscover=False,
            web_enabled=False,
            topic_partitions=partitions,
            topic_replication_factor=1,
            topic_disable_leader=True,
            table_standby_replicas=0,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            broker_commit_every=500,
            broker_commit_interval=1.0,
            stream_wait_empty=True,
            stream_recovery_delay=0.0,
            broker_session_timeout=session_timeout,
            broker_heartbeat_interval=max(session_timeout / 4, 1.0),
            broker_request_timeout=max(session_timeout * 3, 30.0),
            broker_rebalance_timeout=max(session_timeout * 3, 30.0),
            producer_acks=-1,
            producer_linger=0.005,  # batch the changelog writes a little
            key_serializer="json",
            value_serializer="json",
        )
        self.source = self.app.topic(
            topics.SUBMISSION, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        # Table keys are str, values dicts; both JSON (app-wide key/value serializers).
        self.approvals = self.app.Table(APPROVALS_TABLE, partitions=partitions, key_type=str)
        self.figures = self.app.Table(FIGURES_TABLE, partitions=partitions, key_type=str)
        self.app.agent(self.source, name="fold", concurrency=1)(self._fold)
        self.app.sensors.add(_StopOnSendError())
        self._dlt: Any = None  # aiokafka producer, created in start() (needs the running loop)
        self._started = False
        self._by_tenant_year: dict[tuple[str, str], list[str]] = {}
        self._indexed = -1

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        # The changelog topics must exist (with 6 partitions) before the first table write, or
        # faust raises PartitionsMismatch inside the agent.
        await topics.ensure_topics(self.bootstrap)
        await self._check_partitions()
        self._dlt = make_producer(self.bootstrap)
        await self._dlt.start()
        # Patched before the app starts, so that no commit can run with faust's own flush.
        buffer = self.app.producer.buffer
        buffer.flush = lambda: _drain_fully(buffer)  # type: ignore[method-assign]
        _arm_commit_failpoint(self.app.consumer, lambda: self.stats.counted)
        await self.app.start()
        self._started = True
        log.info("stats_worker_started", app_id=APP_ID, changelogs=changelog_topics())

    async def _check_partitions(self) -> None:
        """Refuse to start when the tables would not be co-partitioned with ail.submission."""
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=15000)
        await admin.start()
        try:
            names = [topics.SUBMISSION, *changelog_topics()]
            described = await admin.describe_topics(names)
        finally:
            await admin.close()
        found = {d["topic"]: len(d.get("partitions") or []) for d in described}
        wrong = {n: found.get(n) for n in names if found.get(n) != self.partitions}
        if wrong:
            raise ConfigError(
                f"stats needs {self.partitions} partitions (AIL_STATS_PARTITIONS) on {', '.join(names)}; "
                f"found {wrong}. Set AIL_STATS_PARTITIONS to the partitions of {topics.SUBMISSION} "
                "and create the changelog topics with as many."
            )

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.app.stop()
        if self._dlt is not None:
            with contextlib.suppress(Exception):
                await self._dlt.stop()

    def ready(self) -> bool:
        """Running, recovered from the changelogs and holding its partitions."""
        app = self.app
        if not self._started or app.should_stop or app.rebalancing:
            return False
        if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # TableManager
            return False
        return bool(app.consumer.assignment())

    def figure_records(self, enterprises: tuple[str, ...] | list[str], year: str) -> list[dict[str, Any]]:
        """The figures of these enterprises in this year (values read live from the table)."""
        index = self._index()
        out = []
        for enterprise in enterprises:
            for key in index.get((enterprise, year), ()):
                value = self.figures.get(key)
                if value is not None:
                    out.append(value)
        return out

    def _index(self) -> dict[tuple[str, str], list[str]]:
        """(enterprise, year) -> figure keys. Keys are never deleted, so a table holding more
        keys than the index (recovery wrote them, not the agent) means: rebuild."""
        size = len(self.figures)
        if size != self._indexed:
            index: dict[tuple[str, str], list[str]] = {}
            for key in list(self.figures.keys()):
                _, enterprise, month, *_ = json.loads(key)
                index.setdefault((enterprise, month[:4]), []).append(key)
            self._by_tenant_year, self._indexed = index, size
        return self._by_tenant_year

    # ------------------------------------------------------------------------------ the agent

    async def _fold(self, stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            headers = msg.headers
            if isinstance(headers, Mapping):
                headers = list(headers.items())
            rec = _Rec(msg.topic, msg.partition, msg.offset, msg.key, msg.value, headers)
            for attempt in range(1, 4):
                try:
                    await self._fold_one(rec)
                    break
                except Exception as exc:  # noqa: BLE001 - never let faust ack an unfolded event
                    self.stats.last_error = f"fold failed: {exc!r}"
                    log.error("fold_failed", offset=rec.offset, partition=rec.partition, error=repr(exc))
                    if attempt == 3:
                        # An exception escaping the agent would let faust ack the event and
                        # commit past it. Stop instead; the restart redelivers it.
                        log.critical("fold_failed_exiting", offset=rec.offset, partition=rec.partition)
                        os._exit(70)
                    await asyncio.sleep(0.5 * attempt)

    async def _fold_one(self, rec: _Rec) -> None:
        try:
            env = decode_envelope(rec.value)
            if env.event_type != "ReviewResultReceived":
                self.stats.ignored += 1
                return
            event = parse_payload(env)
            assert isinstance(event, ReviewResultReceived)
            if not is_approval(event):
                self.stats.ignored += 1
                return
            c = contribution(env.aggregate_id, event)
        except (EventError, NotCountable, ValidationError) as exc:
            reason = f"{exc.code}: {exc.message}" if isinstance(exc, EventError) else f"not_countable: {exc}"
            await self._dead_letter(rec, reason)
            return
        key = figure_key(rec.partition, c)
        d = decide(
            c,
            partition=rec.partition,
            offset=rec.offset,
            seen=self.approvals.get(c.application_id),
            figure=self.figures.get(key),
        )
        # Both writes go to changelog partition rec.partition, before this event is acked.
        if d.figure_record is not None:
            if key not in self.figures and self._indexed == len(self.figures):
                self._by_tenant_year.setdefault((c.enterprise_code, c.month[:4]), []).append(key)
                self._indexed += 1
            self.figures[key] = d.figure_record
        if d.approval_record is not None:
            self.approvals[c.application_id] = d.approval_record
        if d.outcome == "counted":
            self.stats.counted += 1
        elif d.outcome == "duplicate":
            self.stats.duplicates += 1
            log.info("approval_duplicate", application_id=c.application_id, offset=rec.offset)
        else:
            self.stats.already_folded += 1

    async def _dead_letter(self, rec: _Rec, reason: str) -> None:
        delay = 0.5
        while True:  # the event is not acked until its dead letter is stored
            try:
                await send_dead_letter(self._dlt, DeadLetter(rec, reason), consumer_name=CONSUMER_NAME)
                break
            except Exception as exc:  # noqa: BLE001 - broker trouble: retry, visibly
                self.stats.last_error = f"dead-letter send failed: {exc!r}"
                log.error("dead_letter_failed", offset=rec.offset, error=repr(exc), retry_in=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
        self.stats.dead_letters += 1
        log.warning(
            "dead_lettered", topic=rec.topic, partition=rec.partition, offset=rec.offset, reason=reason
        )
