"""The AsyncAPI 3.0 description of the platform's Kafka topics, generated from the code.

``python -m ail_shared.asyncapi > docs/asyncapi.json`` writes it. Everything that can be read
from the code is: the topics, partitions and keys from :mod:`ail_shared.topics`, the envelope and
every event payload as JSON Schema from the pydantic models (``models_json_schema``), the schema
versions from ``SCHEMA_MAJOR``/``SCHEMA_MINOR`` and ``UPCASTERS``, the Kafka headers from the
models below (what ``outbox.write_events`` and ``consumer.send_dead_letter`` write). Which
service sends and which consumer group applies which event is the wiring of the services, which
this library does not import (services depend on it, not the other way round); it is the table
``PRODUCERS`` / ``CONSUMER_GROUPS`` here, and tests keep it in step: tests/unit/shared/test_asyncapi.py
with the services' handler tables, tests/e2e/test_asyncapi_live.py with the consumer groups that
a running stack has on its Kafka. The committed document is checked against this module
(a stale document fails the unit test) and validated with the official ``@asyncapi/parser``.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import models_json_schema

from ail_shared import topics
from ail_shared.events import EVENT_TYPES, UPCASTERS, Envelope, Event

ASYNCAPI_VERSION = "3.0.0"
DOCUMENT_VERSION = "1.0.0"  # of this description; the events carry their own schema versions
KAFKA_BINDING = "0.5.0"
REF = "#/components/schemas/{model}"
TRACEPARENT = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


# ---------------------------------------------------------------- headers (what the code writes)


class EventHeaders(BaseModel):
    """Kafka headers of every event (``outbox.write_events``): the envelope's type, version and id,
    so a reader can route or skip without parsing the value, and the W3C trace context."""

    model_config = ConfigDict(extra="allow")
    event_type: str = Field(description="the envelope's event_type")
    schema_version: str = Field(pattern=r"^\d+\.\d+$", description="the envelope's schema_version")
    event_id: str = Field(
        pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$",
        description="the envelope's event_id (UUID); consumers deduplicate on it (inbox)",
    )
    traceparent: str | None = Field(
        default=None, pattern=TRACEPARENT, description="W3C trace context of the producing request"
    )
    tracestate: str | None = Field(default=None, description="W3C trace state, when there is one")


class DeadLetterHeaders(BaseModel):
    """Kafka headers a consumer adds to a record it sends to ``<topic>.dlt``
    (``consumer.send_dead_letter``); the source record's own headers are kept beside them."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    dlt_reason: str = Field(
        alias="dlt-reason",
        description="why the record can never be applied: '<code>: <message>', the code one of "
        "undecodable_event, unsupported_schema_version, handler_refused, 'handler_failed after N attempts', "
        "not_countable (statistics)",
    )
    dlt_source_topic: str = Field(alias="dlt-source-topic", description="the topic the record was read from")
    dlt_source_partition: str = Field(
        alias="dlt-source-partition", pattern=r"^\d+$", description="its partition (decimal)"
    )
    dlt_source_offset: str = Field(
        alias="dlt-source-offset", pattern=r"^\d+$", description="its offset (decimal)"
    )
    dlt_consumer: str = Field(alias="dlt-consumer", description="the consumer (group) that refused it")


# ---------------------------------------------------------------- who sends and who applies what


@dataclass(frozen=True)
class Producer:
    service: str
    topic: str
    events: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True)
class ConsumerGroup:
    group: str  # the Kafka group id; a regex when ``pattern`` (one group per signer host)
    service: str
    topics: tuple[str, ...]
    events: tuple[str, ...]  # the event types it applies; the others on its topics it skips
    pattern: bool = False
    dead_letter_as: str = ""  # the ``dlt-consumer`` it writes, when not the group id
    note: str = ""


PRODUCERS: tuple[Producer, ...] = (
    Producer("application", topics.APPLICATION, ("ApplicationSubmitted",)),
    Producer(
        "submission",
        topics.SUBMISSION,
        (
            "SubmissionAccepted",
            "SubmissionRejected",
            "ReviewResultReceived",
            "ApplicationRevoked",
            "LicenseIssued",
            "EkeyBound",
            "EkeyUnbound",
            "LicenseCancellationReceived",
            "SubmissionDelayed",
        ),
    ),
    Producer("submission", topics.SIGNER_REQUESTS, ("SignatureRequested",)),
    Producer(
        "submission",
        topics.SIGNER,
        ("SigningFailed", "SigningDeferred"),
        "SigningFailed with ekey_not_present / ekey_not_bound, and SigningDeferred, when no signer host "
        "announces the e-key",
    ),
    Producer("signer", topics.SIGNER, ("ApplicationSigned", "SigningFailed")),
    Producer("signer", topics.SIGNER_HEARTBEATS, ("EkeyHeartbeat",)),
    Producer(
        "customs",
        topics.CUSTOMS,
        (
            "CustomsStored",
            "ClearanceRecorded",
            "ClearanceReversed",
            "ClearanceRefused",
            "LicenseUsedUp",
            "LicenseSurrendered",
            "LicenseCancelled",
            "LicenseExpired",
            "LicenseReissueRequested",
            "CustomsCancellationStored",
            "LicenseReopened",
        ),
    ),
)

