from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    ClearanceRefused,
    CustomsStored,
    EkeyHeartbeat,
    LicenseIssued,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
)
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.lifecycle import event_reason
from ail_status.domain.model import OPEN_TO_RESUBMISSION, View, decide, describe, webhook_type

NOW = datetime(2026, 11, 27, tzinfo=UTC)


def review(stage: str, result: str, opinion: str = "") -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id="a",
        form_no="f",
        stage=stage,  # type: ignore[arg-type]
        result=result,  # type: ignore[arg-type]
        opinion=opinion,
        license_no="26AA000001" if (stage, result) == ("second", "passed") else None,
        reviewed_at=NOW,
    )


@pytest.mark.parametrize(
    ("stage", "result", "status"),
    [
        ("first", "passed", S.PENDING_SECOND_REVIEW),
        ("first", "rejected", S.FIRST_REVIEW_REJECTED),
        ("second", "passed", S.APPROVED),
        ("second", "rejected", S.SECOND_REVIEW_REJECTED),
    ],
)
def test_review_results(stage: str, result: str, status: S) -> None:
    fact = describe(review(stage, result, "意见"))
    assert fact is not None and fact.status is status and fact.opinion == "意见"
    assert fact.reason == ("意见" if result == "rejected" else None)
    assert (fact.license_no is not None) == (status is S.APPROVED)


def test_facts_carry_reason_and_numbers() -> None:
    sub = ApplicationSubmitted(
        application_id="a",
        serial_no="NA2600000000000001",
        enterprise_code="1",
        submission_id="s",
        snapshot={},
    )
    assert describe(sub) == describe(sub)
    assert describe(sub).serial_no == "NA2600000000000001"  # type: ignore[union-attr]
    failed = describe(
        SigningFailed(application_id="a", submission_id="s", reason="ekey_not_present", detail="x")
    )
    assert (
        failed is not None
        and failed.status is S.DRAFT
        and failed.reason == event_reason("ekey_not_present", "x")
    )
    rejected = describe(SubmissionRejected(application_id="a", submission_id="s", reason="bad"))
    assert rejected is not None and rejected.status is S.DRAFT and rejected.reason == "bad"
    accepted = describe(
        SubmissionAccepted(application_id="a", submission_id="s", form_no="f1", applied_at=NOW)
    )
    assert accepted is not None and accepted.form_no == "f1" and accepted.status is S.PENDING_FIRST_REVIEW
    revoked = describe(ApplicationRevoked(application_id="a", revoked_at=NOW))
    assert revoked is not None and revoked.status is S.REVOKED and revoked.reason == "revoked by applicant"
    issued = describe(
        LicenseIssued(
            application_id="a",
            enterprise_code="1",
            form_no="f",
            license_no="L",
            issued_at=NOW,
            valid_until=date(2026, 12, 31),
            commodity_code="2601",
            quantity=Decimal(1),
            one_batch_one_license=True,
        )
    )
    assert (
        issued is not None
        and issued.status is S.LICENSE_ISSUED
        and issued.details["valid_until"] == "2026-12-31"
    )
    stored = describe(CustomsStored(application_id="a", license_no="L", result="store_failed", detail="no"))
    assert stored is not None and stored.status is None and stored.customs_status == "store_failed"
    cleared = describe(
        ClearanceRecorded(
            application_id="a",
            license_no="L",
            declaration_no="D1",
            declared_at=NOW,
            port="0101",
            quantity=Decimal(5),
        )
    )
    assert cleared is not None and cleared.status is None and cleared.details["declaration_no"] == "D1"
    assert describe(EkeyHeartbeat(host_id="h", sent_at=NOW)) is None
    ok = describe(review("first", "passed", "ok"))
    assert ok is not None and (ok.status, ok.opinion) == (S.PENDING_SECOND_REVIEW, "ok")


def _fold(events: list[tuple[object, int]]) -> View | None:
    """Apply events (with their event time in seconds) as the handler and the view's upsert do."""
    view: View | None = None
    t0 = NOW
    for event, second in events:
        fact = describe(event)  # type: ignore[arg-type]
        assert fact is not None and fact.status is not None
        at = t0 + timedelta(seconds=second)
        move = decide(view, fact, at)
        if not move.moves:
            continue
        if move.new_submission or view is None:
            view = View(fact.status, fact.submission_id, fact.form_no, at)
        else:
            view = View(
                fact.status,
                view.submission_id or fact.submission_id,
                fact.form_no or view.form_no,
                view.submission_seen_at,
            )
    return view


def submitted(sid: str) -> ApplicationSubmitted:
    return ApplicationSubmitted(
        application_id="a", serial_no="NA26", enterprise_code="1", submission_id=sid, snapshot={}
    )


def failed(sid: str) -> SigningFailed:
    return SigningFailed(application_id="a", submission_id=sid, reason="ekey_not_present")


def accepted(sid: str, form_no: str) -> SubmissionAccepted:
    return SubmissionAccepted(application_id="a", submission_id=sid, form_no=form_no, applied_at=NOW)


def reviewed(form_no: str, stage: str, result: str) -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id="a",
        form_no=form_no,
        stage=stage,
        result=result,
        reviewed_at=NOW,  # type: ignore[arg-type]
    )


