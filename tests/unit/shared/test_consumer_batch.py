"""Issue 16, fix 2: a consumer applies one poll (``getmany``: every partition's records) in ONE
database transaction, with the inbox records of the whole poll claimed in one statement; each
partition's order is kept, a duplicate is still skipped, and a poison event still goes alone to
the dead-letter topic (the poll falls back to one record at a time). The loop is driven with a
fake Kafka consumer and producer and a fake pool that records its transactions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import pytest
from aiokafka import TopicPartition

import ail_shared.consumer as consumer_module
from ail_shared.consumer import EventConsumer, PermanentError, bind_handlers
from ail_shared.events import Envelope, Event, SubmissionAccepted, envelope_for, utcnow
from ail_shared.unit_of_work import PgUnitOfWork


@dataclass
class Rec:
    value: bytes | None
    offset: int
    partition: int
    topic: str = "t"
    key: bytes | None = b"k"
    headers: Any = ()


def _event(app: str) -> tuple[Envelope, bytes]:
    env = envelope_for(
        SubmissionAccepted(application_id=app, submission_id="s", form_no="f", applied_at=utcnow()),
        aggregate_id=app,
        tenant="t",
    )
    return env, env.to_bytes()


@dataclass
class Tx:
    statements: list[str] = field(default_factory=list)
    applied: list[str] = field(default_factory=list)
    outcome: str = "open"


@dataclass
class FakeConn:
    db: FakeDb
    tx: Tx | None = None
    tx_claims: set[UUID] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        self.tx = Tx()
        self.db.transactions.append(self.tx)
        try:
            yield
        except BaseException:
            self.tx.outcome = "rolled back"
            raise
        self.tx.outcome = "committed"
        self.db.inbox |= self.tx_claims
        self.tx_claims = set()

    def transaction(self) -> Any:
        self.tx_claims = set()
        return self._transaction()

    def _claim(self, ids: list[UUID]) -> list[UUID]:
        fresh = [i for i in dict.fromkeys(ids) if i not in self.db.inbox and i not in self.tx_claims]
        self.tx_claims |= set(fresh)
        return fresh

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        assert self.tx is not None
        self.tx.statements.append("claim_many")
        return [{"event_id": i} for i in self._claim(args[1])]

    async def fetchval(self, sql: str, *args: Any) -> Any:
        assert self.tx is not None
        self.tx.statements.append("claim")
        return 1 if self._claim([args[1]]) else None


@dataclass
class FakeDb:
    transactions: list[Tx] = field(default_factory=list)
    inbox: set[UUID] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def _acquire(self) -> AsyncIterator[FakeConn]:
        yield FakeConn(self)

    def acquire(self) -> Any:
        return self._acquire()

    def committed(self) -> list[str]:
        return [a for tx in self.transactions if tx.outcome == "committed" for a in tx.applied]


@dataclass
class FakeKafka:
    polls: list[dict[TopicPartition, list[Rec]]]
    owner: EventConsumer | None = None
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    dead_letters: list[bytes | None] = field(default_factory=list)

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[Rec]]:
        if not self.polls:
            assert self.owner is not None
            self.owner.stop()
            return {}
        return self.polls.pop(0)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)

    def assignment(self) -> set[TopicPartition]:
        return set()

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
        self.dead_letters.append(value)


def _run(
    monkeypatch: pytest.MonkeyPatch,
    polls: list[dict[TopicPartition, list[Rec]]],
    poison: frozenset[str] = frozenset(),
) -> tuple[FakeDb, FakeKafka]:
    db = FakeDb()
    kafka = FakeKafka(polls)

    async def handler(conn: Any, env: Envelope, event: Event) -> None:
        assert isinstance(event, SubmissionAccepted)
        if event.application_id in poison:
            raise PermanentError(f"{event.application_id} can never be applied")
        conn.tx.applied.append(event.application_id)

    consumer = EventConsumer(
        name="test.batch",
        topics=["t"],
        handlers={SubmissionAccepted: handler},
        pool=db,
        schema="s",
        bootstrap="127.0.0.1:1",
    )
    kafka.owner = consumer
    monkeypatch.setattr(consumer_module, "make_consumer", lambda *a, **k: kafka)
    monkeypatch.setattr(consumer_module, "make_producer", lambda *a, **k: kafka)
    return db, kafka


def _poll(*partitions: list[str]) -> tuple[dict[TopicPartition, list[Rec]], dict[str, Envelope]]:
    batch: dict[TopicPartition, list[Rec]] = {}
    envs: dict[str, Envelope] = {}
    for p, apps in enumerate(partitions):
        recs = []
        for offset, app in enumerate(apps):
            env, raw = _event(app)
            envs[app] = env
            recs.append(Rec(raw, offset, p))
        batch[TopicPartition("t", p)] = recs
    return batch, envs


async def test_one_poll_of_three_partitions_is_one_transaction_with_one_inbox_claim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch, _ = _poll(["a1", "a2"], ["b1", "b2"], ["c1", "c2"])
    db, kafka = _run(monkeypatch, [batch])
    assert kafka.owner is not None
    await kafka.owner._run_once()
    assert len(db.transactions) == 1
    tx = db.transactions[0]
    assert tx.outcome == "committed" and tx.statements == ["claim_many"]
    # Each partition's records in their order (partitions are independent of each other).
    assert tx.applied == ["a1", "a2", "b1", "b2", "c1", "c2"]
    assert kafka.commits == [
        {TopicPartition("t", 0): 2, TopicPartition("t", 1): 2, TopicPartition("t", 2): 2}
    ]
    assert kafka.dead_letters == []


async def test_a_redelivered_event_is_skipped_and_the_same_event_twice_applies_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch, envs = _poll(["a1", "a2"], ["b1"])
    again = batch[TopicPartition("t", 0)][0]
    batch[TopicPartition("t", 0)].append(Rec(again.value, 2, 0))  # a1 twice in the poll
    db, kafka = _run(monkeypatch, [batch])
    db.inbox.add(envs["b1"].event_id)  # b1 was applied before (a redelivery)
    assert kafka.owner is not None
    await kafka.owner._run_once()
    assert db.committed() == ["a1", "a2"]
    assert kafka.owner.stats.applied == 2 and kafka.owner.stats.duplicates == 2


async def test_a_poison_event_in_a_poll_is_dead_lettered_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    batch, envs = _poll(["a1", "a2"], ["b1", "bad", "b3"], ["c1"])
    db, kafka = _run(monkeypatch, [batch], poison=frozenset({"bad"}))
    assert kafka.owner is not None
    await kafka.owner._run_once()
    # The poll's transaction rolled back; then one record at a time: every good event applied
    # once, the poison one alone dead-lettered, every partition's position committed past it.
    assert db.transactions[0].outcome == "rolled back"
    assert sorted(db.committed()) == ["a1", "a2", "b1", "b3", "c1"]
    assert kafka.dead_letters == [envs["bad"].to_bytes()]
    last = {tp: off for commit in kafka.commits for tp, off in commit.items()}
    assert last == {TopicPartition("t", 0): 2, TopicPartition("t", 1): 3, TopicPartition("t", 2): 1}


# ------------------------------------------------- units of work inside a batch (no savepoints)


class Savepoint:
    """What ``conn.transaction()`` returns when a unit of work opens its savepoint."""

    def __init__(self, conn: FakeConn) -> None:
        self.conn = conn

    async def start(self) -> None:
        assert self.conn.tx is not None
        self.conn.tx.statements.append("SAVEPOINT")
        self.mark = len(self.conn.tx.applied)

    async def commit(self) -> None:
        assert self.conn.tx is not None
        self.conn.tx.statements.append("RELEASE")

    async def rollback(self) -> None:
        assert self.conn.tx is not None
        self.conn.tx.statements.append("ROLLBACK TO")
        del self.conn.tx.applied[self.mark :]


class SavepointConn(FakeConn):
    def transaction(self) -> Any:
        if self.tx is not None and self.tx.outcome == "open":
            return Savepoint(self)
        return super().transaction()


class SavepointDb(FakeDb):
    @contextlib.asynccontextmanager
    async def _acquire(self) -> AsyncIterator[FakeConn]:
        yield SavepointConn(self)


class Uow(PgUnitOfWork):
    schema = "s"


def _uow_run(
    monkeypatch: pytest.MonkeyPatch, polls: list[dict[TopicPartition, list[Rec]]]
) -> tuple[FakeDb, FakeKafka]:
    """A handler on a unit of work that writes a half, fails, and goes on (it catches the
    failure): what it wrote in the failed unit of work must never commit."""
    db = SavepointDb()
    kafka = FakeKafka(polls)

    async def handler(uow: Uow, event: SubmissionAccepted, env: Envelope) -> None:
        try:
            async with uow:
                uow.connection.tx.applied.append(f"{event.application_id} half")
                if event.application_id == "swallowed":
                    raise ValueError("the second half fails")
                uow.connection.tx.applied.append(f"{event.application_id} whole")
        except ValueError:
            pass  # the handler goes on (records nothing else)

    consumer = EventConsumer(
        name="test.batch",
        topics=["t"],
        handlers=bind_handlers({SubmissionAccepted: handler}, Uow),
        pool=db,
        schema="s",
        bootstrap="127.0.0.1:1",
    )
    kafka.owner = consumer
    monkeypatch.setattr(consumer_module, "make_consumer", lambda *a, **k: kafka)
    monkeypatch.setattr(consumer_module, "make_producer", lambda *a, **k: kafka)
    return db, kafka


async def test_units_of_work_in_a_batch_take_no_savepoint(monkeypatch: pytest.MonkeyPatch) -> None:
    batch, _ = _poll(["a1", "a2"], ["b1"])
    db, kafka = _uow_run(monkeypatch, [batch])
    assert kafka.owner is not None
    await kafka.owner._run_once()
    assert len(db.transactions) == 1
    assert db.transactions[0].statements == ["claim_many"]  # no SAVEPOINT / RELEASE per event
    assert db.committed() == ["a1 half", "a1 whole", "a2 half", "a2 whole", "b1 half", "b1 whole"]


async def test_a_failed_unit_of_work_whose_handler_goes_on_never_commits_its_half(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    batch, _ = _poll(["a1", "swallowed", "a3"])
    db, kafka = _uow_run(monkeypatch, [batch])
    assert kafka.owner is not None
    await kafka.owner._run_once()
    # The batch rolled back; one at a time, the failed unit of work rolled back to its savepoint.
    assert db.transactions[0].outcome == "rolled back"
    assert db.committed() == ["a1 half", "a1 whole", "a3 half", "a3 whole"]
    assert kafka.dead_letters == []  # the handler handled its failure: the event is applied


async def test_the_worker_is_woken_after_the_commit_of_a_poll_that_applied_something(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first, envs = _poll(["a1", "a2"])
    again = {tp: [Rec(r.value, r.offset + 2, r.partition) for r in recs] for tp, recs in first.items()}
    db, kafka = _run(monkeypatch, [first, again])
    assert kafka.owner is not None
    woken: list[list[str]] = []
    kafka.owner.on_applied = lambda: woken.append(db.committed())
    await kafka.owner._run_once()
    # Once, for the poll that applied two events, when they were already committed; not for the
    # redelivery that applied nothing.
    assert woken == [["a1", "a2"]]


async def test_a_consumer_started_is_stopped_when_the_dead_letter_producer_cannot_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Left running, the started consumer stays in its group without polling and holds its
    partitions until max_poll_interval drops it (the signer stalled 3 minutes after Kafka's kill
    in CI, session 8)."""
    events: list[str] = []

    class Started(FakeKafka):
        async def start(self) -> None:
            events.append("consumer started")

        async def stop(self) -> None:
            events.append("consumer stopped")

    class Refused(FakeKafka):
        async def start(self) -> None:
            raise ConnectionError("Kafka went away")

        async def stop(self) -> None:
            events.append("producer stopped")

    consumer = EventConsumer(
        name="test.start", topics=["t"], handlers={}, pool=FakeDb(), schema="s", bootstrap="127.0.0.1:1"
    )
    monkeypatch.setattr(consumer_module, "make_consumer", lambda *a, **k: Started([]))
    monkeypatch.setattr(consumer_module, "make_producer", lambda *a, **k: Refused([]))
    with pytest.raises(ConnectionError):
        await consumer._run_once()  # noqa: SLF001 - one round of run(), which retries it
    assert events == ["consumer started", "consumer stopped", "producer stopped"]
