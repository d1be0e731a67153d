"""Issue 10 item 1: which send errors set an outbox row aside (the broker will refuse it every
time) and which are outages (retry, set nothing aside)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import errors as kafka_errors

from ail_shared.outbox import OutboxRelay, refusal_code


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (kafka_errors.MessageSizeTooLargeError(), "message_too_large"),
        (kafka_errors.RecordListTooLargeError(), "message_too_large"),
        (kafka_errors.RecordTooLargeError(), "message_too_large"),
        (kafka_errors.CorruptRecordException(), "invalid_record"),
        (kafka_errors.InvalidTimestampError(), "invalid_record"),
        (kafka_errors.InvalidTopicError(), "invalid_topic"),
        (kafka_errors.TopicAuthorizationFailedError("ail.application"), "topic_not_authorized"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else v,
)
def test_permanent_refusals_have_a_code(exc: BaseException, code: str) -> None:
    assert refusal_code(exc) == code


def test_invalid_record_from_a_newer_broker_is_a_refusal() -> None:
    exc = kafka_errors.UnknownError()
    exc.errno = 87  # type: ignore[misc]
    assert refusal_code(exc) == "invalid_record"


@pytest.mark.parametrize(
    "exc",
    [
        kafka_errors.KafkaConnectionError(),
        kafka_errors.KafkaTimeoutError(),
        kafka_errors.RequestTimedOutError(),
        kafka_errors.NotLeaderForPartitionError(),
        kafka_errors.LeaderNotAvailableError(),
        kafka_errors.NotEnoughReplicasError(),
        kafka_errors.UnknownTopicOrPartitionError(),
        kafka_errors.OutOfOrderSequenceNumber(),
        kafka_errors.ProducerFenced(),
        kafka_errors.NoBrokersAvailable(),
        ConnectionRefusedError(),
    ],
    ids=lambda v: type(v).__name__,
)
def test_outages_and_producer_state_errors_set_nothing_aside(exc: BaseException) -> None:
    assert refusal_code(exc) is None


class FakeProducer:
    """send() returns a future that fails with the error planned for that row's value."""

    def __init__(self, plan: dict[bytes, BaseException], refuse_in_client: bytes | None = None) -> None:
        self.plan = plan
        self.refuse_in_client = refuse_in_client
        self.sent: list[str] = []

    async def send(self, topic: str, value: bytes, key: bytes, headers: Any = None) -> asyncio.Future[Any]:
        if value == self.refuse_in_client:
            raise kafka_errors.MessageSizeTooLargeError("larger than max_request_size")
        self.sent.append(topic)
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if value in self.plan:
            fut.set_exception(self.plan[value])
        else:
            fut.set_result(None)
        return fut


def _rows(*values: bytes) -> list[dict[str, Any]]:
    return [
        {"id": i + 1, "topic": "t", "message_key": "k", "headers": {}, "value": v}
        for i, v in enumerate(values)
    ]


def _relay() -> OutboxRelay:
    return OutboxRelay(dsn="postgresql://x@127.0.0.1:1/x", bootstrap="127.0.0.1:1", schema="s")


async def test_a_row_refused_alone_is_certain_and_its_neighbours_errors_are_not_refusals() -> None:
    producer = FakeProducer(
        {b"big": kafka_errors.MessageSizeTooLargeError(), b"next": kafka_errors.OutOfOrderSequenceNumber()}
    )
    refused = await _relay()._send_batch(producer, _rows(b"a", b"big", b"next"), [1, 2, 3])  # type: ignore[arg-type]
    assert {i: alone for i, (_, alone) in refused.items()} == {2: True}


async def test_rows_refused_together_are_isolated_first_one_alone() -> None:
    producer = FakeProducer(
        {b"x": kafka_errors.MessageSizeTooLargeError(), b"y": kafka_errors.MessageSizeTooLargeError()}
    )
    relay = _relay()
    rows = _rows(b"a", b"x", b"y")
    refused = await relay._send_batch(producer, rows, [1, 2, 3])  # type: ignore[arg-type]
    assert {i: alone for i, (_, alone) in refused.items()} == {2: False, 3: False}
    await relay._handle_refusal(None, rows, refused)  # type: ignore[arg-type] - sets nothing aside
    assert relay._isolate == 2 and relay.set_aside == 0


async def test_a_client_side_refusal_is_that_rows_and_the_state_record_is_not_sent() -> None:
    producer = FakeProducer({}, refuse_in_client=b"big")
    refused = await _relay()._send_batch(producer, _rows(b"a", b"big", b"c"), [1, 2, 3])  # type: ignore[arg-type]
    assert {i: alone for i, (_, alone) in refused.items()} == {2: True}
    assert "ail.outbox-relay.state" not in producer.sent


async def test_an_outage_while_sending_raises_and_sets_nothing_aside() -> None:
    producer = FakeProducer({b"a": kafka_errors.KafkaTimeoutError()})
    with pytest.raises(kafka_errors.KafkaTimeoutError):
        await _relay()._send_batch(producer, _rows(b"a", b"b"), [1, 2])  # type: ignore[arg-type]


class FakeConn:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows

    async def fetch(self, sql: str, limit: int, exclude: list[int], upto: int | None) -> list[dict[str, Any]]:
        return [r for r in self.rows if r["id"] not in exclude and (upto is None or r["id"] <= upto)][:limit]


async def test_isolation_sends_the_rows_before_the_suspect_then_the_suspect_alone() -> None:
    relay = _relay()
    conn = FakeConn(_rows(b"a", b"b", b"c", b"d"))
    relay._isolate = 3
    assert [r["id"] for r in await relay._fetch(conn, [])] == [1, 2]  # type: ignore[arg-type]
    assert [r["id"] for r in await relay._fetch(conn, [1, 2])] == [3]  # type: ignore[arg-type]
    # The suspect went through: the bound is dropped once nothing is left under it.
    assert [r["id"] for r in await relay._fetch(conn, [1, 2, 3])] == [4]  # type: ignore[arg-type]
    assert relay._isolate is None
