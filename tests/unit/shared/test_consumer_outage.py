"""Issue 10 item 2: a database outage is waited out, never dead-lettered; only what the event
itself causes goes to the dead-letter topic. The loop's retry path with a fake apply function,
a fake Kafka consumer (commits) and a fake dead-letter producer."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiokafka import TopicPartition

import ail_shared.consumer as consumer_module
from ail_shared.consumer import EventConsumer, PermanentError, classify, is_transient
from ail_shared.errors import Conflict
from ail_shared.events import Envelope, Event, SubmissionAccepted, envelope_for, utcnow


@dataclass
class Rec:
    value: bytes | None
    offset: int
    topic: str = "t"
    partition: int = 0
    key: bytes | None = b"k"
    headers: Any = ()


@dataclass
class FakeKafka:
    commits: list[dict[TopicPartition, int]] = field(default_factory=list)
    dead_letters: list[tuple[str, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets)

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None, headers: Any) -> None:
        self.dead_letters.append((topic, value, headers))


def _good(app: str = "a") -> bytes:
    return envelope_for(
        SubmissionAccepted(application_id=app, submission_id="s", form_no="f", applied_at=utcnow()),
        aggregate_id=app,
        tenant="t",
    ).to_bytes()


OUTAGES: list[BaseException] = [
    ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 5432)"),
    ConnectionResetError(104, "Connection reset by peer"),
    TimeoutError(),
    asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
    asyncpg.InterfaceError("pool is closing"),
    asyncpg.CannotConnectNowError("the database system is starting up"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
    asyncpg.CrashShutdownError("terminating connection because of crash of another server process"),
    asyncpg.TooManyConnectionsError("sorry, too many clients already"),
    asyncpg.SerializationError("could not serialize access due to concurrent update"),
    asyncpg.DeadlockDetectedError("deadlock detected"),
    asyncpg.QueryCanceledError("canceling statement due to statement timeout"),
]


@pytest.mark.parametrize("exc", OUTAGES, ids=lambda e: type(e).__name__)
def test_every_kind_of_database_outage_is_an_outage(exc: BaseException) -> None:
    assert is_transient(exc)
    assert classify(exc) == "outage"


def test_an_outage_wrapped_by_a_handler_is_still_an_outage() -> None:
    try:
        try:
            raise asyncpg.AdminShutdownError("terminating connection due to administrator command")
        except asyncpg.PostgresError as exc:
            raise RuntimeError("could not load the application") from exc
    except RuntimeError as wrapped:
        assert classify(wrapped) == "outage"


@pytest.mark.parametrize(
    "exc",
    [
        PermanentError("license unknown"),
        Conflict("an application in status 'approved' cannot be revoked"),
        asyncpg.UniqueViolationError("duplicate key value violates unique constraint"),
        asyncpg.InvalidTextRepresentationError("invalid input syntax for type uuid"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_refusals_of_the_event_itself_are_refused(exc: BaseException) -> None:
    assert not is_transient(exc)
    assert classify(exc) == "refused"


def test_a_bug_is_neither() -> None:
    assert classify(KeyError("form_no")) == "error"
    assert classify(ValueError("badly formed hexadecimal UUID string")) == "error"


def _consumer(apply: Any) -> EventConsumer:
    c = EventConsumer(
        name="test.outage",
        topics=["t"],
        handlers={SubmissionAccepted: apply},
        pool=None,  # type: ignore[arg-type] - _apply is replaced below
        schema="s",
        bootstrap="127.0.0.1:1",
    )

    async def fake_apply(env: Envelope, event: Event, rec: Any) -> str:
        await apply(None, env, event)
        return "applied"

    c._apply = fake_apply  # type: ignore[method-assign]
    return c


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consumer_module, "outage_delay", lambda attempt: 0.001, raising=False)


async def test_a_long_database_outage_holds_the_position_and_dead_letters_nothing(
    fast_backoff: None,
) -> None:
    """Far more failures than the old five attempts: the event is applied when the database is
    back, nothing goes to the dead-letter topic, the offset is committed only after it applied."""
    calls = 0
    seen_waiting: list[bool] = []
    consumer: EventConsumer

    async def apply(conn: Any, env: Envelope, event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls > 1:
            seen_waiting.append(consumer.waiting_since is not None)
        if calls <= 12:
            raise OUTAGES[calls % len(OUTAGES)]

    consumer = _consumer(apply)
    kafka = FakeKafka()
    records = [Rec(_good("a"), 7)]
    await asyncio.wait_for(
        consumer._process_with_retries(kafka, kafka, TopicPartition("t", 0), records, {"SubmissionAccepted"}),
        timeout=60,
    )
    assert kafka.dead_letters == []
    assert calls == 13
    assert kafka.commits == [{TopicPartition("t", 0): 8}]
    assert consumer.stats.applied == 1 and consumer.stats.dead_letters == []
    assert seen_waiting and all(seen_waiting), "it must say it is waiting for the database"
    assert consumer.waiting_since is None


async def test_an_outage_in_a_batch_waits_too_and_the_bad_event_is_still_found(fast_backoff: None) -> None:
    calls = 0

    async def apply(conn: Any, env: Envelope, event: Event) -> None:
        nonlocal calls
        calls += 1
        if calls <= 8:
            raise asyncpg.CannotConnectNowError("the database system is starting up")
        if env.aggregate_id == "bad":
            raise PermanentError("refused by the handler")

    consumer = _consumer(apply)

    async def apply_all(items: list[Any]) -> list[str]:
        return [await consumer._apply(env, event, rec) for env, event, rec in items]

    consumer._apply_all = apply_all  # type: ignore[method-assign]
    kafka = FakeKafka()
    records = [Rec(_good("a"), 0), Rec(_good("bad"), 1), Rec(_good("b"), 2)]
    await asyncio.wait_for(
        consumer._process_with_retries(kafka, kafka, TopicPartition("t", 0), records, {"SubmissionAccepted"}),
        timeout=60,
    )
    assert [dl[0] for dl in kafka.dead_letters] == ["t.dlt"]
    reason = dict(kafka.dead_letters[0][2])["dlt-reason"].decode()
    assert reason.startswith("handler_refused") and "refused by the handler" in reason
    assert kafka.commits[-1] == {TopicPartition("t", 0): 3}


async def test_stopping_during_an_outage_commits_nothing(fast_backoff: None) -> None:
    async def apply(conn: Any, env: Envelope, event: Event) -> None:
        raise ConnectionRefusedError(111, "Connect call failed")

    consumer = _consumer(apply)
    kafka = FakeKafka()
    task = asyncio.create_task(
        consumer._process_with_retries(
            kafka, kafka, TopicPartition("t", 0), [Rec(_good(), 0)], {"SubmissionAccepted"}
        )
    )
    await asyncio.sleep(0.2)
    assert not task.done() and consumer.waiting_since is not None
    consumer.stop()
    with pytest.raises(consumer_module.ConsumerStopping):
        await asyncio.wait_for(task, 10)
    assert kafka.commits == [] and kafka.dead_letters == []


async def test_a_domain_refusal_is_dead_lettered_at_once(fast_backoff: None) -> None:
    calls = 0

    async def apply(conn: Any, env: Envelope, event: Event) -> None:
        nonlocal calls
        calls += 1
        raise Conflict("an application in status 'approved' cannot be revoked")

    consumer = _consumer(apply)
    kafka = FakeKafka()
    await consumer._process_with_retries(
        kafka, kafka, TopicPartition("t", 0), [Rec(_good(), 4)], {"SubmissionAccepted"}
    )
    assert calls == 1
    assert len(kafka.dead_letters) == 1
    assert kafka.commits == [{TopicPartition("t", 0): 5}]
