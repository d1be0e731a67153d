"""A signer host process on SoftHSM2 tokens of the test's own: a token pulled out and put back,
an RSA-2048 e-key, an e-key whose PIN is not the configured one, and one whose certificate is
not of its key."""

from __future__ import annotations

import base64
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ail_shared.events import Envelope
from tests.integration.signer.support import (
    SignerProcess,
    SoftHsm,
    TopicWatch,
    openssl_verifies,
    read_certificate_pem,
    request,
    send_requests,
)

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)


@pytest.fixture(scope="module")
async def signer_host(
    stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("softhsm")
    hsm = SoftHsm(root)
    serials = {
        "ec": hsm.make_token("test-ec"),
        "rsa": hsm.make_token("test-rsa", key="rsa"),
        "other-pin": hsm.make_token("test-other-pin", pin="654321"),
        "kill": hsm.make_token("test-kill"),
        "foreign-cert": hsm.make_token("test-foreign-cert", foreign_certificate=True),
    }
    signer = SignerProcess(stack, hsm, f"test-signer-{uuid.uuid4().hex[:8]}", root / "signer.log")
    try:
        await signer.wait_healthy()
        yield {"hsm": hsm, "signer": signer, "serials": serials, "root": root}
    finally:
        signer.stop()


def serials_in(beat: Envelope) -> set[str]:
    return {k["serial"] for k in beat.payload["keys"]}


async def test_token_removed_then_back(
    signer_host: dict[str, Any],
    kafka_bootstrap: str,
    signer_answers: TopicWatch,
    signer_heartbeats: TopicWatch,
    workdir: Path,
) -> None:
    hsm, signer, serial = signer_host["hsm"], signer_host["signer"], signer_host["serials"]["ec"]
    mine = signer.host_id

    beat = await signer_heartbeats.wait_for(
        lambda e: e.aggregate_id == mine and serial in serials_in(e), what="a heartbeat with the key"
    )
    assert beat.payload["ttl_seconds"] > 0

    hsm.remove(serial)
    await signer_heartbeats.wait_for(
        lambda e: e.aggregate_id == mine and serial not in serials_in(e), what="a heartbeat without the key"
    )
    assert serial not in {k["serial"] for k in (await signer.keys())["keys"]}
    absent = request(serial, host=mine)
    await send_requests(kafka_bootstrap, [absent])
    answer = await signer_answers.answer(absent.aggregate_id)
    assert answer.event_type == "SigningFailed"
    assert answer.payload["reason"] == "ekey_not_present"

    hsm.insert(serial)
    back_at = len(signer_heartbeats.records)
    await signer_heartbeats.wait_for(
        lambda e: (
            e.aggregate_id == mine
            and serial in serials_in(e)
            and signer_heartbeats.records.index(e) >= back_at
        ),
        what="a heartbeat with the key again",
    )
    again = request(serial, host=mine)
    await send_requests(kafka_bootstrap, [again])
    answer = await signer_answers.answer(again.aggregate_id)
    assert answer.event_type == "ApplicationSigned", answer.payload
    cert = read_certificate_pem(str(hsm.conf), "test-ec", workdir)
    assert openssl_verifies(
        cert,
        base64.b64decode(again.payload["canonical_payload"]),
        base64.b64decode(answer.payload["signature"]),
        workdir,
    )


async def test_rsa_2048_e_key(
    signer_host: dict[str, Any], kafka_bootstrap: str, signer_answers: TopicWatch, workdir: Path
) -> None:
    hsm, signer, serial = signer_host["hsm"], signer_host["signer"], signer_host["serials"]["rsa"]
    req = request(serial, host=signer.host_id)
    await send_requests(kafka_bootstrap, [req])
    answer = await signer_answers.answer(req.aggregate_id)
    assert answer.event_type == "ApplicationSigned", answer.payload
    assert answer.payload["algorithm"] == "rsa-pkcs1v15-sha256"
    signature = base64.b64decode(answer.payload["signature"])
    assert len(signature) == 256
    cert = read_certificate_pem(str(hsm.conf), "test-rsa", workdir)
    signed = base64.b64decode(req.payload["canonical_payload"])
    assert openssl_verifies(cert, signed, signature, workdir)
    assert not openssl_verifies(cert, signed.replace(b"1200.5", b"1200.6"), signature, workdir)


async def test_e_key_refusing_the_pin(
    signer_host: dict[str, Any], kafka_bootstrap: str, signer_answers: TopicWatch
) -> None:
    signer, serial = signer_host["signer"], signer_host["serials"]["other-pin"]
    listed = {k["serial"]: k["status"] for k in (await signer.keys())["keys"]}
    assert listed.get(serial) == "pin_incorrect"
    req = request(serial, host=signer.host_id)
    await send_requests(kafka_bootstrap, [req])
    answer = await signer_answers.answer(req.aggregate_id)
    assert answer.event_type == "SigningFailed"
    assert answer.payload["reason"] == "pin_incorrect"


async def test_e_key_whose_signatures_do_not_verify_is_not_used(
    signer_host: dict[str, Any], kafka_bootstrap: str, signer_answers: TopicWatch
) -> None:
    """The signer verifies what it signs against the token's certificate: a token whose key is
    not the certificate's fails that check (at the self-test when it is opened), so it is never
    announced and nothing is signed with it."""
    signer, serial = signer_host["signer"], signer_host["serials"]["foreign-cert"]
    assert serial not in {k["serial"] for k in (await signer.keys())["keys"]}
    log = (signer_host["root"] / "signer.log").read_text()
    unusable = [line for line in log.splitlines() if "ekey_unusable" in line and serial in line]
    assert unusable and "InvalidSignature" in unusable[0], log[-2000:]
    req = request(serial, host=signer.host_id)
    await send_requests(kafka_bootstrap, [req])
    answer = await signer_answers.answer(req.aggregate_id)
    assert answer.event_type == "SigningFailed"
    assert answer.payload["reason"] == "ekey_not_present"


async def test_signer_killed_mid_batch_answers_every_request_once(
    signer_host: dict[str, Any], stack: dict[str, str], kafka_bootstrap: str, signer_answers: TopicWatch
) -> None:
    """SIGKILL while a batch is being signed and written, then a restart with the same host id:
    every request gets exactly one answer, and it is a signature."""
    serial = signer_host["serials"]["kill"]
    signer = SignerProcess(
        stack, signer_host["hsm"], f"test-kill-{uuid.uuid4().hex[:8]}", signer_host["root"] / "kill.log"
    )
    try:
        await signer.wait_healthy()
        requests = [request(serial, host=signer.host_id) for _ in range(300)]
        wanted = {r.aggregate_id for r in requests}
        await send_requests(kafka_bootstrap, requests)
        await signer_answers.wait_for(lambda e: e.aggregate_id in wanted, what="the first answers")
        signer.kill()
        answered_before_restart = {e.aggregate_id for e in signer_answers.records if e.aggregate_id in wanted}
        signer.restart()
        await signer.wait_healthy()
        await signer_answers.wait_for(
            lambda e: {x.aggregate_id for x in signer_answers.records if x.aggregate_id in wanted} == wanted,
            timeout=90,
            what="an answer to every request",
        )
        sentinel = request(serial, host=signer.host_id)
        await send_requests(kafka_bootstrap, [sentinel])
        await signer_answers.answer(sentinel.aggregate_id)
        await signer_answers.poll()
    finally:
        signer.stop()
    mine = [e for e in signer_answers.records if e.aggregate_id in wanted]
    assert len(answered_before_restart) < len(wanted), "the kill came too late to test anything"
    assert sorted(e.aggregate_id for e in mine) == sorted(wanted)  # one answer each
    assert {e.event_type for e in mine} == {"ApplicationSigned"}
