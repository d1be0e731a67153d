"""Every handler of the status service with the fake unit of work (no database, no Kafka, no
HTTP): the view it leaves, the history entry, what it pushes (deliveries, NOTIFYs), and the
forward-only rule along one submission."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ail_shared.consumer import PermanentError
from ail_shared.errors import Conflict, NotFound
from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    ClearanceReversed,
    CustomsStored,
    Envelope,
    Event,
    LicenseIssued,
    LicenseReopened,
    LicenseUsedUp,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.lifecycle import event_reason
from ail_shared.secretbox import SecretBox, generate_key_ring
from ail_status.domain import webhooks
from ail_status.domain.commands import (
    CreateSubscription,
    DeleteSubscription,
    EncryptSecretsAtRest,
    RecordDeliveryOutcomes,
    Redeliver,
)
from ail_status.domain.model import WEBHOOK_TYPES
from ail_status.domain.webhooks import Attempt, Claimed
from ail_status.service_layer import handlers
from ail_status.service_layer.handlers import EVENT_HANDLERS, LIFECYCLE_EVENTS, handle
from tests.unit.status.fakes import NOW, FakeDelivery, FakeSubscription, FakeUnitOfWork, Store, context, env

ENTERPRISE = "1100776367555"
APP = "app-1"
T0 = datetime(2026, 11, 27, 9, tzinfo=UTC)


def at(second: int) -> datetime:
    return T0 + timedelta(seconds=second)


# ------------------------------------------------------------------ events of one application


def submitted(sid: str = "s1") -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id=APP,
        serial_no="NA2600000000000001",
        enterprise_code=ENTERPRISE,
        submission_id=sid,
        snapshot={},
    )


def deferred(sid: str = "s1") -> SigningDeferred:
    return SigningDeferred(
        application_id=APP,
        submission_id=sid,
        ekey_serial="0595e1fc45691b0f",
        detail="waiting for e-key 0595e1fc45691b0f on a signer host",
        give_up_at=at(600),
    )


def signing_failed(sid: str = "s1") -> SigningFailed:
    return SigningFailed(
        application_id=APP, submission_id=sid, reason="ekey_not_present", detail="plug it in"
    )


def mofcom_refused(sid: str = "s1") -> SubmissionRejected:
    return SubmissionRejected(
        application_id=APP, submission_id=sid, reason="mofcom_refused", detail="代码不符"
    )


def accepted(sid: str = "s1", form_no: str = "F1") -> SubmissionAccepted:
    return SubmissionAccepted(application_id=APP, submission_id=sid, form_no=form_no, applied_at=at(2))


def review(stage: str, result: str, form_no: str = "F1", opinion: str = "") -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id=APP,
        form_no=form_no,
        stage=stage,  # type: ignore[arg-type]
        result=result,  # type: ignore[arg-type]
        opinion=opinion,
        license_no="26AA000001" if (stage, result) == ("second", "passed") else None,
        reviewed_at=at(3),
    )


def revoked(form_no: str = "F1") -> ApplicationRevoked:
    return ApplicationRevoked(application_id=APP, form_no=form_no, revoked_at=at(3), reason="申请人撤销")


def issued(form_no: str = "F1") -> LicenseIssued:
    return LicenseIssued(
        application_id=APP,
        enterprise_code=ENTERPRISE,
        form_no=form_no,
        license_no="26AA000001",
        issued_at=at(5),
        valid_until=date(2027, 5, 20),
        commodity_code="2601111000",
        quantity=Decimal(1000),
        one_batch_one_license=False,
    )


def stored(result: str = "stored") -> CustomsStored:
    return CustomsStored(application_id=APP, license_no="26AA000001", result=result, detail="")  # type: ignore[arg-type]


def cleared() -> ClearanceRecorded:
    return ClearanceRecorded(
        application_id=APP,
        license_no="26AA000001",
        declaration_no="D1",
        declared_at=at(7),
        port="0101",
        quantity=Decimal(5),
    )


def reversed_() -> ClearanceReversed:
    return ClearanceReversed(
        application_id=APP,
        license_no="26AA000001",
        declaration_no="D1",
        kind="invalidated",
        quantity=Decimal(5),
        reversed_at=at(8),
    )


async def apply(uow: FakeUnitOfWork, event: Event, second: int, *, tenant: str = ENTERPRISE) -> Envelope:
    """Apply ``event`` (event time T0 + ``second``) through the table, as the consumer does."""
    e = env(event, application_id=APP, tenant=tenant, at=at(second))
    await EVENT_HANDLERS[type(event)](uow, event, e)
    return e


async def fold(*events: tuple[Event, int]) -> FakeUnitOfWork:
    uow = FakeUnitOfWork()
    for event, second in events:
        await apply(uow, event, second)
    return uow


def view(uow: FakeUnitOfWork) -> S:
    return uow.store.views[APP].status


def entry(uow: FakeUnitOfWork, e: Envelope) -> dict[str, object]:
    (found,) = [c for c in uow.store.changes if c["event"]["id"] == str(e.event_id)]
    return found


def subscribe(
    store: Store,
    *,
    all_applications: bool = True,
    application_ids: tuple[str, ...] = (),
    event_types: tuple[str, ...] | None = None,
) -> uuid.UUID:
    sub_id = uuid.uuid4()
    store.subscriptions[sub_id] = FakeSubscription(
        webhooks.Subscription(
            id=sub_id,
            enterprise_code=ENTERPRISE,
            url="https://hooks.example.com/ail",
            all_applications=all_applications,
            application_ids=application_ids,
            description="",
            retry_period_seconds=None,
            created_by="key-1",
            created_at=NOW,
            event_types=event_types,
        ),
        token="v1:k1:x",
    )
    return sub_id


def test_every_lifecycle_event_has_the_handler() -> None:
    assert set(EVENT_HANDLERS) == set(LIFECYCLE_EVENTS)
    assert SigningDeferred in EVENT_HANDLERS
    assert all(h is handlers.record_lifecycle_event for h in EVENT_HANDLERS.values())


async def test_application_submitted_opens_the_view_and_is_pushed() -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    e = await apply(uow, submitted(), 1)
    v = uow.store.views[APP]
    assert (v.status, v.serial_no, v.submission_id, v.submission_seen_at) == (
        S.SUBMITTING,
        "NA2600000000000001",
        "s1",
        at(1),
    )
    got = entry(uow, e)
    assert got["status"] == "submitting" and got["previous_status"] is None and got["sequence"] == 1
    assert uow.store.pushed(sub) == [e.event_id]
    assert uow.store.notified == [f"changes:{ENTERPRISE}", "deliveries"]
    assert uow.committed


async def test_signing_deferred_is_a_history_fact_pushed_and_shown_on_the_view() -> None:
    """Issue 11: the application showed "waiting for e-key ..." while history, stream and
    webhooks said nothing."""
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    s = await apply(uow, submitted(), 1)
    d = await apply(uow, deferred(), 2)
    v = uow.store.views[APP]
    assert v.status is S.SUBMITTING  # no status change
    assert v.status_reason == "waiting_for_ekey: waiting for e-key 0595e1fc45691b0f on a signer host"
    assert v.last_event_id == s.event_id  # the status was set by the submission
    got = entry(uow, d)
    assert (
        got["status"] is None
        and got["previous_status"] == "submitting"
        and got["current_status"] == "submitting"
    )
    assert got["details"] == {
        "submission_id": "s1",
        "ekey_serial": "0595e1fc45691b0f",
        "give_up_at": at(600).isoformat(),
    }
    assert uow.store.pushed(sub) == [s.event_id, d.event_id]
    # the acceptance that follows clears the reason
    await apply(uow, accepted(), 3)
    assert (
        uow.store.views[APP].status is S.PENDING_FIRST_REVIEW and uow.store.views[APP].status_reason is None
    )


async def test_signing_deferred_of_an_earlier_submission_is_history_only() -> None:
    uow = await fold((submitted("s1"), 1), (signing_failed("s1"), 2), (submitted("s2"), 4))
    late = await apply(uow, deferred("s1"), 3)
    v = uow.store.views[APP]
    assert v.status is S.SUBMITTING and v.submission_id == "s2" and v.status_reason is None
    assert entry(uow, late)["current_status"] == "submitting"


async def test_signing_deferred_seen_first_implies_a_submission_in_flight() -> None:
    uow = FakeUnitOfWork()
    await apply(uow, deferred("s1"), 2)
    v = uow.store.views[APP]
    assert (v.status, v.submission_id) == (S.SUBMITTING, "s1")
    await apply(uow, submitted("s1"), 1)  # its own late start moves nothing
    v = uow.store.views[APP]
    assert v.status is S.SUBMITTING and v.serial_no == "NA2600000000000001"
    await apply(uow, signing_failed("s1"), 3)
    assert view(uow) is S.DRAFT


async def test_signing_failed_returns_the_submission_to_draft_with_the_reason() -> None:
    uow = await fold((submitted(), 1))
    e = await apply(uow, signing_failed(), 2)
    v = uow.store.views[APP]
    assert v.status is S.DRAFT and v.status_reason == event_reason("ekey_not_present", "plug it in")
    assert entry(uow, e)["reason"] == event_reason("ekey_not_present", "plug it in")


async def test_a_late_signing_failure_after_acceptance_is_history_only() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2))
    e = await apply(uow, signing_failed(), 3)
    assert view(uow) is S.PENDING_FIRST_REVIEW
    assert entry(uow, e)["status"] == "draft" and entry(uow, e)["current_status"] == "pending_first_review"


async def test_submission_rejected_returns_to_draft() -> None:
    uow = await fold((submitted(), 1), (mofcom_refused(), 2))
    assert view(uow) is S.DRAFT and uow.store.views[APP].status_reason == "mofcom_refused: 代码不符"


async def test_submission_accepted_sets_the_form_no() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2))
    v = uow.store.views[APP]
    assert v.status is S.PENDING_FIRST_REVIEW and v.form_no == "F1"


async def test_application_revoked() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2), (revoked(), 3))
    v = uow.store.views[APP]
    assert v.status is S.REVOKED and v.status_reason == "revoked by applicant: 申请人撤销"


@pytest.mark.parametrize(
    ("stage", "result", "status"),
    [
        ("first", "passed", S.PENDING_SECOND_REVIEW),
        ("first", "rejected", S.FIRST_REVIEW_REJECTED),
        ("second", "passed", S.APPROVED),
        ("second", "rejected", S.SECOND_REVIEW_REJECTED),
    ],
)
async def test_review_results(stage: str, result: str, status: S) -> None:
    steps: list[tuple[Event, int]] = [(submitted(), 1), (accepted(), 2)]
    if stage == "second":
        steps.append((review("first", "passed"), 3))
    uow = await fold(*steps, (review(stage, result, opinion="意见"), 4))
    v = uow.store.views[APP]
    assert v.status is status
    assert v.status_reason == "意见"
    assert (v.license_no == "26AA000001") == (status is S.APPROVED)


async def test_a_late_review_result_does_not_move_an_approved_view_back() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2), (review("second", "passed"), 4))
    late = await apply(uow, review("first", "passed"), 3)
    v = uow.store.views[APP]
    assert v.status is S.APPROVED and v.license_no == "26AA000001"
    got = entry(uow, late)
    assert got["status"] == "pending_second_review" and got["current_status"] == "approved"
    # listed where it happened (MOFCOM's review time), before the approval it arrived after
    assert [c["event"]["type"] for c in uow.store.history(APP)][-2:] == [
        "ReviewResultReceived",
        "ReviewResultReceived",
    ]


async def test_license_issued() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2), (review("second", "passed"), 4))
    e = await apply(uow, issued(), 5)
    assert view(uow) is S.LICENSE_ISSUED
    assert entry(uow, e)["details"] == {"valid_until": "2027-05-20"}


async def test_customs_stored_sets_the_customs_status_only() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2), (review("second", "passed"), 4), (issued(), 5))
    e = await apply(uow, stored("store_failed"), 6)
    v = uow.store.views[APP]
    assert v.status is S.LICENSE_ISSUED and v.customs_status == "store_failed"
    assert entry(uow, e)["status"] is None


async def test_a_customs_event_for_an_unseen_application_implies_approved() -> None:
    uow = FakeUnitOfWork()
    await apply(uow, stored(), 6)
    v = uow.store.views[APP]
    assert v.status is S.APPROVED and v.customs_status == "stored" and v.submission_seen_at is None
    await apply(uow, issued(), 5)  # then the license, late: forward
    assert view(uow) is S.LICENSE_ISSUED


async def test_clearance_recorded_and_reversed_are_history_facts() -> None:
    uow = await fold((submitted(), 1), (accepted(), 2), (review("second", "passed"), 4), (issued(), 5))
    rec = await apply(uow, cleared(), 7)
    rev = await apply(uow, reversed_(), 8)
    assert view(uow) is S.LICENSE_ISSUED
    assert entry(uow, rec)["details"] == {"declaration_no": "D1", "quantity": "5", "port": "0101"}
    assert entry(uow, rev)["details"] == {"declaration_no": "D1", "quantity": "5", "kind": "invalidated"}
    assert entry(uow, rev)["status"] is None


async def test_the_view_follows_the_license_state_and_shows_an_issued_license_valid() -> None:
    """Issue 15: the status view carries the license's state as the customs service announces
    it; an issued license it has said nothing of yet is valid; a use given back reopens it."""
    uow = await fold((submitted(), 1), (accepted(), 2), (review("second", "passed"), 4))
    assert uow.store.views[APP].license_state_now is None  # approved, no license yet
    await apply(uow, issued(), 5)
    v = uow.store.views[APP]
    assert (v.license_state, v.license_state_now) == (None, "valid")
    used_up = LicenseUsedUp(
        application_id=APP, license_no="26AA000001", used_quantity=Decimal(5), uses=1, used_up_at=at(7)
    )
    await apply(uow, used_up, 7)
    assert uow.store.views[APP].license_state_now == "used_up"
    reopened = LicenseReopened(
        application_id=APP,
        license_no="26AA000001",
        declaration_no="D1",
        used_quantity=Decimal(0),
        uses=0,
        reopened_at=at(8),
    )
    e = await apply(uow, reopened, 8)
    v = uow.store.views[APP]
    assert (v.status, v.license_state_now) == (S.LICENSE_ISSUED, "valid")
    got = entry(uow, e)
    assert got["status"] is None and got["event"]["type"] == "LicenseReopened"
    assert got["details"] == {
        "license_state": "valid",
        "declaration_no": "D1",
        "used_quantity": "0",
        "uses": 0,
    }
    await apply(uow, stored(), 9)  # a later customs event without a state keeps it
    assert uow.store.views[APP].license_state == "valid"


async def test_an_event_of_an_earlier_submission_is_history_only() -> None:
    """First review rejected, corrected and submitted again: the old form's late news (and a
    late failure of the old submission) is listed, the view stays with the new submission."""
    uow = await fold((submitted("s1"), 1), (accepted("s1", "F1"), 2), (review("first", "rejected"), 3))
    await apply(uow, submitted("s2"), 5)
    late = await apply(uow, signing_failed("s1"), 4)
    v = uow.store.views[APP]
    assert (v.status, v.submission_id, v.form_no) == (S.SUBMITTING, "s2", None)
    assert entry(uow, late)["current_status"] == "submitting"
    await apply(uow, accepted("s2", "F2"), 6)
    assert uow.store.views[APP].form_no == "F2"


async def test_a_stray_later_submission_after_approval_keeps_the_view_and_its_numbers() -> None:
    uow = await fold((submitted("s1"), 1), (accepted("s1"), 2), (review("second", "passed"), 4))
    await apply(uow, submitted("s2"), 9)
    v = uow.store.views[APP]
    assert (v.status, v.submission_id, v.form_no, v.license_no) == (S.APPROVED, "s1", "F1", "26AA000001")


async def test_an_event_of_another_enterprise_is_refused_and_records_nothing() -> None:
    uow = await fold((submitted(), 1))
    before = list(uow.store.changes)
    with pytest.raises(PermanentError):
        await apply(uow, accepted(), 2, tenant="9999999999999")
    assert uow.store.changes == before and view(uow) is S.SUBMITTING and uow.rolled_back


async def test_a_subscription_to_chosen_applications_gets_only_theirs() -> None:
    uow = FakeUnitOfWork()
    mine = subscribe(uow.store, all_applications=False, application_ids=("other-app",))
    await apply(uow, submitted(), 1)
    assert uow.store.pushed(mine) == [] and uow.store.notified == [f"changes:{ENTERPRISE}"]


async def test_a_subscription_to_chosen_event_types_gets_only_those() -> None:
    uow = FakeUnitOfWork()
    reviews = subscribe(uow.store, event_types=("application.review_result_received",))
    every = subscribe(uow.store)
    await apply(uow, submitted(), 1)
    await apply(uow, accepted(), 2)
    first = await apply(uow, review("first", "passed"), 3)
    second = await apply(uow, review("second", "passed"), 4)
    await apply(uow, issued(), 5)
    assert uow.store.pushed(reviews) == [first.event_id, second.event_id]
    assert len(uow.store.pushed(every)) == 5


def test_a_subscription_wants_its_types_and_none_means_all() -> None:
    sub = webhooks.Subscription(
        id=uuid.uuid4(),
        enterprise_code=ENTERPRISE,
        url="https://hooks.example.com/ail",
        all_applications=True,
        application_ids=(),
        description="",
        retry_period_seconds=None,
        created_by="key-1",
        created_at=NOW,
    )
    assert sub.event_types is None and all(sub.wants(t) for t in WEBHOOK_TYPES)
    chosen = dataclasses.replace(sub, event_types=("application.license_issued",))
    assert chosen.wants("application.license_issued")
    assert not chosen.wants("application.submission_accepted")


def test_the_webhook_types_are_those_of_the_lifecycle_events() -> None:
    assert len(WEBHOOK_TYPES) == len(set(WEBHOOK_TYPES)) == len(LIFECYCLE_EVENTS)
    assert "application.clearance_recorded" in WEBHOOK_TYPES
    assert "application.signing_deferred" in WEBHOOK_TYPES


# ------------------------------------------------------------------ commands


def create_cmd(*ids: str) -> CreateSubscription:
    return CreateSubscription(
        enterprise_code=ENTERPRISE,
        url="https://hooks.example.com/ail",
        application_ids=ids,
        all_applications=not ids,
        description="ops",
        retry_period_seconds=None,
        created_by="key-1",
    )


async def test_create_subscription_stores_the_secret_encrypted() -> None:
    ctx = context()
    uow = FakeUnitOfWork()
    await apply(uow, submitted(), 1)
    created = await handle(uow, create_cmd(APP), ctx)
    assert created.secret.startswith("whsec_")
    fs = uow.store.subscriptions[created.subscription.id]
    assert fs.token != created.secret and ctx.box.is_token(fs.token)
    assert ctx.box.decrypt(fs.token, aad=webhooks.aad(created.subscription.id)) == created.secret
    assert fs.subscription.application_ids == (APP,) and fs.subscription.created_at == NOW
    assert fs.subscription.event_types is None  # not chosen: every type
    assert uow.committed


async def test_create_subscription_keeps_the_chosen_event_types() -> None:
    uow = FakeUnitOfWork()
    cmd = dataclasses.replace(create_cmd(), event_types=("application.license_issued",))
    created = await handle(uow, cmd, context())
    assert uow.store.subscriptions[created.subscription.id].subscription.event_types == (
        "application.license_issued",
    )


async def test_create_subscription_refuses_unknown_applications_and_stores_nothing() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound, match="nope"):
        await handle(uow, create_cmd("nope"), context())
    assert uow.store.subscriptions == {}


def delivery(sub: uuid.UUID, state: str, *, attempts: int = 1) -> FakeDelivery:
    return FakeDelivery(
        row_id=1,
        public_id=uuid.uuid4(),
        subscription_id=sub,
        application_id=APP,
        event_id=uuid.uuid4(),
        sequence=1,
        retry_period_seconds=60,
        state=state,
        attempts=attempts,
    )


async def test_delete_subscription_cancels_its_pending_deliveries() -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    uow.store.deliveries.append(delivery(sub, "pending"))
    await handle(uow, DeleteSubscription(subscription_id=sub, enterprise_codes=(ENTERPRISE,)), context())
    assert uow.store.subscriptions[sub].deleted and uow.store.deliveries[0].state == "cancelled"
    with pytest.raises(NotFound):  # deleting again
        await handle(uow, DeleteSubscription(subscription_id=sub, enterprise_codes=(ENTERPRISE,)), context())


async def test_delete_subscription_of_another_enterprise_is_not_found() -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    with pytest.raises(NotFound):
        await handle(
            uow, DeleteSubscription(subscription_id=sub, enterprise_codes=("9999999999999",)), context()
        )
    assert not uow.store.subscriptions[sub].deleted


async def test_redeliver_puts_a_failed_delivery_back_with_the_default_period_and_wakes_the_worker() -> None:
    uow = FakeUnitOfWork(default_retry_period=3600)
    sub = subscribe(uow.store)
    d = delivery(sub, "failed")
    uow.store.deliveries.append(d)
    await handle(
        uow,
        Redeliver(subscription_id=sub, delivery_id=d.public_id, enterprise_codes=(ENTERPRISE,)),
        context(),
    )
    assert (d.state, d.redeliveries, d.retry_period_seconds) == ("pending", 1, 3600)
    assert uow.store.notified == ["deliveries"]


async def test_redeliver_of_a_pending_delivery_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    d = delivery(sub, "pending")
    uow.store.deliveries.append(d)
    with pytest.raises(Conflict, match="is pending"):
        await handle(
            uow,
            Redeliver(subscription_id=sub, delivery_id=d.public_id, enterprise_codes=(ENTERPRISE,)),
            context(),
        )
    assert uow.store.notified == [] and uow.store.deliveries[0].redeliveries == 0


def claimed(d: FakeDelivery, *, deadline: datetime) -> Claimed:
    return Claimed(
        row_id=d.row_id,
        public_id=d.public_id,
        subscription_id=d.subscription_id,
        application_id=d.application_id,
        event_id=d.event_id,
        attempt_no=d.attempts,
        deadline=deadline,
        created_at=NOW,
        url="https://hooks.example.com/ail",
        secret="v1:k1:x",
        payload={},
        event_type="SubmissionAccepted",
        occurred_at=NOW,
    )


def attempt(c: Claimed, error: str | None) -> Attempt:
    return Attempt(
        claimed=c, started_at=NOW, duration_ms=1.0, status_code=None if error else 200, error=error, body=None
    )


@pytest.mark.parametrize(
    ("ok", "deadline", "state", "next_at"),
    [
        (True, NOW + timedelta(hours=1), "delivered", None),
        # the second failed attempt waits 2 s (base 1 s, doubling; rand 0.5 is no jitter)
        (False, NOW + timedelta(hours=1), "pending", NOW + timedelta(seconds=2)),
        (False, NOW, "failed", None),  # the retry period is over
    ],
)
async def test_record_delivery_outcomes(
    ok: bool, deadline: datetime, state: str, next_at: datetime | None
) -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    d = delivery(sub, "pending", attempts=2)
    uow.store.deliveries.append(d)
    c = claimed(d, deadline=deadline)
    result = await handle(
        uow,
        RecordDeliveryOutcomes(outcomes=((attempt(c, None if ok else "HTTP 503"), ok),), now=NOW),
        context(),
    )
    assert d.state == state and d.next_attempt_at == next_at
    assert (result.delivered, result.failed_attempts) == ((1, 0) if ok else (0, 1))
    assert len(uow.store.attempts) == 1 and uow.store.locked == [APP]
    assert ("unparked" in uow.store.notified) == (state != "pending")  # a finished one frees its queue
    if state == "failed":
        assert d.last_error is not None and d.last_error.startswith("retry period ended after 2 attempts")


async def test_record_delivery_outcomes_ignores_an_attempt_that_lost_its_lease() -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    d = delivery(sub, "pending", attempts=3)  # another worker took it over meanwhile
    uow.store.deliveries.append(d)
    stale = claimed(d, deadline=NOW + timedelta(hours=1))
    stale = Claimed(**{**stale.__dict__, "attempt_no": 2})
    await handle(uow, RecordDeliveryOutcomes(outcomes=((attempt(stale, None), True),), now=NOW), context())
    assert d.state == "pending"


async def test_encrypt_secrets_at_rest_encrypts_clear_ones_and_rotates_old_keys() -> None:
    old_ring = "old:" + generate_key_ring().split(":", 1)[1]
    old = SecretBox.from_setting(old_ring)
    box = SecretBox.from_setting(
        "new:" + generate_key_ring().split(":", 1)[1] + "," + old_ring
    )  # the first encrypts
    uow = FakeUnitOfWork()
    clear_id, old_id, current_id = subscribe(uow.store), subscribe(uow.store), subscribe(uow.store)
    uow.store.subscriptions[clear_id].token = "whsec_clear"
    uow.store.subscriptions[old_id].token = old.encrypt("whsec_old", aad=webhooks.aad(old_id))
    current_token = box.encrypt("whsec_now", aad=webhooks.aad(current_id))
    uow.store.subscriptions[current_id].token = current_token
    changed = await handle(uow, EncryptSecretsAtRest(), context(box=box))
    assert changed == 2
    tokens = {i: uow.store.subscriptions[i].token for i in (clear_id, old_id, current_id)}
    assert box.decrypt(tokens[clear_id], aad=webhooks.aad(clear_id)) == "whsec_clear"
    assert box.decrypt(tokens[old_id], aad=webhooks.aad(old_id)) == "whsec_old"
    assert not box.needs_rotation(tokens[old_id]) and tokens[current_id] == current_token


@pytest.mark.parametrize(
    ("retry_after", "next_at"),
    [
        (120.0, NOW + timedelta(seconds=120)),  # the receiver's Retry-After, longer than the backoff
        (0.5, NOW + timedelta(seconds=2)),  # shorter: the backoff stands
        (7200.0, NOW + timedelta(hours=1)),  # beyond the retry period: the last attempt at its end
    ],
)
async def test_record_delivery_outcomes_honours_the_receivers_retry_after(
    retry_after: float, next_at: datetime
) -> None:
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    d = delivery(sub, "pending", attempts=2)
    uow.store.deliveries.append(d)
    c = claimed(d, deadline=NOW + timedelta(hours=1))
    failed = Attempt(c, NOW, 1.0, 503, "HTTP 503 Service Unavailable", None, retry_after=retry_after)
    await handle(uow, RecordDeliveryOutcomes(outcomes=((failed, False),), now=NOW), context())
    assert d.state == "pending" and d.next_attempt_at == next_at


async def test_an_outcome_of_an_application_the_consumer_holds_is_recorded_without_waiting() -> None:
    # Old code: the recorder locked every application of its batch and waited while the
    # consumer's transaction (a whole poll) held one; now it skips it, records, frees what it
    # sees, and hands the queue back to be freed again once the consumer is done.
    uow = FakeUnitOfWork()
    sub = subscribe(uow.store)
    d = delivery(sub, "pending", attempts=1)
    uow.store.deliveries.append(d)
    uow.store.held_by_consumer = {APP}
    c = claimed(d, deadline=NOW + timedelta(hours=1))
    first = await handle(
        uow, RecordDeliveryOutcomes(outcomes=((attempt(c, None), True),), now=NOW), context()
    )
    assert d.state == "delivered" and first.delivered == 1
    assert uow.store.locked == [] and uow.store.unparked == [[(sub, APP)]]
    assert first.recheck == ((sub, APP),)
    # The consumer committed: the next batch (here without outcomes) frees the queue again, now
    # under the application's lock, and nothing is left to recheck.
    uow.store.held_by_consumer = set()
    second = await handle(uow, RecordDeliveryOutcomes(outcomes=(), now=NOW, recheck=first.recheck), context())
    assert uow.store.locked == [APP] and uow.store.unparked[-1] == [(sub, APP)]
    assert second.recheck == () and second.delivered == 0
