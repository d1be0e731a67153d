"""Handler unit tests (fakes, no I/O): a submitted application on its way to a signature, the
heartbeats that tell where the e-key is, the signer's answers and the e-key-wait worker's steps."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest

from ail_shared import topics
from ail_shared.consumer import PermanentError
from ail_shared.events import (
    ApplicationSigned,
    ApplicationSubmitted,
    EkeyHeartbeat,
    HeldKey,
    SignatureRequested,
    SigningDeferred,
    SigningFailed,
)
from ail_submission.domain.commands import RerouteStrandedRequests, ResolveWaitingSubmissions
from ail_submission.domain.model import SIGNED, SIGNING, SIGNING_FAILED, WAITING_EKEY
from ail_submission.service_layer import handlers
from tests.unit.submission.fakes import (
    ENTERPRISE,
    SERIAL,
    FakeUnitOfWork,
    a_submission,
    env_of,
    snapshot,
    view_of,
)

GRACE = timedelta(minutes=10)


def submitted(**over: object) -> ApplicationSubmitted:
    fields: dict[str, object] = {
        "application_id": str(uuid4()),
        "serial_no": "NA2600000000000001",
        "enterprise_code": ENTERPRISE,
        "submission_id": str(uuid4()),
        "snapshot": snapshot(),
    }
    fields.update(over)
    return ApplicationSubmitted(**fields)


async def on_submitted(uow: FakeUnitOfWork, event: ApplicationSubmitted) -> None:
    await handlers.on_application_submitted(uow, event, env_of(event), grace=GRACE, clock=uow.clock)


# ---------------------------------------------------------------- ApplicationSubmitted


async def test_submitted_with_the_key_announced_asks_that_host_for_a_signature() -> None:
    uow = FakeUnitOfWork()
    uow.bind_key()
    uow.announce(host="host-b")
    event = submitted()
    await on_submitted(uow, event)

    sub = uow.submission(UUID(event.submission_id))
    assert sub.state == SIGNING and sub.signer_host == "host-b" and sub.ekey_serial == SERIAL
    view = uow.view(sub.application_id)
    assert (
        view.status == "submitting" and view.submission_id == sub.submission_id and view.status_reason is None
    )
    [request] = uow.events(SignatureRequested)
    assert request.signer_host == "host-b" and request.canonical_payload == sub.payload_b64()
    # Signature requests go to the signers' request topic, keyed by the e-key serial.
    assert uow.topics_of(SignatureRequested) == [(topics.SIGNER_REQUESTS, SERIAL)]
    assert uow.commits == 1


async def test_submitted_without_a_binding_fails_fast_back_to_draft() -> None:
    uow = FakeUnitOfWork()
    event = submitted()
    await on_submitted(uow, event)

    [failed] = uow.events(SigningFailed)
    assert failed.reason == "ekey_not_bound"
    assert uow.topics_of(SigningFailed) == [(topics.SIGNER, event.application_id)]
    sub = uow.submission(UUID(event.submission_id))
    assert sub.state == SIGNING_FAILED and sub.reason == "ekey_not_bound"
    view = uow.view(sub.application_id)
    assert view.status == "draft" and view.status_reason == "ekey_not_bound"


async def test_submitted_while_no_host_announces_the_key_waits_visibly() -> None:
    uow = FakeUnitOfWork()
    uow.bind_key()
    event = submitted()
    await on_submitted(uow, event)

    sub = uow.submission(UUID(event.submission_id))
    assert sub.state == WAITING_EKEY and sub.waiting_since == uow.clock()
    [deferred] = uow.events(SigningDeferred)
    assert deferred.give_up_at == uow.clock() + GRACE
    view = uow.view(sub.application_id)
    assert view.status == "submitting"  # nothing goes back to draft while it waits
    assert view.status_reason == f"waiting for e-key {SERIAL} on a signer host"


async def test_submitted_when_the_host_said_the_key_is_gone_fails_with_ekey_not_present() -> None:
    uow = FakeUnitOfWork()
    uow.bind_key()
    uow.announce(at=uow.clock() - timedelta(minutes=1), absent_at=uow.clock() - timedelta(seconds=5))
    event = submitted()
    await on_submitted(uow, event)

    [failed] = uow.events(SigningFailed)
    assert failed.reason == "ekey_not_present"
    assert "reported e-key" in failed.detail
    assert uow.view(UUID(event.application_id)).status == "draft"


async def test_a_repeated_submitted_event_is_applied_once() -> None:
    uow = FakeUnitOfWork()
    uow.bind_key()
    uow.announce()
    event = submitted()
    await on_submitted(uow, event)
    await on_submitted(uow, event)
    assert len(uow.events(SignatureRequested)) == 1


async def test_a_resubmission_becomes_the_current_submission() -> None:
    uow = FakeUnitOfWork()
    first = a_submission(state=SIGNING_FAILED)
    uow.put(first, view_of(first, status="draft", status_reason="ekey_not_bound", form_no="OLD"))
    uow.bind_key()
    uow.announce()
    again = submitted(application_id=str(first.application_id))
    await on_submitted(uow, again)
    view = uow.view(first.application_id)
    assert str(view.submission_id) == again.submission_id
    assert view.status == "submitting" and view.status_reason is None
    assert view.form_no is None  # the old form's number is not the new one's (issue 13, item 12)


async def test_a_snapshot_without_goods_is_refused_for_the_dead_letter_topic() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(PermanentError, match="goods"):
        await on_submitted(uow, submitted(snapshot=snapshot(goods=[])))
    assert uow.published == [] and uow.submissions.rows == {}  # type: ignore[attr-defined]


# ---------------------------------------------------------------- EkeyHeartbeat


def heartbeat(uow: FakeUnitOfWork, *serials: str, host: str = "host-a") -> EkeyHeartbeat:
    return EkeyHeartbeat(
        host_id=host,
        keys=[HeldKey(serial=s, subject=f"CN=k,O={ENTERPRISE}") for s in serials],
        sent_at=uow.clock(),
    )


async def test_a_heartbeat_announcing_the_key_sends_the_waiting_submission_to_its_host() -> None:
    uow = FakeUnitOfWork()
    sub = a_submission(state=WAITING_EKEY, ekey_serial=SERIAL, waiting_since=uow.clock())
    uow.put(sub, view_of(sub, status_reason=f"waiting for e-key {SERIAL} on a signer host"))
    uow.clock.advance(seconds=30)
    beat = heartbeat(uow, SERIAL, host="host-c")
    await handlers.on_heartbeat(uow, beat, env_of(beat), grace=GRACE, clock=uow.clock)

    assert uow.ekeys.presence[("host-c", SERIAL)].enterprise_codes == (ENTERPRISE,)  # type: ignore[attr-defined]
    assert uow.submission(sub.submission_id).state == SIGNING
    assert uow.submission(sub.submission_id).signer_host == "host-c"
    [request] = uow.events(SignatureRequested)
    assert request.signer_host == "host-c"
    assert uow.view(sub.application_id).status_reason is None


async def test_a_heartbeat_no_longer_listing_the_key_fails_the_waiting_submission() -> None:
    uow = FakeUnitOfWork()
    uow.announce(at=uow.clock() - timedelta(seconds=40))  # lapsed: the submission waits
    sub = a_submission(state=WAITING_EKEY, ekey_serial=SERIAL, waiting_since=uow.clock())
    uow.put(sub, view_of(sub))
    beat = heartbeat(uow)  # host-a holds nothing now: it says the key is absent
    await handlers.on_heartbeat(uow, beat, env_of(beat), grace=GRACE, clock=uow.clock)

    assert uow.ekeys.presence[("host-a", SERIAL)].absent_at == uow.clock()  # type: ignore[attr-defined]
    assert uow.submission(sub.submission_id).state == SIGNING_FAILED
    [failed] = uow.events(SigningFailed)
    assert failed.reason == "ekey_not_present"
    assert uow.view(sub.application_id).status == "draft"


# ---------------------------------------------------------------- ApplicationSigned, SigningFailed


def signed_event(sub_id: object) -> ApplicationSigned:
    return ApplicationSigned(
        application_id=str(uuid4()),
        submission_id=str(sub_id),
        ekey_serial=SERIAL,
        algorithm="SM2",
        signature="c2ln",
        certificate_pem="PEM",
    )


async def test_signed_makes_the_submission_due_and_wakes_the_sender() -> None:
    uow = FakeUnitOfWork()
    sub = uow.put(a_submission(state=SIGNING, ekey_serial=SERIAL, signer_host="host-a"))
    woken: list[bool] = []
    event = signed_event(sub.submission_id)
    await handlers.on_signed(
        uow, event, env_of(event), clock=uow.clock, wake_sender=lambda: woken.append(True)
    )

    row = uow.submission(sub.submission_id)
    assert row.state == SIGNED and row.signature == "c2ln" and row.algorithm == "SM2"
    assert row.next_attempt_at == uow.clock()
    assert woken == [True] and uow.published == []


async def test_a_late_signature_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    sub = uow.put(a_submission(state=SIGNING_FAILED))
    woken: list[bool] = []
    event = signed_event(sub.submission_id)
    await handlers.on_signed(
        uow, event, env_of(event), clock=uow.clock, wake_sender=lambda: woken.append(True)
    )
    assert uow.submission(sub.submission_id).state == SIGNING_FAILED and woken == []


async def test_signing_failed_by_the_signer_ends_the_submission_without_a_second_event() -> None:
    uow = FakeUnitOfWork()
    sub = a_submission(state=SIGNING, ekey_serial=SERIAL)
    uow.put(sub, view_of(sub))
    event = SigningFailed(
        application_id=str(sub.application_id),
        submission_id=str(sub.submission_id),
        reason="pin_locked",
        detail="the token's PIN is locked",
    )
    await handlers.on_signing_failed(uow, event, env_of(event))

    row = uow.submission(sub.submission_id)
    assert row.state == SIGNING_FAILED and row.reason == "pin_locked"
    assert row.last_error == "the token's PIN is locked"
    assert uow.view(sub.application_id).status == "draft"
    assert uow.published == []  # the signer's own event already said it


async def test_our_own_signing_failed_coming_back_is_ignored() -> None:
    uow = FakeUnitOfWork()
    sub = a_submission(state=SIGNING_FAILED, reason="ekey_not_bound")
    uow.put(sub, view_of(sub, status="draft", status_reason="ekey_not_bound"))
    event = SigningFailed(
        application_id=str(sub.application_id), submission_id=str(sub.submission_id), reason="other"
    )
    await handlers.on_signing_failed(uow, event, env_of(event))
    assert uow.submission(sub.submission_id).reason == "ekey_not_bound"


async def test_signing_failed_of_an_older_submission_leaves_the_current_one_alone() -> None:
    uow = FakeUnitOfWork()
    old = a_submission(state=SIGNING)
    uow.put(old, view_of(old, submission_id=uuid4()))  # the application was submitted again
    event = SigningFailed(
        application_id=str(old.application_id), submission_id=str(old.submission_id), reason="x"
    )
    await handlers.on_signing_failed(uow, event, env_of(event))
    assert uow.submission(old.submission_id).state == SIGNING_FAILED
    assert uow.view(old.application_id).status == "submitting"


# ---------------------------------------------------------------- the e-key-wait worker's steps


async def test_resolve_waiting_fails_a_wait_whose_grace_period_is_over() -> None:
    uow = FakeUnitOfWork()
    sub = a_submission(state=WAITING_EKEY, ekey_serial=SERIAL, waiting_since=uow.clock())
    uow.put(sub, view_of(sub))
    uow.clock.advance(minutes=9)
    moved = await handlers.resolve_waiting(uow, ResolveWaitingSubmissions(), grace=GRACE, clock=uow.clock)
    assert moved == 0 and uow.submission(sub.submission_id).state == WAITING_EKEY
    assert uow.events(SigningDeferred) == []  # said once, when the wait began

    uow.clock.advance(minutes=1)
    moved = await handlers.resolve_waiting(uow, ResolveWaitingSubmissions(), grace=GRACE, clock=uow.clock)
    assert moved == 1 and uow.submission(sub.submission_id).state == SIGNING_FAILED
    [failed] = uow.events(SigningFailed)
    assert "waited 10 minutes" in failed.detail
    assert uow.view(sub.application_id).status == "draft"


async def test_resolve_waiting_only_for_the_serials_named() -> None:
    uow = FakeUnitOfWork()
    uow.announce("other-key")
    sub = uow.put(a_submission(state=WAITING_EKEY, ekey_serial=SERIAL, waiting_since=uow.clock()))
    uow.announce()
    moved = await handlers.resolve_waiting(
        uow, ResolveWaitingSubmissions(serials=("other-key",)), grace=GRACE, clock=uow.clock
    )
    assert moved == 0 and uow.submission(sub.submission_id).state == WAITING_EKEY


async def test_reroute_sends_a_stranded_request_to_the_host_that_announces_the_key_now() -> None:
    uow = FakeUnitOfWork()
    uow.announce(host="host-a", at=uow.clock())
    sub = a_submission(state=SIGNING, ekey_serial=SERIAL, signer_host="host-a")
    uow.put(sub, view_of(sub))
    uow.clock.advance(seconds=60)  # host-a's announcement lapsed; host-b has the key now
    uow.announce(host="host-b")
    moved = await handlers.reroute_stranded(
        uow, RerouteStrandedRequests(older_than_seconds=20), grace=GRACE, clock=uow.clock
    )
    assert moved == 1 and uow.submission(sub.submission_id).signer_host == "host-b"
    [request] = uow.events(SignatureRequested)
    assert request.submission_id == str(sub.submission_id)


async def test_reroute_leaves_a_request_whose_key_no_host_announces_within_the_grace() -> None:
    uow = FakeUnitOfWork()
    uow.announce(host="host-a", at=uow.clock())
    sub = uow.put(a_submission(state=SIGNING, ekey_serial=SERIAL, signer_host="host-a"))
    uow.clock.advance(seconds=60)
    moved = await handlers.reroute_stranded(
        uow, RerouteStrandedRequests(older_than_seconds=20), grace=GRACE, clock=uow.clock
    )
    assert moved == 0 and uow.submission(sub.submission_id).state == SIGNING and uow.published == []


async def test_reroute_fails_a_request_whose_key_is_gone() -> None:
    uow = FakeUnitOfWork()
    uow.announce(host="host-a", at=uow.clock(), absent_at=uow.clock() + timedelta(seconds=5))
    sub = a_submission(state=SIGNING, ekey_serial=SERIAL, signer_host="host-a")
    uow.put(sub, view_of(sub))
    uow.clock.advance(seconds=60)
    moved = await handlers.reroute_stranded(
        uow, RerouteStrandedRequests(older_than_seconds=20), grace=GRACE, clock=uow.clock
    )
    assert moved == 1 and uow.submission(sub.submission_id).state == SIGNING_FAILED
    assert uow.view(sub.application_id).status == "draft"
    [failed] = uow.events(SigningFailed)
    assert failed.reason == "ekey_not_present"
