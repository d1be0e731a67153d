"""The AsyncAPI document (docs/asyncapi.json): generated from the code, committed fresh, valid for
the official parser, complete, and in step with the services' consumer wiring."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ail_shared import asyncapi
from ail_shared.events import EVENT_TYPES
from ail_shared.topics import TOPICS, all_topic_names

REPO = Path(__file__).resolve().parents[3]
DOCUMENT = REPO / "docs" / "asyncapi.json"
TOOLS = REPO / "tools" / "asyncapi"
REGENERATE = "run `.venv/bin/python -m ail_shared.asyncapi > docs/asyncapi.json` and commit it"


def committed() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DOCUMENT.read_text())
    return data


def test_the_committed_document_is_the_generated_one() -> None:
    assert DOCUMENT.read_text() == asyncapi.render(), f"docs/asyncapi.json is stale: {REGENERATE}"


def test_a_model_field_added_without_regenerating_makes_the_document_stale(monkeypatch: Any) -> None:
    """The staleness check above can fail: change a payload model and the output differs."""
    from pydantic import create_model

    cls = EVENT_TYPES["LicenseIssued"]
    grown = create_model("LicenseIssued", __base__=cls, new_field=(str, ""))
    monkeypatch.setitem(EVENT_TYPES, "LicenseIssued", grown)
    assert asyncapi.render() != DOCUMENT.read_text()


def test_every_event_type_and_every_topic_is_in_the_document() -> None:
    doc = committed()
    messages, schemas = doc["components"]["messages"], doc["components"]["schemas"]
    for name, cls in EVENT_TYPES.items():
        assert name in messages, name
        assert name in schemas, name
        assert messages[name]["payload"]["allOf"][1]["properties"]["payload"] == {
            "$ref": f"#/components/schemas/{name}"
        }
        assert messages[name]["x-ail-schema-version"]["current"] == cls.schema_version()
        # the schema is pydantic's, field for field
        assert set(schemas[name]["properties"]) == set(cls.model_fields), name
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == set(all_topic_names())
    for t in TOPICS:
        binding = addresses[t.name]["bindings"]["kafka"]
        assert (binding["topic"], binding["partitions"]) == (t.name, t.partitions)
    # every event type is on a channel, and a producer sends it
    on_channels = {m for c in doc["channels"].values() for m in c["messages"]}
    sent = {
        ref["$ref"].rsplit("/", 1)[1]
        for op in doc["operations"].values()
        if op["action"] == "send"
        for ref in op["messages"]
    }
    assert set(EVENT_TYPES) <= on_channels
    assert set(EVENT_TYPES) <= sent


def test_dead_letter_channels_carry_the_reason_headers_the_consumer_writes() -> None:
    """The header names are the ones ``send_dead_letter`` writes (read from a fake producer)."""
    import asyncio

    from ail_shared.consumer import DeadLetter, send_dead_letter

    class Rec:
        topic, partition, offset = "ail.customs", 2, 7
        key: bytes | None = b"k"
        value: bytes | None = b"v"
        headers = [("event_type", b"CustomsStored")]

    class Producer:
        sent: list[Any] = []

        async def send_and_wait(self, topic: str, **kw: Any) -> None:
            self.sent.append((topic, kw))

    producer = Producer()
    asyncio.run(send_dead_letter(producer, DeadLetter(Rec(), "handler_refused: x"), consumer_name="c"))
    topic, kw = producer.sent[0]
    written = {k for k, _ in kw["headers"] if k.startswith("dlt-")}
    doc = committed()
    channel = next(c for c in doc["channels"].values() if c["address"] == topic)
    (ref,) = channel["messages"].values()
    message = doc["components"]["messages"][ref["$ref"].rsplit("/", 1)[1]]
    schema = doc["components"]["schemas"][message["headers"]["$ref"].rsplit("/", 1)[1]]
    assert set(schema["required"]) == written
    assert set(schema["properties"]) == written


def test_the_topic_table_names_the_events_the_document_puts_on_each_topic() -> None:
    by_topic = asyncapi.topic_events()
    for t in TOPICS:
        named = {w for w in re.findall(r"[A-Z][A-Za-z]+", t.events) if w in EVENT_TYPES}
        assert set(by_topic.get(t.name, ())) == named, t.name


def _service_handlers() -> dict[str, set[str]]:
    """The event types each consumer group applies, read from the services' own wiring."""
    from ail_application.entrypoints.consumers import consumers as application_consumers
    from ail_customs.entrypoints.consumers import consumers as customs_consumers
    from ail_status.service_layer.handlers import LIFECYCLE_EVENTS
    from ail_submission.entrypoints.consumers import consumers as submission_consumers
    from ail_submission.service_layer.handlers import EVENT_HANDLERS as SUBMISSION_HANDLERS

    class Settings:
        kafka_bootstrap = "127.0.0.1:1"
        consumer_members = 1

    class Runtime:
        settings = Settings()

        def db(self) -> Any:
            return None

    class Deps:  # what the wiring reads of a service's typed dependencies
        settings = Settings()
        runtime = Runtime()

        @staticmethod
        def uow(conn: Any) -> Any:
            return None

        @staticmethod
        def event_handlers() -> Any:
            return SUBMISSION_HANDLERS

        @staticmethod
        def wake_sender() -> None:
            pass

        class delivery:  # noqa: N801 - stands in for the customs delivery Worker
            @staticmethod
            def wake() -> None:
                pass

    wired = [
        *application_consumers(Runtime()),  # type: ignore[arg-type]
        *customs_consumers(Deps()),  # type: ignore[arg-type]
        *submission_consumers(Runtime(), deps=Deps()),  # type: ignore[arg-type]
    ]
    out: dict[str, set[str]] = {}
    for c in wired:
        out.setdefault(c.name, set()).update(t.__name__ for t in c.handlers)
    out["status.lifecycle"] = {t.__name__ for t in LIFECYCLE_EVENTS}
    return out


