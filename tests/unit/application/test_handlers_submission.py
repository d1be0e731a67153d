"""Submission (single and batch) and what the submission flow's events do to an application:
every event handler, with the forward-only cases."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from uuid import uuid4

import pytest

from ail_application.domain import commands as c
from ail_application.domain.form import DraftCreate
from ail_application.domain.model import Application
from ail_application.service_layer import handlers
from ail_shared.calendar import valid_until
from ail_shared.errors import Conflict, InvalidInput
from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    EkeyBound,
    EkeyUnbound,
    LicenseIssued,
    LicenseReopened,
    LicenseUsedUp,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
    envelope_for,
)
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.lifecycle import event_reason
from tests.unit.application.fakes import (
    ENTERPRISE,
    STORED_AT,
    FakeUnitOfWork,
    complete_contract,
    complete_form,
    context,
    ekey_binding,
    tenant_of,
)

TENANT = tenant_of()
CTX = context()
APPLIED_AT = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


async def complete_draft(uow: FakeUnitOfWork, *, bound: bool = True, **form: object) -> Application:
    app: Application = await handlers.handle(
        uow, c.CreateDraft(TENANT, DraftCreate.model_validate(complete_form(**form))), CTX
    )
    uow.applications.stored(app.id).contract = complete_contract()
    if bound:
        uow.ekey_bindings.rows[ENTERPRISE] = ekey_binding()
    return app


async def submitted(uow: FakeUnitOfWork) -> Application:
    app = await complete_draft(uow)
    await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    uow.events.clear()
    return uow.applications.stored(app.id)


async def pending(uow: FakeUnitOfWork, form_no: str = "F-1") -> Application:
    app = await submitted(uow)
    await deliver(uow, accepted(app, form_no))
    return uow.applications.stored(app.id)


async def deliver(uow: FakeUnitOfWork, event: object) -> None:
    handler = handlers.EVENT_HANDLERS[type(event)]  # type: ignore[index]
    await handler(uow, event, envelope_for(event, aggregate_id="x", tenant=ENTERPRISE))  # type: ignore[arg-type]


def accepted(app: Application, form_no: str = "F-1") -> SubmissionAccepted:
    return SubmissionAccepted(
        application_id=str(app.id),
        submission_id=str(app.submission_id),
        form_no=form_no,
        applied_at=APPLIED_AT,
    )


def review(
    app: Application, stage: str, result: str, form_no: str = "F-1", **extra: object
) -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id=str(app.id),
        form_no=form_no,
        stage=stage,  # type: ignore[arg-type]
        result=result,  # type: ignore[arg-type]
        reviewed_at=APPLIED_AT,
        **extra,  # type: ignore[arg-type]
    )


def issued(app: Application, form_no: str = "F-1") -> LicenseIssued:
    return LicenseIssued(
        application_id=str(app.id),
        enterprise_code=ENTERPRISE,
        form_no=form_no,
        license_no="L-1",
        issued_at=APPLIED_AT,
        valid_until=(APPLIED_AT + timedelta(days=100)).date(),
        commodity_code="2303300010",
        quantity="10",
        one_batch_one_license=False,
    )


# -- submit --------------------------------------------------------------------------------------
async def test_submit_moves_to_submitting_and_records_application_submitted_with_the_snapshot() -> None:
    uow = FakeUnitOfWork()
    app = await complete_draft(uow)
    result = await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    stored = uow.applications.stored(app.id)
    assert (
        stored.status is S.SUBMITTING and stored.submission_id is not None and result.status is S.SUBMITTING
    )
    [event] = uow.events
    assert isinstance(event, ApplicationSubmitted)
    assert event.submission_id == str(stored.submission_id) and event.submitted_by == TENANT.principal.id
    assert event.snapshot["contract"]["foreign_contract"]["contract_no"] == "C1"
    # Recomputed as of the handler's clock, by the shared calendar.
    assert event.snapshot["valid_until"] == valid_until(CTX.today(), stored.year).isoformat()
    [(topic, envelope)] = uow.outbox
    assert (
        topic == "ail.application" and envelope.aggregate_id == str(app.id) and envelope.tenant == ENTERPRISE
    )


async def test_submit_without_a_bound_ekey_is_refused_and_records_nothing() -> None:
    uow = FakeUnitOfWork()
    app = await complete_draft(uow, bound=False)
    with pytest.raises(Conflict, match="no e-key bound"):
        await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    assert uow.applications.stored(app.id).status is S.DRAFT and uow.events == []


async def test_submit_of_an_incomplete_form_names_every_problem_and_records_nothing() -> None:
    uow = FakeUnitOfWork()
    app = await complete_draft(uow, handler_name=None, customs_ports=None)
    with pytest.raises(InvalidInput) as refused:
        await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    assert {"handler_name", "customs_ports"} <= {p.field for p in refused.value.problems}
    assert uow.applications.stored(app.id).status is S.DRAFT and uow.events == []


async def test_submit_twice_is_refused_in_flight() -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    with pytest.raises(Conflict, match="'submitting' cannot be submitted"):
        await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    assert uow.events == []


async def test_batch_submit_gives_each_id_its_outcome_and_submits_a_repeated_id_once() -> None:
    uow = FakeUnitOfWork()
    good = await complete_draft(uow)
    bad = await complete_draft(uow, handler_name=None)
    outcomes = await handlers.handle(
        uow, c.SubmitApplications(TENANT, [str(good.id), "not-a-uuid", str(bad.id), str(good.id)]), CTX
    )
    assert [raw for raw, _ in outcomes] == [str(good.id), "not-a-uuid", str(bad.id), str(good.id)]
    assert isinstance(outcomes[0][1], Application) and outcomes[0][1].status is S.SUBMITTING
    assert isinstance(outcomes[1][1], InvalidInput) and "not an application id" in outcomes[1][1].message
    assert isinstance(outcomes[2][1], InvalidInput)
    assert outcomes[3][1] is outcomes[0][1]
    assert [type(e) for e in uow.events] == [ApplicationSubmitted]
    assert uow.applications.stored(bad.id).status is S.DRAFT


# -- what the submission flow answers ------------------------------------------------------------
@pytest.mark.parametrize("failure", [SigningFailed, SubmissionRejected])
async def test_a_failed_submission_returns_to_draft_with_the_reason(failure: type) -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    await deliver(
        uow,
        failure(application_id=str(app.id), submission_id=str(app.submission_id), reason="ekey_not_present"),
    )
    stored = uow.applications.stored(app.id)
    assert stored.status is S.DRAFT and stored.status_reason == event_reason("ekey_not_present")
    assert uow.events == []  # a status follows MOFCOM; it is not an event of ours


@pytest.mark.parametrize("failure", [SigningFailed, SubmissionRejected])
async def test_a_failure_of_an_earlier_submission_changes_nothing(failure: type) -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    await deliver(uow, failure(application_id=str(app.id), submission_id=str(uuid4()), reason="late"))
    assert uow.applications.stored(app.id).status is S.SUBMITTING


async def test_a_failure_after_acceptance_does_not_move_back() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(
        uow, SigningFailed(application_id=str(app.id), submission_id=str(app.submission_id), reason="late")
    )
    assert uow.applications.stored(app.id).status is S.PENDING_FIRST_REVIEW


async def test_signing_deferred_keeps_submitting_and_says_why() -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    event = SigningDeferred(
        application_id=str(app.id),
        submission_id=str(app.submission_id),
        ekey_serial="EK-9",
        detail="waiting for e-key EK-9 on a signer host",
    )
    await deliver(uow, event)
    stored = uow.applications.stored(app.id)
    # The same words as the status service's view (ail_shared.lifecycle.event_reason).
    assert stored.status is S.SUBMITTING
    assert stored.status_reason == "waiting_for_ekey: waiting for e-key EK-9 on a signer host"


async def test_signing_deferred_of_another_submission_or_after_acceptance_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(
        uow,
        SigningDeferred(application_id=str(app.id), submission_id=str(app.submission_id), ekey_serial="EK-9"),
    )
    assert uow.applications.stored(app.id).status_reason is None


async def test_submission_accepted_records_the_form_no_and_applied_date() -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    app.status_reason = "waiting for e-key EK-9 on a signer host"
    await uow.applications.save(application=app)
    await deliver(uow, accepted(app, "F-7"))
    stored = uow.applications.stored(app.id)
    assert (stored.status, stored.form_no, stored.applied_at) == (S.PENDING_FIRST_REVIEW, "F-7", APPLIED_AT)
    assert stored.status_reason is None and stored.license_no is None


async def test_submission_accepted_for_another_submission_or_twice_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    stale = SubmissionAccepted(
        application_id=str(app.id), submission_id=str(uuid4()), form_no="F-OLD", applied_at=APPLIED_AT
    )
    await deliver(uow, stale)
    assert uow.applications.stored(app.id).status is S.SUBMITTING
    await deliver(uow, accepted(app, "F-1"))
    await deliver(uow, accepted(app, "F-2"))  # a duplicate with another number: the first stands
    assert uow.applications.stored(app.id).form_no == "F-1"


@pytest.mark.parametrize(
    ("stage", "result", "status"),
    [
        ("first", "passed", S.PENDING_SECOND_REVIEW),
        ("first", "rejected", S.FIRST_REVIEW_REJECTED),
        ("second", "passed", S.APPROVED),
        ("second", "rejected", S.SECOND_REVIEW_REJECTED),
    ],
)
async def test_a_review_result_sets_the_status_it_leads_to_with_the_opinion(
    stage: str, result: str, status: S
) -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, stage, result, opinion="材料齐全"))
    stored = uow.applications.stored(app.id)
    assert stored.status is status and stored.status_reason == "材料齐全"


async def test_approval_carries_the_license_no() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "second", "passed", license_no="L-9"))
    assert uow.applications.stored(app.id).license_no == "L-9"


async def test_a_late_review_result_does_not_move_an_approved_application_back() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "second", "passed", opinion="同意"))
    await deliver(uow, review(app, "first", "passed", opinion="late"))
    await deliver(uow, review(app, "first", "rejected", opinion="late"))
    stored = uow.applications.stored(app.id)
    assert stored.status is S.APPROVED and stored.status_reason == "同意"


async def test_a_result_for_another_form_no_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow, "F-1")
    before = uow.applications.stored(app.id)
    await deliver(uow, review(app, "second", "passed", form_no="F-OTHER", license_no="L-X"))
    await deliver(uow, issued(app, form_no="F-OTHER"))
    await deliver(
        uow, ApplicationRevoked(application_id=str(app.id), form_no="F-OTHER", revoked_at=APPLIED_AT)
    )
    after = uow.applications.stored(app.id)
    assert (after.status, after.license_no, after.version) == (
        before.status,
        before.license_no,
        before.version,
    )


async def test_a_result_for_a_deleted_application_is_ignored() -> None:
    uow = FakeUnitOfWork()
    await deliver(
        uow,
        review(
            Application(id=uuid4(), serial_no="x", enterprise_code=ENTERPRISE, year=2026), "first", "passed"
        ),
    )
    assert uow.applications.rows == {}


async def test_revocation_moves_a_pending_application_to_revoked() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, ApplicationRevoked(application_id=str(app.id), form_no="F-1", revoked_at=APPLIED_AT))
    stored = uow.applications.stored(app.id)
    assert stored.status is S.REVOKED and stored.status_reason == "revoked by applicant"


async def test_a_late_revocation_does_not_undo_an_approval() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "second", "passed"))
    await deliver(uow, ApplicationRevoked(application_id=str(app.id), form_no=None, revoked_at=APPLIED_AT))
    assert uow.applications.stored(app.id).status is S.APPROVED


async def test_license_issued_sets_the_status_and_license_no_once() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "second", "passed"))
    await deliver(uow, issued(app))
    stored = uow.applications.stored(app.id)
    assert (stored.status, stored.license_no) == (S.LICENSE_ISSUED, "L-1")
    version = stored.version
    await deliver(uow, issued(app))  # a duplicate
    await deliver(uow, review(app, "second", "rejected"))  # late and out of order
    assert uow.applications.stored(app.id).version == version


async def test_the_license_state_follows_used_up_and_reopened() -> None:
    """Issue 15: the application keeps its license's state; a use Customs gives back makes a
    used-up license valid again (LicenseReopened)."""
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "second", "passed"))
    await deliver(uow, issued(app))
    lic = {"application_id": str(app.id), "license_no": "L-1"}
    handler = handlers.LICENSE_EVENT_HANDLERS
    used_up = LicenseUsedUp(**lic, used_quantity=Decimal(10), uses=1, used_up_at=APPLIED_AT)
    await handler[LicenseUsedUp](uow, used_up, envelope_for(used_up, aggregate_id="x", tenant=ENTERPRISE))
    assert uow.applications.stored(app.id).license_state == "used_up"
    reopened = LicenseReopened(
        **lic, declaration_no="D1", used_quantity=Decimal(0), uses=0, reopened_at=APPLIED_AT
    )
    await handler[LicenseReopened](uow, reopened, envelope_for(reopened, aggregate_id="x", tenant=ENTERPRISE))
    assert uow.applications.stored(app.id).license_state == "valid"


async def test_nothing_moves_a_failed_submission_out_of_draft() -> None:
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(uow, review(app, "first", "rejected"))
    await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)  # corrected, submitted again
    again = uow.applications.stored(app.id)
    await deliver(
        uow, SigningFailed(application_id=str(app.id), submission_id=str(again.submission_id), reason="x")
    )
    await deliver(uow, review(app, "second", "passed"))  # late, of the first submission's form
    assert uow.applications.stored(app.id).status is S.DRAFT


# -- e-key bindings ------------------------------------------------------------------------------
def bound(at: datetime, serial: str) -> EkeyBound:
    return EkeyBound(
        enterprise_code=ENTERPRISE, ekey_serial=serial, subject="CN=x", certificate_pem="pem", bound_at=at
    )


async def test_ekey_bound_records_the_binding_and_lets_the_enterprise_submit() -> None:
    uow = FakeUnitOfWork()
    app = await complete_draft(uow, bound=False)
    await deliver(uow, bound(STORED_AT, "EK-1"))
    assert uow.ekey_bindings.rows[ENTERPRISE].ekey_serial == "EK-1"
    await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    assert uow.applications.stored(app.id).status is S.SUBMITTING


async def test_a_later_binding_replaces_an_earlier_one_and_a_late_older_one_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    await deliver(uow, bound(STORED_AT, "EK-1"))
    await deliver(uow, bound(STORED_AT + timedelta(hours=1), "EK-2"))
    await deliver(uow, bound(STORED_AT + timedelta(minutes=30), "EK-LATE"))
    assert uow.ekey_bindings.rows[ENTERPRISE].ekey_serial == "EK-2"


def unbound(bound_at: datetime, serial: str) -> EkeyUnbound:
    return EkeyUnbound(
        enterprise_code=ENTERPRISE,
        ekey_serial=serial,
        bound_at=bound_at,
        unbound_at=bound_at + timedelta(hours=2),
        unbound_by="user-1",
    )


async def test_ekey_unbound_drops_the_binding_and_submit_is_refused_saying_to_bind_one() -> None:
    """Issue 18: after unbinding, a submit is a 409 that says to bind an e-key."""
    uow = FakeUnitOfWork()
    app = await complete_draft(uow, bound=False)
    await deliver(uow, bound(STORED_AT, "EK-1"))
    await deliver(uow, unbound(STORED_AT, "EK-1"))
    assert ENTERPRISE not in uow.ekey_bindings.rows
    with pytest.raises(Conflict) as refused:
        await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    assert "bind one with POST /api/v1/ekey-bindings" in refused.value.message
    assert uow.applications.stored(app.id).status is S.DRAFT


async def test_an_unbinding_of_an_earlier_binding_leaves_a_later_one() -> None:
    uow = FakeUnitOfWork()
    await deliver(uow, bound(STORED_AT + timedelta(hours=1), "EK-2"))
    await deliver(uow, unbound(STORED_AT, "EK-1"))  # another key's, and older
    await deliver(uow, unbound(STORED_AT, "EK-2"))  # this key's, but an earlier binding of it
    assert uow.ekey_bindings.rows[ENTERPRISE].ekey_serial == "EK-2"


def test_every_event_the_consumer_subscribes_to_has_a_handler() -> None:
    assert set(handlers.EVENT_HANDLERS) == {
        SigningFailed,
        SigningDeferred,
        SubmissionRejected,
        SubmissionAccepted,
        ReviewResultReceived,
        ApplicationRevoked,
        LicenseIssued,
        EkeyBound,
        EkeyUnbound,
        SubmissionDelayed,
    }


async def test_the_applicants_revoke_reason_is_the_status_reason() -> None:
    """Issue 13, item 11: the reason the applicant gave with the revoke is kept."""
    uow = FakeUnitOfWork()
    app = await pending(uow)
    await deliver(
        uow,
        ApplicationRevoked(
            application_id=str(app.id), form_no="F-1", revoked_at=APPLIED_AT, reason="合同取消"
        ),
    )
    assert uow.applications.stored(app.id).status_reason == "revoked by applicant: 合同取消"


async def test_a_resubmission_shows_no_form_no_until_mofcom_answers() -> None:
    """Issue 13, item 12: after a revocation the application is submitted again; the revoked
    form's number is not the new submission's, so none shows until MOFCOM accepts it."""
    uow = FakeUnitOfWork()
    app = await pending(uow, form_no="F-1")
    await deliver(uow, ApplicationRevoked(application_id=str(app.id), form_no="F-1", revoked_at=APPLIED_AT))
    await handlers.handle(uow, c.SubmitApplication(TENANT, app.id), CTX)
    again = uow.applications.stored(app.id)
    assert again.status is S.SUBMITTING
    assert (again.form_no, again.license_no, again.applied_at) == (None, None, None)
    # A late review of the revoked form changes nothing; MOFCOM's acceptance brings the new number.
    await deliver(uow, review(again, "first", "rejected", form_no="F-1"))
    assert uow.applications.stored(app.id).status is S.SUBMITTING
    await deliver(uow, accepted(again, "F-2"))
    assert uow.applications.stored(app.id).form_no == "F-2"


async def test_mofcom_not_answering_is_the_status_reason_while_submitting() -> None:
    """Issue 13, item 9: SubmissionDelayed keeps the application submitting and says why."""
    uow = FakeUnitOfWork()
    app = await submitted(uow)
    detail = "MOFCOM unreachable, attempt 5, next at 2026-12-01T03:00:20Z (HTTP 503)"
    await deliver(
        uow,
        SubmissionDelayed(
            application_id=str(app.id),
            submission_id=str(app.submission_id),
            detail=detail,
            attempt=5,
            next_attempt_at=APPLIED_AT,
        ),
    )
    stored = uow.applications.stored(app.id)
    assert stored.status is S.SUBMITTING and stored.status_reason == f"mofcom_unreachable: {detail}"
    await deliver(uow, accepted(stored))
    assert uow.applications.stored(app.id).status_reason is None
