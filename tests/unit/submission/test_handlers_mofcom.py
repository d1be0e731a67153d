"""Handler unit tests (fakes, no I/O): the sender's steps (claim, send, record MOFCOM's answer) and
MOFCOM's review results, pushed (callbacks) or asked for (approval-status refresh)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import pytest

from ail_shared import topics
from ail_shared.errors import Conflict, NotFound
from ail_shared.events import (
    LicenseIssued,
    ReviewResultReceived,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
)
from ail_submission.adapters.mofcom import Accepted, MofcomUnavailable, Refused, Unavailable
from ail_submission.domain.commands import (
    ClaimDueSubmissions,
    CloseSubmission,
    ReceiveReviewResult,
    RefreshApprovalStatus,
    ResendSubmission,
    SendSubmission,
)
from ail_submission.domain.model import ACCEPTED, PARKED, REJECTED, SIGNED, CallbackRefusal, Submission
from ail_submission.service_layer import handlers
from tests.unit.submission.fakes import (
    ENTERPRISE,
    SERIAL,
    T0,
    FakeApplicationService,
    FakeMofcom,
    FakeUnitOfWork,
    a_submission,
    view_of,
)

FORM = "26110077636755500001"
POLICY = handlers.SendPolicy(max_attempts=3, base_seconds=0.5, max_backoff=20.0)


def signed(uow: FakeUnitOfWork, **over: Any) -> Submission:
    fields: dict[str, Any] = {
        "ekey_serial": SERIAL,
        "signature": "c2ln",
        "algorithm": "SM2",
        "next_attempt_at": uow.clock(),
        "attempts": 1,
    }
    fields.update(over)
    sub = a_submission(state=SIGNED, **fields)
    uow.put(sub, view_of(sub))
    return sub


async def send(uow: FakeUnitOfWork, sub: Submission, mofcom: FakeMofcom) -> str:
    return await handlers.send_submission(
        uow, SendSubmission(sub.submission_id), mofcom=mofcom, send_policy=POLICY, clock=uow.clock
    )


# ---------------------------------------------------------------- the sender


async def test_mofcom_down_is_told_to_the_applicant_throttled() -> None:
    """Issue 13, item 9: the first failed attempt, every fifth and a change of error kind are
    announced (SubmissionDelayed, on ail.submission, and the submission's view says so); the
    attempts between are not, so the history is not flooded."""
    uow = FakeUnitOfWork()
    errors = ["ConnectError: refused"] * 6 + ["HTTP 503 from MOFCOM"]
    mofcom = FakeMofcom(submits=[Unavailable(e) for e in errors])
    sub = signed(uow, attempts=0)
    told: list[int] = []
    for attempt in range(1, len(errors) + 1):
        uow.submission(sub.submission_id).attempts = attempt  # the claim counts the attempt
        uow.submission(sub.submission_id).state = SIGNED
        before = len(uow.events(SubmissionDelayed))
        outcome = await handlers.send_submission(
            uow,
            SendSubmission(sub.submission_id),
            mofcom=mofcom,
            send_policy=handlers.SendPolicy(),
            clock=uow.clock,
        )
        assert outcome == "retry"
        if len(uow.events(SubmissionDelayed)) > before:
            told.append(attempt)
    assert told == [1, 5, 7]  # first, fifth, and the new kind of error at the seventh
    first, fifth, seventh = uow.events(SubmissionDelayed)
    assert (first.reason, first.attempt, first.error) == ("mofcom_unreachable", 1, "ConnectError: refused")
    assert first.detail.startswith("MOFCOM unreachable, attempt 1, next at ")
    assert first.detail.endswith("(ConnectError: refused)")
    assert seventh.error == "HTTP 503 from MOFCOM" and seventh.next_attempt_at > uow.clock()
    assert uow.topics_of(SubmissionDelayed) == [(topics.SUBMISSION, str(sub.application_id))] * 3
    view = uow.view(sub.application_id)
    assert view.status == "submitting"
    assert view.status_reason is not None
    assert view.status_reason.startswith("mofcom_unreachable: MOFCOM unreachable, attempt 7, next at ")


async def test_claim_due_leases_the_signed_submissions_whose_time_has_come() -> None:
    uow = FakeUnitOfWork()
    due = signed(uow, attempts=0)
    later = signed(uow, next_attempt_at=uow.clock() + timedelta(seconds=5))
    leased = signed(uow, lease_until=uow.clock() + timedelta(seconds=10))
    claimed = await handlers.claim_due(uow, ClaimDueSubmissions(limit=10, lease_seconds=30))
    assert claimed == [due.submission_id]
    row = uow.submission(due.submission_id)
    assert row.attempts == 1 and row.lease_until == uow.clock() + timedelta(seconds=30)
    assert uow.submission(later.submission_id).attempts == 1  # untouched
    assert uow.submission(leased.submission_id).lease_until == uow.clock() + timedelta(seconds=10)


async def test_claim_due_takes_no_more_than_the_room_there_is() -> None:
    uow = FakeUnitOfWork()
    for _ in range(3):
        signed(uow)
    assert len(await handlers.claim_due(uow, ClaimDueSubmissions(limit=2, lease_seconds=30))) == 2


async def test_sending_an_accepted_submission_records_the_form_no() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Accepted(FORM, T0)])
    sub = signed(uow)
    assert await send(uow, sub, mofcom) == "accepted"

    [call] = mofcom.called("submit")
    assert call["idempotency_key"] == str(sub.submission_id)  # a retry gets the same form no.
    assert call["payload_b64"] == sub.payload_b64() and call["signature"] == "c2ln"
    row = uow.submission(sub.submission_id)
    assert row.state == ACCEPTED and row.form_no == FORM and row.lease_until is None
    view = uow.view(sub.application_id)
    assert view.status == "pending_first_review" and view.form_no == FORM and view.applied_at == T0
    [accepted] = uow.events(SubmissionAccepted)
    assert accepted.form_no == FORM
    assert uow.topics_of(SubmissionAccepted) == [(topics.SUBMISSION, str(sub.application_id))]


async def test_a_refusal_by_mofcom_rejects_the_submission_back_to_draft() -> None:
    uow = FakeUnitOfWork()
    mofcom = FakeMofcom(submits=[Refused("signature_invalid", "签名无效")])
    sub = signed(uow)
    assert await send(uow, sub, mofcom) == "rejected"
    assert uow.submission(sub.submission_id).state == REJECTED
    view = uow.view(sub.application_id)
    assert view.status == "draft" and view.status_reason == "signature_invalid"
    [rejected] = uow.events(SubmissionRejected)
    assert rejected.reason == "signature_invalid" and rejected.detail == "签名无效"


async def test_mofcom_unavailable_is_tried_again_later_with_backoff() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Unavailable("HTTP 503 from MOFCOM")])
    sub = signed(uow, attempts=2, last_error="HTTP 503 from MOFCOM")  # attempt 1 failed alike
    assert await send(uow, sub, mofcom) == "retry"
    row = uow.submission(sub.submission_id)
    assert row.state == SIGNED and row.last_error == "HTTP 503 from MOFCOM"
    assert row.next_attempt_at == uow.clock() + timedelta(seconds=1.0)  # 0.5 * 2 ** (2 - 1)
    assert row.lease_until is None and uow.published == []
    assert uow.view(sub.application_id).status == "submitting"


async def test_the_next_round_waits_as_long_as_mofcom_asked() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Unavailable("HTTP 429", retry_after=45.0)])
    sub = signed(uow, attempts=1)
    assert await send(uow, sub, mofcom) == "retry"
    assert uow.submission(sub.submission_id).next_attempt_at == uow.clock() + timedelta(seconds=45)


async def test_mofcom_unavailable_after_the_last_attempt_parks_the_submission_for_operations() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Unavailable("timeout")])
    sub = signed(uow, attempts=3)
    assert await send(uow, sub, mofcom) == "parked"
    row = uow.submission(sub.submission_id)
    assert row.state == PARKED and row.last_error == "timeout" and row.next_attempt_at is None
    assert uow.events(SubmissionRejected) == []  # an outage is waited out, never a rejection
    view = uow.view(sub.application_id)
    assert view.status == "submitting"
    assert view.status_reason is not None and view.status_reason.startswith("mofcom_unavailable: ")
    assert "after 3 attempts" in view.status_reason and "parked" in view.status_reason
    # A parked submission is not claimed again by the sender.
    uow.clock.advance(hours=1)
    assert await handlers.claim_due(uow, ClaimDueSubmissions(limit=10, lease_seconds=30)) == []


async def test_operations_resend_a_parked_submission_now_with_fresh_retries() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Unavailable("timeout")])
    sub = signed(uow, attempts=3)
    await send(uow, sub, mofcom)
    woken: list[bool] = []
    cmd = ResendSubmission(sub.submission_id, reason="MOFCOM is back", actor="ops-1")
    await handlers.resend_submission(uow, cmd, clock=uow.clock, wake_sender=lambda: woken.append(True))
    row = uow.submission(sub.submission_id)
    assert (row.state, row.attempts, row.next_attempt_at) == (SIGNED, 0, uow.clock())
    assert woken == [True]
    assert uow.ops() == [(sub.submission_id, "resend", "MOFCOM is back", "ops-1")]
    assert uow.view(sub.application_id).status_reason is None
    assert await handlers.claim_due(uow, ClaimDueSubmissions(limit=10, lease_seconds=30)) == [
        sub.submission_id
    ]


async def test_operations_close_a_parked_submission_with_a_reason() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Unavailable("timeout")])
    sub = signed(uow, attempts=3)
    await send(uow, sub, mofcom)
    cmd = CloseSubmission(sub.submission_id, reason="duplicate of another form", actor="ops-1")
    await handlers.close_submission(uow, cmd)
    row = uow.submission(sub.submission_id)
    assert row.state == REJECTED and row.reason == "closed_by_operations"
    [rejected] = uow.events(SubmissionRejected)
    assert rejected.reason == "closed_by_operations"
    assert rejected.detail == "duplicate of another form"
    view = uow.view(sub.application_id)
    assert view.status == "draft" and view.status_reason == "closed_by_operations"
    assert uow.ops() == [(sub.submission_id, "close", "duplicate of another form", "ops-1")]
    # Closed is final: neither action applies again, and nothing is recorded for the refusal.
    with pytest.raises(Conflict):
        await handlers.resend_submission(uow, ResendSubmission(sub.submission_id, "again", "ops-1"))
    with pytest.raises(Conflict):
        await handlers.close_submission(uow, cmd)
    assert len(uow.ops()) == 1


async def test_operations_actions_on_an_unknown_submission_are_404() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound):
        await handlers.close_submission(uow, CloseSubmission(uuid4(), reason="why", actor="ops-1"))


async def test_a_submission_answered_already_is_not_sent_again() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    sub = signed(uow)
    uow.submission(sub.submission_id).state = ACCEPTED
    assert await send(uow, sub, mofcom) == "skipped" and mofcom.calls == []


async def test_a_failure_recording_the_answer_is_noted_on_the_row() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Accepted(FORM, T0)])
    sub = signed(uow)

    async def broken(*_: Any) -> None:
        raise ConnectionResetError("database went away")

    uow.submissions.save = broken  # type: ignore[assignment, method-assign]
    assert await send(uow, sub, mofcom) == "retry"
    assert "database went away" in uow.submissions.errors[sub.submission_id]  # type: ignore[attr-defined]
    assert uow.submission(sub.submission_id).state == SIGNED and uow.published == []


# ---------------------------------------------------------------- review results (callbacks)


def accepted(uow: FakeUnitOfWork, status: str = "pending_first_review", **over: Any) -> Submission:
    sub = a_submission(state=ACCEPTED, form_no=FORM, applied_at=T0, **over)
    uow.put(sub, view_of(sub, status=status, form_no=FORM, applied_at=T0))
    return sub


def result(sub: Submission, stage: str, outcome: str, license_no: str | None = None) -> ReceiveReviewResult:
    return ReceiveReviewResult(
        submission_id=sub.submission_id,
        application_id=sub.application_id,
        form_no=FORM,
        stage=stage,  # type: ignore[arg-type]
        result=outcome,  # type: ignore[arg-type]
        opinion="同意" if outcome == "passed" else "不符",
        license_no=license_no,
        reviewed_at=T0,
    )


async def test_a_first_review_pass_moves_to_pending_second_review() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow)
    assert (
        await handlers.receive_review_result(uow, result(sub, "first", "passed"), clock=uow.clock)
        == "applied"
    )
    view = uow.view(sub.application_id)
    assert view.status == "pending_second_review" and view.status_reason == "同意"
    [received] = uow.events(ReviewResultReceived)
    assert received.stage == "first" and received.application is not None
    assert received.application.commodity_code == "2709000000"
    assert received.application.total_quantity == Decimal("1500.5")
    assert uow.events(LicenseIssued) == []


async def test_a_second_review_pass_with_a_license_issues_it() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow, status="pending_second_review")
    cmd = result(sub, "second", "passed", license_no="26AANW0040")
    assert await handlers.receive_review_result(uow, cmd, clock=uow.clock) == "applied"
    view = uow.view(sub.application_id)
    assert view.status == "license_issued" and view.license_no == "26AANW0040"
    [issued] = uow.events(LicenseIssued)
    assert issued.license_no == "26AANW0040" and issued.issued_at == uow.clock()
    assert issued.enterprise_code == ENTERPRISE and issued.quantity == Decimal("1500.5")
    assert issued.overflow_tolerance_pct == Decimal("3")
    assert uow.topics_of(LicenseIssued) == [(topics.SUBMISSION, str(sub.application_id))]


async def test_a_repeated_result_is_applied_once() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow)
    await handlers.receive_review_result(uow, result(sub, "first", "passed"), clock=uow.clock)
    again = await handlers.receive_review_result(uow, result(sub, "first", "passed"), clock=uow.clock)
    assert again == "duplicate" and len(uow.events(ReviewResultReceived)) == 1


async def test_a_late_first_result_never_moves_the_status_backwards() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow, status="license_issued")
    assert (
        await handlers.receive_review_result(uow, result(sub, "first", "passed"), clock=uow.clock)
        == "applied"
    )
    assert uow.view(sub.application_id).status == "license_issued"
    assert len(uow.events(ReviewResultReceived)) == 1  # still told downstream


async def test_a_result_that_does_not_fit_its_submission_is_refused_and_not_applied() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow)
    cmd = result(sub, "first", "passed")
    wrong = ReceiveReviewResult(**{**cmd.__dict__, "application_id": uuid4()})
    outcome = await handlers.receive_review_result(uow, wrong, clock=uow.clock)
    assert isinstance(outcome, CallbackRefusal) and outcome.code == "application_mismatch"
    assert uow.published == [] and uow.review_results.rows == {}  # type: ignore[attr-defined]
    assert uow.view(sub.application_id).status == "pending_first_review"


async def test_a_result_for_a_submission_being_sent_asks_mofcom_to_come_again() -> None:
    uow = FakeUnitOfWork()
    sub = a_submission(state=SIGNED)
    uow.put(sub, view_of(sub))
    outcome = await handlers.receive_review_result(uow, result(sub, "first", "passed"), clock=uow.clock)
    assert isinstance(outcome, CallbackRefusal) and outcome.retry and outcome.status == 409


# ---------------------------------------------------------------- approval-status refresh


def refresh(app_id: UUID) -> RefreshApprovalStatus:
    return RefreshApprovalStatus(
        application_id=app_id, enterprise_codes=(ENTERPRISE,), credentials=(("x-api-key", "k"),)
    )


async def test_refresh_applies_what_mofcom_reports() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow)
    mofcom = FakeMofcom(
        statuses=[
            {
                "form_no": FORM,
                "status": "pending_second_review",
                "results": [
                    {
                        "form_no": FORM,
                        "stage": "first",
                        "result": "passed",
                        "opinion": "同意",
                        "reviewed_at": T0.isoformat(),
                    }
                ],
            }
        ]
    )
    answer = await handlers.refresh_approval_status(
        uow,
        refresh(sub.application_id),
        mofcom=mofcom,
        applications=FakeApplicationService(),
        clock=uow.clock,
    )
    assert mofcom.called("status") == [{"form_no": FORM}]
    assert answer.view.status == "pending_second_review" and answer.mofcom is not None
    assert answer.mofcom["status"] == "pending_second_review"
    assert len(uow.events(ReviewResultReceived)) == 1


async def test_refresh_of_an_application_never_sent_names_its_status_there() -> None:
    uow, apps = FakeUnitOfWork(), FakeApplicationService()
    app_id = uuid4()
    apps.statuses[app_id] = "draft"
    with pytest.raises(Conflict, match="is draft: it has never been sent to MOFCOM"):
        await handlers.refresh_approval_status(
            uow, refresh(app_id), mofcom=FakeMofcom(), applications=apps, clock=uow.clock
        )
    assert apps.asked == [(app_id, (("x-api-key", "k"),))]  # with the caller's own credentials


async def test_refresh_of_another_tenants_application_is_not_found() -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(NotFound):
        await handlers.refresh_approval_status(
            uow, refresh(uuid4()), mofcom=FakeMofcom(), applications=FakeApplicationService(), clock=uow.clock
        )


async def test_refresh_while_mofcom_is_away_is_a_503_and_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    sub = accepted(uow)
    with pytest.raises(MofcomUnavailable):
        await handlers.refresh_approval_status(
            uow,
            refresh(sub.application_id),
            mofcom=FakeMofcom(statuses=[Unavailable("timeout")]),
            applications=FakeApplicationService(),
            clock=uow.clock,
        )
    assert uow.view(sub.application_id).status == "pending_first_review" and uow.published == []


# ---------------------------------------------------------------- attachments (issue 13, item 7)
SCAN = b"%PDF-1.7 scan"


def with_attachment(uow: FakeUnitOfWork, content: bytes = SCAN) -> tuple[Submission, FakeApplicationService]:
    digest = hashlib.sha256(SCAN).hexdigest()
    named = {
        "id": "a-1",
        "filename": "scan.pdf",
        "content_type": "application/pdf",
        "size": 13,
        "sha256": digest,
    }
    sub = signed(uow)
    sub.snapshot = {**sub.snapshot, "attachments": [named]}
    uow.put(sub, view_of(sub))
    return sub, FakeApplicationService(files={(sub.application_id, "a-1"): content})


async def send_with(
    uow: FakeUnitOfWork, sub: Submission, mofcom: FakeMofcom, apps: FakeApplicationService
) -> str:
    return await handlers.send_submission(
        uow,
        SendSubmission(sub.submission_id),
        mofcom=mofcom,
        send_policy=POLICY,
        clock=uow.clock,
        applications=apps,
    )


async def test_the_attachments_the_signed_snapshot_names_go_to_mofcom_with_their_bytes() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom(submits=[Accepted(FORM, T0)])
    sub, apps = with_attachment(uow)
    assert await send_with(uow, sub, mofcom, apps) == "accepted"
    [call] = mofcom.called("submit")
    [sent] = call["attachments"]
    assert (sent.id, sent.filename, sent.content) == ("a-1", "scan.pdf", SCAN)
    assert sent.sha256 == hashlib.sha256(SCAN).hexdigest()


async def test_bytes_that_are_not_the_signed_ones_end_the_submission_unsent() -> None:
    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    sub, apps = with_attachment(uow, content=b"%PDF-1.7 other")
    assert await send_with(uow, sub, mofcom, apps) == "rejected"
    assert mofcom.called("submit") == []
    assert uow.submission(sub.submission_id).reason == handlers.ATTACHMENT_CHANGED


async def test_the_application_service_not_answering_is_waited_out() -> None:
    from ail_submission.adapters.applications import ApplicationServiceUnavailable

    uow, mofcom = FakeUnitOfWork(), FakeMofcom()
    sub, apps = with_attachment(uow)
    apps.files[(sub.application_id, "a-1")] = ApplicationServiceUnavailable("down")
    assert await send_with(uow, sub, mofcom, apps) == "retry"
    assert mofcom.called("submit") == [] and uow.submission(sub.submission_id).state == SIGNED


async def test_the_sender_sends_the_claimed_submission_without_reading_it_again() -> None:
    """Issue 16: the claim returns the submissions themselves; the send takes one unit of work
    (recording the answer), not two (reading the row first, then recording)."""
    uow = FakeUnitOfWork()
    sub = signed(uow, attempts=0)
    claimed = await handlers.claim_due(uow, ClaimDueSubmissions(limit=10, lease_seconds=30, rows=True))
    assert [s.submission_id for s in claimed] == [sub.submission_id]
    before = uow.commits
    mofcom = FakeMofcom(submits=[Accepted(form_no=FORM, applied_at=T0)])
    outcome = await handlers.send_submission(
        uow,
        SendSubmission(sub.submission_id, claimed=claimed[0]),
        mofcom=mofcom,
        send_policy=POLICY,
        clock=uow.clock,
    )
    assert outcome == "accepted"
    assert uow.commits - before == 1
    assert uow.submission(sub.submission_id).state == ACCEPTED