CONSUMER_GROUPS: tuple[ConsumerGroup, ...] = (
    ConsumerGroup(
        "application.results",
        "application",
        (topics.SUBMISSION, topics.SIGNER),
        (
            "SigningFailed",
            "SigningDeferred",
            "SubmissionRejected",
            "SubmissionAccepted",
            "ReviewResultReceived",
            "ApplicationRevoked",
            "LicenseIssued",
            "EkeyBound",
            "EkeyUnbound",
            "SubmissionDelayed",
        ),
    ),
    ConsumerGroup(
        "application.licenses",
        "application",
        (topics.CUSTOMS,),
        (
            "LicenseReissueRequested",
            "LicenseUsedUp",
            "LicenseSurrendered",
            "LicenseCancelled",
            "LicenseExpired",
            "LicenseReopened",
        ),
        note="makes the draft of a change or extension; keeps the license's state beside the application",
    ),
    ConsumerGroup("submission.applications", "submission", (topics.APPLICATION,), ("ApplicationSubmitted",)),
    ConsumerGroup(
        "submission.signer", "submission", (topics.SIGNER,), ("ApplicationSigned", "SigningFailed")
    ),
    ConsumerGroup("submission.heartbeats", "submission", (topics.SIGNER_HEARTBEATS,), ("EkeyHeartbeat",)),
    ConsumerGroup(
        r"^signer\..+$",
        "signer",
        (topics.SIGNER_REQUESTS,),
        ("SignatureRequested",),
        pattern=True,
        note="one group per signer host (signer.<host id>): every host reads every request and answers "
        "only those naming it (signer_host) for a key it holds",
    ),
    ConsumerGroup(
        "status.lifecycle",
        "status",
        (topics.APPLICATION, topics.SUBMISSION, topics.SIGNER, topics.CUSTOMS),
        (
            "ApplicationSubmitted",
            "SigningFailed",
            "SigningDeferred",
            "SubmissionRejected",
            "SubmissionAccepted",
            "ApplicationRevoked",
            "ReviewResultReceived",
            "LicenseIssued",
            "CustomsStored",
            "ClearanceRecorded",
            "ClearanceReversed",
            "LicenseUsedUp",
            "LicenseSurrendered",
            "LicenseCancelled",
            "LicenseExpired",
            "LicenseReissueRequested",
            "CustomsCancellationStored",
            "ClearanceRefused",
            "SubmissionDelayed",
            "LicenseReopened",
        ),
    ),
    ConsumerGroup(
        "customs.intake",
        "customs",
        (topics.SUBMISSION,),
        ("SubmissionAccepted", "ReviewResultReceived", "LicenseIssued", "LicenseCancellationReceived"),
    ),
    ConsumerGroup(
        "ail-stats",
        "stats",
        (topics.SUBMISSION,),
        ("ReviewResultReceived",),
        dead_letter_as="ail-stats.fold",
        note="the faust app 'ail-stats' (agent 'fold'); counts second-review passes into its tables",
    ),
)

# Topics that carry no events of the platform: what their records are.
INTERNAL_RECORDS = {
    "ail-stats-approvals-changelog": "faust table 'approvals' of the stats service: key the application id "
    "(JSON string), value the source position of the approval that counted (JSON)",
    "ail-stats-figures-changelog": "faust table 'figures' of the stats service: key the figure's dimensions "
    "(JSON array), value its quantity, amount, count and offset watermark (JSON object)",
    "ail.outbox-relay.state": "the outbox relays' restart state: key the service's schema, value "
    '{"ids": [...]} the outbox ids of the last committed batch',
}


# ---------------------------------------------------------------- the document


def channel_id(topic: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "_", topic)


def topic_events() -> dict[str, tuple[str, ...]]:
    """The event types on each topic, in the order of ``PRODUCERS``."""
    out: dict[str, list[str]] = {}
    for p in PRODUCERS:
        for e in p.events:
            if e not in out.setdefault(p.topic, []):
                out[p.topic].append(e)
    return {t: tuple(e) for t, e in out.items()}


