"""The stack's signer host with the demo e-keys (SoftHSM2), through the real Kafka and PostgreSQL:
signatures checked by openssl against the certificate pkcs11-tool reads from the token."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ail_shared.canonical import canonical_json
from ail_signer.domain.model import answer_event_id
from tests.integration.signer.support import (
    TopicWatch,
    openssl_verifies,
    read_certificate_pem,
    request,
    send_requests,
    snapshot,
)


async def test_signature_verifies_with_openssl_against_the_tokens_certificate(
    stack: dict[str, str],
    kafka_bootstrap: str,
    stack_signer: dict[str, Any],
    signer_answers: TopicWatch,
    workdir: Path,
) -> None:
    serial = stack_signer["demo"]["demo-ekey-1"]
    req = request(serial, host=stack_signer["host_id"])
    await send_requests(kafka_bootstrap, [req])

    answer = await signer_answers.answer(req.aggregate_id)
    assert answer.event_type == "ApplicationSigned", answer.payload
    assert answer.event_id == answer_event_id(req.event_id)
    assert answer.payload["ekey_serial"] == serial
    assert answer.payload["algorithm"] == "ecdsa-p256-sha256"
    assert answer.payload["signer_host"] == stack_signer["host_id"]
    assert answer.tenant == "1100776367555"

    token_cert = read_certificate_pem(stack["SOFTHSM2_CONF"], "demo-ekey-1", workdir)
    signature = base64.b64decode(answer.payload["signature"])
    signed_bytes = base64.b64decode(req.payload["canonical_payload"])
    assert openssl_verifies(token_cert, signed_bytes, signature, workdir)
    # The certificate in the event is the token's.
    assert answer.payload["certificate_pem"].strip() == token_cert.strip()

    changed = canonical_json({**snapshot(req.aggregate_id), "total_value_usd": 5102.14})
    assert not openssl_verifies(token_cert, changed, signature, workdir)


async def test_non_canonical_payload_is_refused(
    kafka_bootstrap: str, stack_signer: dict[str, Any], signer_answers: TopicWatch
) -> None:
    serial = stack_signer["demo"]["demo-ekey-2"]
    host = stack_signer["host_id"]
    spaced = request(serial, host=host, payload=b'{"b": 1, "a": 2}', enterprise="3100123456789")
    not_json = request(serial, host=host, payload=b"{not json", enterprise="3100123456789")
    await send_requests(kafka_bootstrap, [spaced, not_json])

    for req, detail in ((spaced, "not in RFC8785-JCS form"), (not_json, "not JSON")):
        answer = await signer_answers.answer(req.aggregate_id)
        assert answer.event_type == "SigningFailed"
        assert answer.payload["reason"] == "payload_invalid"
        assert detail in answer.payload["detail"]


async def test_unknown_key_on_this_host_is_ekey_not_present(
    kafka_bootstrap: str, stack_signer: dict[str, Any], signer_answers: TopicWatch
) -> None:
    req = request("00000000deadbeef", host=stack_signer["host_id"])
    await send_requests(kafka_bootstrap, [req])
    answer = await signer_answers.answer(req.aggregate_id)
    assert answer.event_type == "SigningFailed"
    assert answer.payload["reason"] == "ekey_not_present"


async def test_requests_for_other_hosts_are_left_alone(
    kafka_bootstrap: str, stack_signer: dict[str, Any], signer_answers: TopicWatch
) -> None:
    serial = stack_signer["demo"]["demo-ekey-1"]
    elsewhere = request(serial, host="another-signer-host")
    mine = request(serial, host=stack_signer["host_id"])
    # Same key, same partition: once the second is answered the first has been read.
    await send_requests(kafka_bootstrap, [elsewhere, mine])
    await signer_answers.answer(mine.aggregate_id)
    await signer_answers.poll()
    assert signer_answers.answers_for(elsewhere.aggregate_id) == []


async def test_redelivered_request_gets_one_answer(
    kafka_bootstrap: str, stack_signer: dict[str, Any], signer_answers: TopicWatch, db: Any
) -> None:
    serial = stack_signer["demo"]["demo-ekey-1"]
    host = stack_signer["host_id"]
    req = request(serial, host=host)
    # Twice in a row (likely one poll batch), then once more after it was answered.
    await send_requests(kafka_bootstrap, [req, req])
    first = await signer_answers.answer(req.aggregate_id)
    sentinel = request(serial, host=host)
    await send_requests(kafka_bootstrap, [req, sentinel])
    await signer_answers.answer(sentinel.aggregate_id)
    await signer_answers.poll()

    assert [a.event_id for a in signer_answers.answers_for(req.aggregate_id)] == [first.event_id]
    rows = await db.fetch("SELECT outcome FROM signer.signatures WHERE request_event_id = $1", req.event_id)
    assert [r["outcome"] for r in rows] == ["signed"]
