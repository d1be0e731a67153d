"""The AsyncAPI document against the running stack: the entry point serves it without a key, the
consumer groups on Kafka are the documented ones, and a sample of every event type, read from
the live topics after driving the flows that produce it through the API and the sandboxes, fits
its message's payload and header schemas in the document."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

import httpx
import jsonschema
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from referencing import Registry
from referencing.jsonschema import DRAFT7

from ail_shared import asyncapi, topics
from ail_shared.events import EVENT_TYPES, EkeyHeartbeat, HeldKey, envelope_for
from ail_shared.kafka import make_producer
from ail_shared.topics import all_topic_names
from tests.integration.submission.support import create_draft, wait_status
from tests.support import dev, eventually

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

REPO = Path(__file__).resolve().parents[2]
DOC = json.loads((REPO / "docs" / "asyncapi.json").read_text())
BASE = "urn:ail:asyncapi"
REGISTRY: Registry[Any] = Registry().with_resource(BASE, DRAFT7.create_resource(DOC))
HEARTBEAT_LIFETIME = 15.0


def validator(pointer: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(
        {"$ref": f"{BASE}#{pointer}"},
        registry=REGISTRY,
        format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER,
    )


def problems(pointer: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in validator(pointer).iter_errors(instance)
    ]


async def test_the_entry_point_serves_the_document_without_a_key(entry_url: str) -> None:
    async with httpx.AsyncClient(base_url=entry_url) as anon:
        r = await anon.get("/api/v1/asyncapi.json")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == asyncapi.build()


async def test_the_consumer_groups_on_kafka_are_the_documented_ones(kafka_bootstrap: str) -> None:
    """Every documented group exists on the stack's Kafka and commits offsets only on the topics
    the document gives it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        groups = {g[0] for g in await admin.list_consumer_groups()}
        for g in asyncapi.CONSUMER_GROUPS:
            names = sorted(n for n in groups if re.fullmatch(g.group, n)) if g.pattern else [g.group]
            assert names and set(names) <= groups, (g.group, sorted(groups))
            for name in names:
                offsets = await admin.list_consumer_group_offsets(name)
                assert {tp.topic for tp in offsets} <= set(g.topics), (name, offsets)
    finally:
        await admin.close()


# ---------------------------------------------------------------- driving the flows


@pytest.fixture
async def mofcom(stack: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10) as c:
        before = (await c.get("/control")).json()
        yield c
        await c.post("/control", json={k: before[k] for k in ("first_delay", "second_delay")})


@pytest.fixture
async def customs(stack: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=stack["AIL_CUSTOMS_URL"], timeout=10) as c:
        yield c


async def _submitted(client: httpx.AsyncClient) -> str:
    app_id = await create_draft(client)
    resp = await client.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    return app_id


async def _licensed_and_declared(client: httpx.AsyncClient, customs: httpx.AsyncClient) -> None:
    """SubmissionAccepted ... LicenseIssued, CustomsStored; then ClearanceRecorded, ClearanceReversed
    (the declaration invalidated) and ClearanceRefused (a declaration over the license)."""
    app = await wait_status(client, await _submitted(client), "license_issued", timeout=120)
    license_no = app["license_no"]

    async def stored() -> bool:
        r = await client.get(f"/api/v1/licenses/{license_no}")
        return r.status_code == 200

    await eventually(stored, timeout=60, what=f"license {license_no} at customs")
    first = await customs.post(
        "/control/declarations", json={"license_no": license_no, "lines": [{"quantity": "1"}]}
    )
    first.raise_for_status()
    await asyncio.sleep(2)  # the feed is read in order: the invalidation after the declaration
    no = first.json()["declaration_no"]
    (await customs.post(f"/control/declarations/{no}/invalidate", json={})).raise_for_status()
    over = {"license_no": license_no, "lines": [{"quantity": "999999999"}]}
    (await customs.post("/control/declarations", json=over)).raise_for_status()


async def _revoked(client: httpx.AsyncClient, mofcom: httpx.AsyncClient) -> None:
    await mofcom.post("/control", json={"first_delay": 120})
    app_id = await _submitted(client)
    await wait_status(client, app_id, "pending_first_review", timeout=90)
    resp = await client.post(f"/api/v1/applications/{app_id}/revoke")
    assert resp.status_code == 200, resp.text
    await mofcom.post("/control", json={"first_delay": 0.5})