def _key_schema(topic: topics.Topic, event_type: str) -> dict[str, Any]:
    key = "enterprise code" if event_type in ("EkeyBound", "EkeyUnbound") else topic.key
    return {"type": "string", "description": f"{key} (UTF-8); the envelope's aggregate_id"}


def _schemas() -> dict[str, Any]:
    models: list[type[BaseModel]] = [Envelope, EventHeaders, DeadLetterHeaders, *EVENT_TYPES.values()]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    defs: dict[str, Any] = top["$defs"]
    return defs


def _versions(cls: type[Event]) -> dict[str, Any]:
    return {
        "current": cls.schema_version(),
        "major": cls.SCHEMA_MAJOR,
        "minor": cls.SCHEMA_MINOR,
        "upcasters": sorted(f"{t} {m} -> {m + 1}" for (t, m) in UPCASTERS if t == cls.__name__),
    }


def _message(name: str, cls: type[Event], topic: topics.Topic) -> dict[str, Any]:
    major = cls.SCHEMA_MAJOR
    version_pattern = rf"^{major}\.\d+$"
    doc = (cls.__doc__ or "").strip()
    return {
        "name": name,
        "title": f"{name} {cls.schema_version()}",
        "summary": doc.split("\n\n", 1)[0].replace("\n", " ") if doc else f"The {name} event.",
        "description": (
            f"An Envelope (UTF-8 JSON) with event_type {name!r} and a {name} payload. Schema version "
            f"{cls.schema_version()}: a reader accepts any {major}.x (a minor version only adds optional "
            "fields; unknown fields are ignored); an older major is upcast through UPCASTERS, a newer one is "
            "refused to the dead-letter topic."
        ),
        "contentType": "application/json",
        "headers": {
            "allOf": [
                {"$ref": REF.format(model="EventHeaders")},
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": name},
                        "schema_version": {"type": "string", "pattern": version_pattern},
                    },
                },
            ]
        },
        "payload": {
            "allOf": [
                {"$ref": REF.format(model="Envelope")},
                {
                    "type": "object",
                    "properties": {
                        "event_type": {"const": name},
                        "schema_version": {"type": "string", "pattern": version_pattern},
                        "payload": {"$ref": REF.format(model=name)},
                    },
                },
            ]
        },
        "bindings": {"kafka": {"key": _key_schema(topic, name), "bindingVersion": KAFKA_BINDING}},
        "x-ail-schema-version": _versions(cls),
    }


def _kafka_channel_binding(topic: topics.Topic, *, dead_letter: bool) -> dict[str, Any]:
    if dead_letter:
        return {
            "topic": f"{topic.name}.dlt",
            "partitions": 1,
            "topicConfiguration": {"retention.ms": 30 * 86400 * 1000},
            "bindingVersion": KAFKA_BINDING,
        }
    binding: dict[str, Any] = {
        "topic": topic.name,
        "partitions": topic.partitions,
        "bindingVersion": KAFKA_BINDING,
    }
    if topic.compacted:
        binding["topicConfiguration"] = {"cleanup.policy": ["compact"]}
    return binding


def _group_binding(g: ConsumerGroup) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if g.pattern:
        schema["pattern"] = g.group
    else:
        schema["enum"] = [g.group]
    return {"kafka": {"groupId": schema, "bindingVersion": KAFKA_BINDING}}


def _op_id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]+", "_", p).strip("_") for p in parts)


