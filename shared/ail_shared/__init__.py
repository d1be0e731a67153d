"""ail_shared: the platform's own library (config, events, Kafka helpers, outbox, inbox, database,
telemetry, auth). Import from the submodules; the names below are the deliberate public API."""

from ail_shared.auth import ApiKeyAuthenticator, Principal, Tenant
from ail_shared.config import ServiceSettings
from ail_shared.consumer import EventConsumer, PermanentError, process_batch
from ail_shared.errors import (
    AilError,
    Conflict,
    FieldProblem,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    UndecodableEvent,
    UnsupportedSchemaVersion,
)
from ail_shared.events import Envelope, Event, decode_envelope, envelope_for, parse_payload
from ail_shared.outbox import OutboxRelay, write_event, write_events

__all__ = [
    "AilError",
    "ApiKeyAuthenticator",
    "Conflict",
    "Envelope",
    "Event",
    "EventConsumer",
    "FieldProblem",
    "Forbidden",
    "InvalidInput",
    "NotFound",
    "OutboxRelay",
    "PermanentError",
    "Principal",
    "ServiceSettings",
    "Tenant",
    "Unauthenticated",
    "UndecodableEvent",
    "UnsupportedSchemaVersion",
    "decode_envelope",
    "envelope_for",
    "parse_payload",
    "process_batch",
    "write_event",
    "write_events",
]
