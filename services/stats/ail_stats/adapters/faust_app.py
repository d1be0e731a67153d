"""The faust-streaming app of the statistics service: the source topic, the two tables with
changelog topics (memory store, recovered from the changelog on start) and their adapters, the
dead-letter producer. The agent that folds approvals into the tables is wired in
``entrypoints/consumers.py``; what it writes, in ``service_layer/handlers.py``.

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
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import faust
from aiokafka.admin import AIOKafkaAdminClient

from ail_shared import topics
from ail_shared.errors import ConfigError
from ail_shared.failpoints import failpoint
from ail_shared.kafka import make_producer
from ail_shared.logging import get_logger
from ail_stats.domain.figures import Shard

log = get_logger("ail.stats.faust")

APP_ID = "ail-stats"  # consumer group id and prefix of faust's own topics
PARTITIONS = 6  # default; must equal the partitions of ail.submission (faust co-partitions tables)
APPROVALS_TABLE = "approvals"
FIGURES_TABLE = "figures"


def changelog_topics() -> list[str]:
    return [f"{APP_ID}-{APPROVALS_TABLE}-changelog", f"{APP_ID}-{FIGURES_TABLE}-changelog"]


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


class ApprovalTable:
    """``approvals``: application id -> the source position of the approval that counted."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, application_id: str) -> Mapping[str, Any] | None:
        value: Mapping[str, Any] | None = self.table.get(application_id)
        return value

    def put(self, application_id: str, record: dict[str, Any]) -> None:
        self.table[application_id] = record