def build() -> dict[str, Any]:
    """The AsyncAPI 3.0 document as a dict."""
    by_topic = topic_events()
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for t in topics.TOPICS:
        cid = channel_id(t.name)
        events = by_topic.get(t.name, ())
        if events:
            for e in events:
                messages[e] = _message(e, EVENT_TYPES[e], t)
            chan_messages = {e: {"$ref": f"#/components/messages/{e}"} for e in events}
            description = (
                f"Key: {t.key}. Produced by {t.producers}; consumed by {t.consumers}. One application's "
                "events share a key, so they keep their order on one partition."
            )
        else:
            record = f"{cid}_record"
            messages[record] = {
                "name": record,
                "title": f"{t.name} record",
                "summary": INTERNAL_RECORDS[t.name],
                "contentType": "application/json",
                "payload": {"description": INTERNAL_RECORDS[t.name]},
                "bindings": {
                    "kafka": {
                        "key": {"type": "string", "description": t.key},
                        "bindingVersion": KAFKA_BINDING,
                    }
                },
            }
            chan_messages = {record: {"$ref": f"#/components/messages/{record}"}}
            description = (
                f"Internal (no platform events; not a contract for other teams). {INTERNAL_RECORDS[t.name]}. "
                f"Written by {t.producers}; read by {t.consumers}."
            )
        channels[cid] = {
            "address": t.name,
            "title": t.name,
            "description": f"{t.partitions} partitions{', compacted' if t.compacted else ''}. {description}",
            "messages": chan_messages,
            "bindings": {"kafka": _kafka_channel_binding(t, dead_letter=False)},
        }
        if not t.dead_letter:
            continue
        dlt = f"{cid}_dlt"
        dlt_message = f"{dlt}_record"
        messages[dlt_message] = {
            "name": dlt_message,
            "title": f"{t.name}.dlt record",
            "summary": f"A record of {t.name} that a consumer could never apply, with the reason.",
            "description": (
                f"The source record of {t.name} unchanged: the same key, the same value (which may not be a "
                "valid envelope: often why it is here) and its own headers, plus the dlt-* headers. Only "
                "deterministic failures come here; a database outage is waited out, never dead-lettered. "
                "Replay by producing the value back to the source topic once the cause is fixed."
            ),
            "headers": {"$ref": REF.format(model="DeadLetterHeaders")},
            "payload": {"description": f"the source record's value, as it was on {t.name}"},
            "bindings": {
                "kafka": {
                    "key": {"type": "string", "description": f"the source record's key ({t.key})"},
                    "bindingVersion": KAFKA_BINDING,
                }
            },
        }
        channels[dlt] = {
            "address": f"{t.name}.dlt",
            "title": f"{t.name}.dlt",
            "description": f"Dead-letter topic of {t.name} (1 partition, kept 30 days).",
            "messages": {dlt_message: {"$ref": f"#/components/messages/{dlt_message}"}},
            "bindings": {"kafka": _kafka_channel_binding(t, dead_letter=True)},
        }

    for p in PRODUCERS:
        cid = channel_id(p.topic)
        operations[_op_id(p.service, "sends", cid)] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{cid}"},
            "title": f"{p.service} sends to {p.topic}",
            "summary": f"The {p.service} service publishes {', '.join(p.events)} through its outbox.",
            **({"description": p.note} if p.note else {}),
            "messages": [{"$ref": f"#/channels/{cid}/messages/{e}"} for e in p.events],
        }
    for g in CONSUMER_GROUPS:
        name = "signer" if g.pattern else g.group
        shown = "signer.<host id>" if g.pattern else g.group
        for topic in g.topics:
            cid = channel_id(topic)
            applied = [e for e in by_topic[topic] if e in g.events]
            operations[_op_id(name, "receives", cid)] = {
                "action": "receive",
                "channel": {"$ref": f"#/channels/{cid}"},
                "title": f"{name} receives {topic}",
                "summary": f"Consumer group {shown} of the {g.service} service applies "
                f"{', '.join(applied)}; it skips the other event types of the topic.",
                "description": (
                    (g.note + ". " if g.note else "")
                    + "Each event is applied in one database transaction with its inbox record (event_id), "
                    "so a redelivery is a no-op; the offset is committed after the database commit."
                ),
                "messages": [{"$ref": f"#/channels/{cid}/messages/{e}"} for e in applied],
                "bindings": _group_binding(g),
            }
            dlt = f"{cid}_dlt"
            operations[_op_id(name, "dead_letters", cid)] = {
                "action": "send",
                "channel": {"$ref": f"#/channels/{dlt}"},
                "title": f"{name} dead-letters {topic}",
                "summary": f"Consumer group {shown} sends what it can never apply to {topic}.dlt, with "
                f"dlt-consumer {g.dead_letter_as or shown!r}.",
                "messages": [{"$ref": f"#/channels/{dlt}/messages/{dlt}_record"}],
            }

    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:cn:ail:events",
        "info": {
            "title": "Automatic Import License platform: events",
            "version": DOCUMENT_VERSION,
            "description": " ".join(
                (
                    "The Kafka topics of the platform, generated from the code by",
                    "`python -m ail_shared.asyncapi` (shared/ail_shared/asyncapi.py;",
                    "see docs/architecture.md).",
                    "Every message value is one Envelope as UTF-8 JSON whose `payload` is the event named by",
                    "`event_type`; the message key is the envelope's aggregate_id.",
                    "Delivery is at least once: deduplicate on event_id.",
                )
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "kafka": {
                "host": "{bootstrap}",
                "protocol": "kafka",
                "description": "The platform's Kafka cluster (AIL_KAFKA_BOOTSTRAP).",
                "variables": {
                    "bootstrap": {"default": "localhost:9092", "description": "host:port of a broker"}
                },
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _schemas()},
    }


def render() -> str:
    """The document as the committed file holds it."""
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
