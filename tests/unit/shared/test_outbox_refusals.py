"""Issue 10 item 1: which send errors set an outbox row aside (the broker will refuse it every
time) and which are outages (retry, set nothing aside)."""

from __future__ import annotations

import pytest
from aiokafka import errors as kafka_errors

from ail_shared.outbox import refusal_code


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