def issued(form_no: str) -> LicenseIssued:
    return LicenseIssued(
        application_id="a",
        enterprise_code="1",
        form_no=form_no,
        license_no="L",
        issued_at=NOW,
        valid_until=date(2026, 12, 31),
        commodity_code="2601",
        quantity=Decimal(1),
        one_batch_one_license=True,
    )


@pytest.mark.parametrize(
    ("events", "status"),
    [
        # issue 10 item 6: a signing failure seen before its submit event stays draft
        ([(failed("s1"), 2), (submitted("s1"), 1)], S.DRAFT),
        ([(submitted("s1"), 1), (failed("s1"), 2)], S.DRAFT),
        # a resubmission after the failure is forward ...
        ([(submitted("s1"), 1), (failed("s1"), 2), (submitted("s2"), 3)], S.SUBMITTING),
        # ... also when the first submission's failure arrives after the new submission
        ([(submitted("s1"), 1), (submitted("s2"), 3), (failed("s1"), 2)], S.SUBMITTING),
        ([(failed("s1"), 2), (submitted("s2"), 3), (submitted("s1"), 1)], S.SUBMITTING),
        # out-of-order MOFCOM results: the license stays
        (
            [
                (submitted("s1"), 1),
                (accepted("s1", "F1"), 2),
                (issued("F1"), 5),
                (reviewed("F1", "first", "passed"), 3),
            ],
            S.LICENSE_ISSUED,
        ),
        (
            [(accepted("s1", "F1"), 2), (reviewed("F1", "first", "passed"), 3), (submitted("s1"), 1)],
            S.PENDING_SECOND_REVIEW,
        ),
        # first review rejected, corrected and submitted again; the old form's late news is history
        (
            [
                (submitted("s1"), 1),
                (accepted("s1", "F1"), 2),
                (submitted("s2"), 4),
                (reviewed("F1", "first", "rejected"), 3),
            ],
            S.SUBMITTING,
        ),
        (
            [
                (submitted("s1"), 1),
                (accepted("s1", "F1"), 2),
                (reviewed("F1", "first", "rejected"), 3),
                (accepted("s2", "F2"), 5),
                (submitted("s2"), 4),
            ],
            S.PENDING_FIRST_REVIEW,
        ),
        ([(submitted("s1"), 1), (accepted("s1", "F1"), 2), (failed("s1"), 3)], S.PENDING_FIRST_REVIEW),
        # nothing is submitted again after the second review: a stray later submission moves nothing
        (
            [(accepted("s1", "F1"), 2), (reviewed("F1", "second", "passed"), 3), (submitted("s2"), 4)],
            S.APPROVED,
        ),
    ],
)
def test_forward_only_per_submission(events: list[tuple[object, int]], status: S) -> None:
    view = _fold(events)
    assert view is not None and view.status is status


def test_webhook_type() -> None:
    assert webhook_type("SubmissionAccepted") == "application.submission_accepted"
    assert webhook_type("ApplicationSubmitted") == "application.application_submitted"


def test_resubmission_rule_is_derived_from_the_shared_lifecycle() -> None:
    """The statuses after which a new submission may come: those that allow submit
    (ail_shared.lifecycle.ALLOWED), and those one forward step before one of them."""
    assert {
        S.DRAFT,
        S.SUBMITTING,
        S.PENDING_FIRST_REVIEW,
        S.REVOKED,
        S.FIRST_REVIEW_REJECTED,
    } == OPEN_TO_RESUBMISSION


def test_signing_deferred_is_a_history_fact_of_its_submission() -> None:
    fact = describe(
        SigningDeferred(application_id="a", submission_id="s", ekey_serial="k", detail="waiting for e-key k")
    )
    assert fact is not None and fact.status is None and fact.implies is S.SUBMITTING
    assert fact.submission_id == "s" and fact.reason == "waiting_for_ekey: waiting for e-key k"


def test_a_refused_declaration_is_a_history_fact() -> None:
    """Issue 13, item 13: ClearanceRefused is listed and pushed; it sets no status."""
    fact = describe(
        ClearanceRefused(
            application_id="a",
            license_no="26AA000001",
            declaration_no="D1",
            declared_at=NOW,
            quantity=Decimal("10"),
            reason="uses_exhausted",
            detail="six uses",
        )
    )
    assert fact is not None and fact.status is None and fact.implies is S.APPROVED
    assert fact.reason == "uses_exhausted: six uses" and fact.license_no == "26AA000001"
    assert fact.details == {"declaration_no": "D1", "quantity": "10", "refusal": "uses_exhausted"}
    assert fact.happened_at == NOW


def test_mofcom_not_answering_is_a_history_fact_of_the_submission() -> None:
    """Issue 13, item 9: SubmissionDelayed sets no status; it names its submission and attempt."""
    fact = describe(
        SubmissionDelayed(
            application_id="a",
            submission_id="s",
            detail="MOFCOM unreachable, attempt 1",
            attempt=1,
            next_attempt_at=NOW,
        )
    )
    assert fact is not None and fact.status is None and fact.implies is S.SUBMITTING
    assert fact.reason == "mofcom_unreachable: MOFCOM unreachable, attempt 1"
    assert fact.submission_id == "s"
    assert fact.details == {"submission_id": "s", "attempt": 1, "next_attempt_at": NOW.isoformat()}