async def _rejected_by_mofcom(
    client: httpx.AsyncClient, mofcom: httpx.AsyncClient, bound: dict[str, Any]
) -> None:
    """MOFCOM holds another certificate for the e-key: it refuses the signature (SubmissionRejected).
    The right certificate (from the EkeyBound event) is registered again afterwards."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    enterprise, serial = bound["enterprise_code"], bound["ekey_serial"]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, enterprise)])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    wrong = cert.public_bytes(serialization.Encoding.PEM).decode()
    body = {"enterprise_code": enterprise, "ekey_serial": serial}
    (await mofcom.post("/mofcom/certificates", json={**body, "certificate_pem": wrong})).raise_for_status()
    try:
        app_id = await _submitted(client)
        await wait_status(client, app_id, "draft", timeout=90)
    finally:
        right = {**body, "certificate_pem": bound["certificate_pem"]}
        (await mofcom.post("/mofcom/certificates", json=right)).raise_for_status()


async def _deferred_then_failed(client: httpx.AsyncClient, bootstrap: str, bound: dict[str, Any]) -> None:
    """No signer host announces the e-key (the signer is down): SigningDeferred. Then a host says
    the key was removed (two heartbeats of a stand-in host: an old one holding it, a new one
    without it): the submission fails with ekey_not_present (SigningFailed)."""
    dev("kill", "signer")
    try:
        await asyncio.sleep(HEARTBEAT_LIFETIME + 5)
        app_id = await _submitted(client)

        async def reason() -> str:
            app = (await client.get(f"/api/v1/applications/{app_id}")).json()
            return str(app.get("status_reason") or "")

        async def waiting() -> bool:
            return "waiting for e-key" in await reason()

        await eventually(waiting, timeout=60, what="the submission to wait for its e-key")
        host, now = f"asyncapi-test-{uuid4().hex[:8]}", datetime.now(UTC)
        held = HeldKey(serial=bound["ekey_serial"], certificate_pem=bound["certificate_pem"])
        producer = make_producer(bootstrap)
        await producer.start()
        try:
            for keys, sent_at in (([held], now - timedelta(minutes=2)), ([], now)):
                beat = EkeyHeartbeat(host_id=host, keys=keys, sent_at=sent_at, ttl_seconds=15)
                env = envelope_for(beat, aggregate_id=host, tenant="")
                headers = [
                    ("event_type", env.event_type.encode()),
                    ("schema_version", env.schema_version.encode()),
                    ("event_id", str(env.event_id).encode()),
                ]
                await producer.send_and_wait(
                    topics.SIGNER_HEARTBEATS, value=env.to_bytes(), key=host.encode(), headers=headers
                )
        finally:
            await producer.stop()

        async def failed() -> bool:
            return "ekey_not_present" in await reason()

        await eventually(failed, timeout=60, what="the submission to fail with ekey_not_present")
    finally:
        dev("start", "signer")


async def _records(bootstrap: str) -> list[Any]:
    """Every committed record of every topic of the table, read up to its end offsets now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, isolation_level="read_committed"
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()  # noqa: SLF001 - topics this client has not seen
        tps = [
            TopicPartition(t, p)
            for t in all_topic_names()
            for p in sorted(consumer.partitions_for_topic(t) or ())
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            pending = [tp for tp in tps if await consumer.position(tp) < ends[tp]]
            if not pending:
                break
            for records in (await consumer.getmany(*pending, timeout_ms=500)).values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def _samples(bootstrap: str) -> tuple[dict[str, list[Any]], list[Any]]:
    by_type: dict[str, list[Any]] = {}
    dead: list[Any] = []
    for rec in await _records(bootstrap):
        if rec.topic.endswith(".dlt"):
            dead.append(rec)
            continue
        try:
            event_type = json.loads(rec.value)["event_type"]
        except (ValueError, KeyError, TypeError):
            continue  # the internal topics (faust changelogs, relay state) carry no envelope
        by_type.setdefault(event_type, []).append(rec)
    return by_type, dead


async def _binding(client: httpx.AsyncClient, samples: dict[str, list[Any]]) -> dict[str, Any]:
    """The enterprise's e-key binding as its EkeyBound event carries it (with the certificate)."""
    serial = (await client.get("/api/v1/ekey-bindings")).json()["items"][0]["ekey_serial"]
    payloads = [json.loads(r.value)["payload"] for r in samples["EkeyBound"]]
    found: dict[str, Any] = next(p for p in reversed(payloads) if p["ekey_serial"] == serial)
    return found


def _headers(rec: Any) -> dict[str, str]:
    return {k: v.decode() for k, v in rec.headers or ()}


@pytest.mark.timeout(900)
async def test_a_live_sample_of_every_event_type_fits_its_schema(
    enterprise_a: httpx.AsyncClient,
    mofcom: httpx.AsyncClient,
    customs: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    samples, _ = await _samples(kafka_bootstrap)
    if not {"LicenseIssued", "ClearanceRecorded", "ClearanceReversed", "ClearanceRefused"} <= set(samples):
        await _licensed_and_declared(enterprise_a, customs)
    if "ApplicationRevoked" not in samples:
        await _revoked(enterprise_a, mofcom)
    if not {"SubmissionRejected", "SigningDeferred", "SigningFailed"} <= set(samples):
        bound = await _binding(enterprise_a, samples)
        if "SubmissionRejected" not in samples:
            await _rejected_by_mofcom(enterprise_a, mofcom, bound)
        if not {"SigningDeferred", "SigningFailed"} <= set(samples):
            await _deferred_then_failed(enterprise_a, kafka_bootstrap, bound)

    dead: list[Any] = []

    async def all_types() -> dict[str, list[Any]]:
        found, dead[:] = await _samples(kafka_bootstrap)
        return found if set(EVENT_TYPES) <= set(found) else {}

    samples = await eventually(all_types, timeout=120, interval=2, what="a sample of every event type")
    # Whatever a consumer dead-lettered (none on a healthy run) carries the documented headers.
    for rec in dead:
        message = f"/components/messages/{asyncapi.channel_id(rec.topic)}_record/headers"
        assert problems(message, _headers(rec)) == [], f"{rec.topic}@{rec.offset}"
    assert set(samples) <= set(EVENT_TYPES), set(samples) - set(EVENT_TYPES)
    # Records that tests published themselves (the customs tests put envelopes straight on the
    # topic) carry no headers; every record the outbox relays has them. The payload of every
    # sample must fit; the headers of every record that has them; and each event type needs at
    # least one record written by the platform.
    from_platform: set[str] = set()
    for event_type, records in sorted(samples.items()):
        chosen = [r for r in records if r.headers][-25:] + [r for r in records if not r.headers][-5:]
        for rec in chosen:
            value = json.loads(rec.value)
            where = f"{event_type} at {rec.topic}/{rec.partition}@{rec.offset}"
            assert problems(f"/components/messages/{event_type}/payload", value) == [], where
            # The topic's key: the e-key serial for signature requests (the signer tests key their
            # hand-made requests so too, with an application id as aggregate), else the aggregate.
            key = (
                value["payload"]["ekey_serial"]
                if event_type == "SignatureRequested"
                else value["aggregate_id"]
            )
            assert rec.key.decode() == key, where
            headers = _headers(rec)
            if headers:
                assert problems(f"/components/messages/{event_type}/headers", headers) == [], where
                from_platform.add(event_type)
    assert from_platform == set(EVENT_TYPES), set(EVENT_TYPES) - from_platform

    # The schemas have teeth: a sample without a required payload field, or with a wrong type, fails.
    sample = json.loads(samples["LicenseIssued"][-1].value)
    broken = {**sample, "payload": {k: v for k, v in sample["payload"].items() if k != "license_no"}}
    assert problems("/components/messages/LicenseIssued/payload", broken)
    retyped = {**sample, "event_type": "LicenseRevoked"}
    assert problems("/components/messages/LicenseIssued/payload", retyped)
    assert problems(
        "/components/messages/LicenseIssued/headers",
        {**_headers(samples["LicenseIssued"][-1]), "event_id": "x"},
    )
