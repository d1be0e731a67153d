"""A test-only stand-in for the signer service, used ONLY while ``ail_signer`` is not in this
checkout: ``python -m tests.integration.submission.standin_signer``.

It speaks the signer's contract: EkeyHeartbeat every 5 s (TTL 15 s, as the signer) on
ail.signer.heartbeats, signs each
SignatureRequested whose ``signer_host`` is its host id with the SoftHSM2 token whose serial is
``ekey_serial`` (SHA-256 then CKM_ECDSA, DER), and answers ApplicationSigned on ail.signer with a
deterministic event id (uuid5 of the request's event id), so a re-delivered request gives the
same answer. Offsets are committed after the answer is sent (at-least-once; the answer's event id
makes it idempotent downstream).
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import uuid
from datetime import UTC, datetime
from typing import Any

import pkcs11
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from pkcs11 import Attribute, Mechanism, ObjectClass

from ail_shared import topics
from ail_shared.events import (
    ApplicationSigned,
    EkeyHeartbeat,
    HeldKey,
    SignatureRequested,
    decode_envelope,
    envelope_for,
    parse_payload,
)
from ail_shared.signatures import ECDSA_P256_SHA256

HOST = os.environ.get("AIL_SIGNER_HOST_ID", "standin-signer")


def open_tokens() -> dict[str, dict[str, Any]]:
    lib = pkcs11.lib(os.environ["AIL_PKCS11_MODULE"])
    pin = os.environ.get("AIL_SIGNER_PIN", "123456")
    out: dict[str, dict[str, Any]] = {}
    for slot in lib.get_slots(token_present=True):
        token = slot.get_token()
        try:
            session = token.open(user_pin=pin)
        except pkcs11.exceptions.PKCS11Error:
            continue  # SoftHSM2's free, uninitialised slot
        key = next(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
        cert_obj = next(session.get_objects({Attribute.CLASS: ObjectClass.CERTIFICATE}))
        cert = x509.load_der_x509_certificate(bytes(cert_obj[Attribute.VALUE]))
        serial = token.serial.decode() if isinstance(token.serial, bytes) else str(token.serial)
        out[serial.strip()] = {
            "session": session,
            "key": key,
            "label": token.label.strip(),
            "pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "subject": cert.subject.rfc4514_string(),
        }
    return out


def sign(tok: dict[str, Any], data: bytes) -> str:
    h = hashes.Hash(hashes.SHA256())
    h.update(data)
    raw = tok["key"].sign(h.finalize(), mechanism=Mechanism.ECDSA)
    n = len(raw) // 2
    der = encode_dss_signature(int.from_bytes(raw[:n], "big"), int.from_bytes(raw[n:], "big"))
    return base64.b64encode(der).decode()


async def main() -> None:
    bootstrap = os.environ["AIL_KAFKA_BOOTSTRAP"]
    tokens = open_tokens()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
    consumer = AIOKafkaConsumer(
        topics.SIGNER_REQUESTS,
        bootstrap_servers=bootstrap,
        group_id=f"standin-signer.{HOST}",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    await producer.start()
    await consumer.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async def heartbeats() -> None:
        while not stop.is_set():
            beat = EkeyHeartbeat(
                host_id=HOST,
                keys=[
                    HeldKey(
                        serial=s,
                        label=t["label"],
                        subject=t["subject"],
                        certificate_pem=t["pem"],
                        algorithm=ECDSA_P256_SHA256,
                    )
                    for s, t in tokens.items()
                ],
                sent_at=datetime.now(UTC),
                ttl_seconds=15.0,
            )
            env = envelope_for(beat, aggregate_id=HOST, tenant="")
            await producer.send_and_wait(topics.SIGNER_HEARTBEATS, env.to_bytes(), key=HOST.encode())
            try:
                await asyncio.wait_for(stop.wait(), 5.0)
            except TimeoutError:
                pass

    beat_task = asyncio.create_task(heartbeats())
    print(f"standin signer {HOST} holds {sorted(tokens)}", flush=True)
    try:
        while not stop.is_set():
            batch = await consumer.getmany(timeout_ms=300, max_records=200)
            for records in batch.values():
                for rec in records:
                    env = decode_envelope(rec.value)
                    if env.event_type != "SignatureRequested":
                        continue
                    req = parse_payload(env)
                    assert isinstance(req, SignatureRequested)
                    tok = tokens.get(req.ekey_serial)
                    if req.signer_host != HOST or tok is None:
                        continue
                    data = base64.b64decode(req.canonical_payload)
                    answer = ApplicationSigned(
                        application_id=req.application_id,
                        submission_id=req.submission_id,
                        ekey_serial=req.ekey_serial,
                        algorithm=ECDSA_P256_SHA256,
                        signature=sign(tok, data),
                        certificate_pem=tok["pem"],
                        signer_host=HOST,
                    )
                    out = envelope_for(
                        answer,
                        aggregate_id=req.application_id,
                        tenant=env.tenant,
                        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"signed:{env.event_id}"),
                    )
                    await producer.send(topics.SIGNER, out.to_bytes(), key=req.application_id.encode())
            if batch:
                await producer.flush()
                await consumer.commit()
    finally:
        stop.set()
        await beat_task
        await consumer.stop()
        await producer.stop()


if __name__ == "__main__":
    asyncio.run(main())
