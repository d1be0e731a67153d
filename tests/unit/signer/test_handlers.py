"""Every handler of the signer host with fakes (no token, database or Kafka): the answers it
writes (event, id, topic, audit row), what it leaves alone, the heartbeat, and the key watch."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from ail_shared import topics
from ail_shared.events import SignatureRequested
from ail_signer.domain.commands import AnnounceKeys, AnswerSignatureRequests
from ail_signer.domain.model import answer_event_id, digest
from ail_signer.service_layer import handlers
from ail_signer.service_layer.handlers import EVENT_HANDLERS, handle, inject
from ail_signer.service_layer.workers import KeyWatch
from tests.unit.signer.fakes import HOST, SERIAL, FakeTokens, FakeUnitOfWork, host, key, request

CONSUMER = f"signer.{HOST}"
NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def test_the_request_event_has_its_handler() -> None:
    assert EVENT_HANDLERS == {SignatureRequested: handlers.answer_signature_request}
    assert set(inject(host())) == {SignatureRequested}


async def test_a_request_is_signed_and_answered_with_an_id_derived_from_it() -> None:
    uow = FakeUnitOfWork()
    env, ev = request()
    await inject(host())[SignatureRequested](uow, ev, env)
    (answer,) = uow.store.events(topics.SIGNER)
    assert answer.event_type == "ApplicationSigned" and answer.event_id == answer_event_id(env.event_id)
    assert answer.aggregate_id == "app-1" and answer.tenant == ev.enterprise_code
    payload = base64.b64decode(ev.canonical_payload)
    assert base64.b64decode(answer.payload["signature"]) == b"sig:" + payload
    assert answer.payload["signer_host"] == HOST and answer.payload["submission_id"] == "sub-app-1"
    (row,) = uow.store.records
    assert (row.outcome, row.reason, row.payload_sha256) == ("signed", None, digest(payload))
    assert uow.commits == 1


async def test_a_request_for_another_host_is_left_alone() -> None:
    uow = FakeUnitOfWork()
    tokens = FakeTokens(key())
    env, ev = request(signer_host="host-b")
    await inject(host(tokens))[SignatureRequested](uow, ev, env)
    assert uow.store.outbox == [] and uow.store.records == [] and tokens.jobs == []


async def test_a_non_canonical_payload_is_refused_without_touching_the_token() -> None:
    uow = FakeUnitOfWork()
    tokens = FakeTokens(key())
    env, ev = request(payload=b'{"b":1,"a":2}')
    await inject(host(tokens))[SignatureRequested](uow, ev, env)
    (answer,) = uow.store.events(topics.SIGNER)
    assert answer.event_type == "SigningFailed" and answer.payload["reason"] == "payload_invalid"
    assert tokens.jobs == [] and uow.store.records[0].outcome == "failed"


async def test_a_key_gone_from_the_token_fails_the_request_and_wakes_the_key_watch() -> None:
    uow = FakeUnitOfWork()
    tokens = FakeTokens(keys_changed=True)  # the token vanished while signing
    h = host(tokens)  # the last scan still lists the key
    woken: list[bool] = []
    h.on_keys_changed(lambda: woken.append(True))
    env, ev = request()
    await inject(h)[SignatureRequested](uow, ev, env)
    (answer,) = uow.store.events(topics.SIGNER)
    assert answer.event_type == "SigningFailed" and answer.payload["reason"] == "ekey_not_present"
    assert h.keys_changed and woken == [True]


async def test_a_batch_answers_each_own_new_request_once() -> None:
    uow = FakeUnitOfWork()
    tokens = FakeTokens(key())
    mine, other, seen = request(app="a1"), request(app="a2", signer_host="host-b"), request(app="a3")
    uow.store.inbox[CONSUMER] = {seen[0].event_id}  # applied before (a redelivery)
    no_host = request(app="a4", signer_host="")  # goes to whoever holds the key: us
    cmd = AnswerSignatureRequests(consumer=CONSUMER, requests=(mine, other, seen, mine, no_host))
    result = await handle(uow, cmd, host(tokens))
    assert (result.applied, result.duplicates, result.ignored) == (2, 2, 1)
    answered = {e.aggregate_id for e in uow.store.events(topics.SIGNER)}
    assert answered == {"a1", "a4"} and len(tokens.jobs) == 2
    assert uow.store.inbox[CONSUMER] == {seen[0].event_id, mine[0].event_id, no_host[0].event_id}


async def test_a_batch_does_not_answer_what_another_transaction_claimed_meanwhile() -> None:
    uow = FakeUnitOfWork()
    first, second = request(app="a1"), request(app="a2")
    uow.answers.taken_elsewhere = {second[0].event_id}  # a rebalance: another member claimed it
    result = await handle(uow, AnswerSignatureRequests(consumer=CONSUMER, requests=(first, second)), host())
    assert (result.applied, result.duplicates) == (1, 1)
    assert [e.aggregate_id for e in uow.store.events(topics.SIGNER)] == ["a1"]
    assert [r.application_id for r in uow.store.records] == ["a1"]


async def test_a_batch_whose_write_fails_writes_nothing() -> None:
    uow = FakeUnitOfWork()
    uow.answers.fail_claims = [ConnectionError("database went away")]
    try:
        await handle(uow, AnswerSignatureRequests(consumer=CONSUMER, requests=(request(),)), host())
    except ConnectionError:
        pass
    assert uow.store.outbox == [] and uow.store.records == [] and uow.store.inbox == {}


async def test_announce_keys_writes_a_heartbeat_naming_the_keys_held() -> None:
    uow = FakeUnitOfWork()
    h = host(keys=[key(), key("1a2b")])
    await handle(uow, AnnounceKeys(sent_at=NOW), h)
    (beat,) = uow.store.events(topics.SIGNER_HEARTBEATS)
    assert beat.event_type == "EkeyHeartbeat" and beat.aggregate_id == HOST
    assert [k["serial"] for k in beat.payload["keys"]] == [SERIAL, "1a2b"]
    assert beat.payload["ttl_seconds"] == 15.0 and beat.payload["sent_at"].startswith("2026-11-27T12:00:00")
    assert uow.store.events(topics.SIGNER) == []


async def test_key_watch_announces_at_start_on_change_and_on_the_heartbeat_interval() -> None:
    uow = FakeUnitOfWork()
    tokens = FakeTokens(key())
    h = host(tokens, keys=[])
    clock = [100.0]
    watch = KeyWatch(h, lambda: uow, heartbeat_seconds=5.0, clock=lambda: clock[0])

    def beats() -> int:
        return len(uow.store.events(topics.SIGNER_HEARTBEATS))

    await watch.step()  # start-up: the keys found are announced
    assert beats() == 1 and h.held_serials() == {SERIAL}
    clock[0] += 1
    await watch.step()  # nothing changed, interval not over
    assert beats() == 1
    tokens.keys = []  # removed
    clock[0] += 1
    await watch.step()
    assert beats() == 2 and uow.store.events(topics.SIGNER_HEARTBEATS)[-1].payload["keys"] == []
    clock[0] += 5
    await watch.step()  # the interval is over
    assert beats() == 3
    h.mark_keys_changed()  # signing found a token gone
    await watch.step()
    assert beats() == 4 and not h.keys_changed
