"""Kafka client factories with the platform's settings: idempotent producers (acks=all), consumers
that read only committed data and never auto-commit."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

# The largest message (record batch) the broker accepts: its ``message.max.bytes``. The one
# value for every deployment: scripts/devstack/kafka.py reads it from this line for the local broker's
# server.properties; docker-compose.yml (KAFKA_MESSAGE_MAX_BYTES) and deploy/k8s/10-kafka.yaml
# (message.max.bytes) say the same, and tests/unit/test_deploy.py keeps them in step. Events stay
# well under it (input limits); one that does not is refused by ``outbox.write_events`` or, if
# it gets that far, set aside by the relay (outbox.py).
MAX_MESSAGE_BYTES = 1048576

PRODUCER_DEFAULTS: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 5,
    # Half the broker's limit, so a full batch plus its framing never exceeds it; a single larger
    # record still gets a batch of its own.
    "max_batch_size": MAX_MESSAGE_BYTES // 2,
    # Refuse in the client what the broker would refuse anyway.
    "max_request_size": MAX_MESSAGE_BYTES,
    "request_timeout_ms": 30000,
}


def make_producer(bootstrap: str, **overrides: Any) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=bootstrap, **{**PRODUCER_DEFAULTS, **overrides})


def make_consumer(bootstrap: str, *topics: str, group_id: str | None, **overrides: Any) -> AIOKafkaConsumer:
    options: dict[str, Any] = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        "max_poll_records": 500,
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }
    options.update(overrides)
    return AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **options)