def test_consumer_groups_apply_what_the_services_wire() -> None:
    wired = _service_handlers()
    declared = {g.group: set(g.events) for g in asyncapi.CONSUMER_GROUPS if g.group in wired}
    assert declared == wired


def test_the_official_parser_accepts_the_document() -> None:
    result = _validate(DOCUMENT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "valid AsyncAPI 3.0.0" in result.stdout


def test_the_official_parser_refuses_a_broken_document(tmp_path: Path) -> None:
    doc = committed()
    # an operation that receives a message its channel does not carry
    doc["operations"]["signer_receives_ail_signer_requests"]["messages"] = [
        {"$ref": "#/channels/ail_signer/messages/ApplicationSigned"}
    ]
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(doc))
    result = _validate(broken)
    assert result.returncode == 1, result.stdout
    assert "asyncapi3-operation-messages-from-referred-channel" in result.stdout


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail(
            "node and npm are needed to validate docs/asyncapi.json (Debian: apt-get install nodejs npm)"
        )
    if not (TOOLS / "node_modules" / "@asyncapi" / "parser").is_dir():
        # The pinned parser from tools/asyncapi/package-lock.json; from npm's cache when it has it.
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--prefer-offline"], cwd=TOOLS, check=True, timeout=900
        )
    return subprocess.run(
        [node, "validate.mjs", str(path)], cwd=TOOLS, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_entry_points_serve_the_document_without_authentication() -> None:
    """deploy/nginx/routes.json lists it under "documents" (./dev's nginx serves the file); the
    compose entry point serves the same file, mounted from the repository."""
    spec = json.loads((REPO / "deploy" / "nginx" / "routes.json").read_text())
    documents = {d["path"]: d["file"] for d in spec["documents"]}
    assert documents["/api/v1/asyncapi.json"] == "docs/asyncapi.json"
    conf = (REPO / "deploy" / "docker" / "nginx.conf").read_text()
    compose = (REPO / "docker-compose.yml").read_text()
    for path, file in documents.items():
        assert (REPO / file).is_file()
        alias = re.search(rf"location = {re.escape(path)} \{{ alias ([^;]+);", conf)
        assert alias, path
        assert f"./{file}:{alias.group(1)}:ro" in compose