class FigureTable:
    """``figures``: figure key -> totals; with an (enterprise, year) index for the queries.

    The index follows the agent's writes (``put``). What recovery does to the table it does
    behind the adapter's back: it writes the changelog's keys, and faust's memory store then
    drops the keys of partitions this worker no longer holds (``on_recovery_completed``, after
    every rebalance). So each completed recovery (faust's ``on_recover`` callback) marks the
    index stale, and the next query rebuilds it from the table. (Before session 8 the index
    trusted the table's size: a rebalance that dropped keys and folds that added as many left
    it stale, and the figures of keys it missed were left out of the answer.)"""

    def __init__(self, table: Any) -> None:
        self.table = table
        # (enterprise, year) -> its figure keys, in insertion order (a dict used as a set)
        self._by_tenant_year: dict[tuple[str, str], dict[str, None]] = {}
        self._stale = True
        self._size = -1  # the table's size when the index last matched it
        on_recover = getattr(table, "on_recover", None)
        if on_recover is not None:  # a faust table (the unit tests use a dict)

            async def recovered() -> None:
                self.recovered()

            on_recover(recovered)

    def recovered(self) -> None:
        """Recovery wrote or dropped keys: rebuild the index at the next query."""
        self._stale = True

    def __len__(self) -> int:
        return len(self.table)

    def get(self, key: str) -> Mapping[str, Any] | None:
        value: Mapping[str, Any] | None = self.table.get(key)
        return value

    def put(self, key: str, record: dict[str, Any]) -> None:
        if key not in self.table and not self._stale and self._size == len(self.table):
            enterprise, month = record["dims"][0], record["dims"][1]
            self._by_tenant_year.setdefault((enterprise, month[:4]), {})[key] = None
            self._size += 1
        self.table[key] = record

    def records(self, enterprises: tuple[str, ...] | list[str], year: str) -> list[dict[str, Any]]:
        """The figures of these enterprises in this year (values read live from the table)."""
        return [value for _, value in self.keyed_records(enterprises, year)]

    def keyed_records(
        self, enterprises: tuple[str, ...] | list[str], year: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """``records`` with their table keys (whose first element is the source partition):
        what a replica hands its peers (``domain.figures.merge_shards``)."""
        index = self._index()
        read = self._reader()
        out = []
        for enterprise in dict.fromkeys(enterprises):
            for key in index.get((enterprise, year), ()):
                value = read(key)
                if value is not None:
                    out.append((key, value))
        return out

    def _reader(self) -> Callable[[str], dict[str, Any] | None]:
        """``get`` of the memory store's own dict when the table has one: a query reads every
        figure of a tenant's year (thousands), and faust's ``Table.get`` runs its sensors'
        ``on_table_get`` for each, about a fifth of a monthly query's time (issue 16, session
        8). The values are the same objects either way; any other table, its ``get``."""
        store = getattr(self.table, "data", None)
        raw = getattr(store, "data", None)
        if isinstance(raw, dict):
            return raw.get
        return self.table.get  # type: ignore[no-any-return]

    def _index(self) -> dict[tuple[str, str], dict[str, None]]:
        """(enterprise, year) -> figure keys; rebuilt from the table after a recovery, or when
        the table's size says something else wrote to it."""
        size = len(self.table)
        if self._stale or size != self._size:
            index: dict[tuple[str, str], dict[str, None]] = {}
            for key in list(self.table.keys()):
                _, enterprise, month, *_ = json.loads(key)
                index.setdefault((enterprise, month[:4]), {})[key] = None
            self._by_tenant_year, self._size, self._stale = index, size, False
        return self._by_tenant_year


class StatsApp:
    """Owns the faust app, its tables and the dead-letter producer; started inside the API process."""

    def __init__(
        self, *, bootstrap: str, datadir: str, session_timeout: float = 6.0, partitions: int = PARTITIONS
    ) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
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
        self.approvals = ApprovalTable(self.app.Table(APPROVALS_TABLE, partitions=partitions, key_type=str))
        self.figures = FigureTable(self.app.Table(FIGURES_TABLE, partitions=partitions, key_type=str))
        self.app.sensors.add(_StopOnSendError())
        self.dlt: Any = None  # aiokafka producer, created in start() (needs the running loop)
        self._started = False

    def agent(self, fold: Callable[[Any], Any], *, name: str) -> None:
        """Run ``fold`` over the source stream, one actor (``concurrency=1``: offsets in order)."""
        self.app.agent(self.source, name=name, concurrency=1)(fold)

    async def start(self, folded: Callable[[], int]) -> None:
        """``folded``: how many approvals this process counted (for the commit failpoint)."""
        # The changelog topics must exist (with 6 partitions) before the first table write, or
        # faust raises PartitionsMismatch inside the agent.
        await topics.ensure_topics(self.bootstrap)
        await self._check_partitions()
        self.dlt = make_producer(self.bootstrap)
        await self.dlt.start()
        # Patched before the app starts, so that no commit can run with faust's own flush.
        buffer = self.app.producer.buffer
        buffer.flush = lambda: _drain_fully(buffer)  # type: ignore[method-assign]
        _arm_commit_failpoint(self.app.consumer, folded)
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
        if self.dlt is not None:
            with contextlib.suppress(Exception):
                await self.dlt.stop()

    def ready(self) -> bool:
        """Running, recovered from the changelogs and holding its partitions."""
        app = self.app
        if not self._started or app.should_stop or app.rebalancing:
            return False
        if not app.tables.recovery.completed.is_set():  # type: ignore[attr-defined]  # TableManager
            return False
        return bool(app.consumer.assignment())

    def held_partitions(self) -> frozenset[int]:
        """The partitions of the source topic this worker owns and has recovered (none while it
        recovers or rebalances): the shards it answers for, beside the other replicas."""
        if not self.ready():
            return frozenset()
        return frozenset(
            tp.partition for tp in self.app.consumer.assignment() if tp.topic == topics.SUBMISSION
        )

    def local_shard(self, enterprises: Sequence[str], year: str) -> Shard:
        """This worker's part of a query (``service_layer.handlers.gather_figures``)."""
        held = self.held_partitions()
        figures = self.figures.keyed_records(list(enterprises), year) if held else []
        return Shard(held, tuple(figures))
