from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    CustomsStored,
    EkeyHeartbeat,
    LicenseIssued,
    ReviewResultReceived,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.vocabulary import ApplicationStatus as S
from ail_status.domain.lifecycle import describe, may_move, status_after, webhook_type

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
    assert failed is not None and failed.status is S.DRAFT and failed.reason == "ekey_not_present: x"
    rejected = describe(SubmissionRejected(application_id="a", submission_id="s", reason="bad"))
    assert rejected is not None and rejected.status is S.DRAFT and rejected.reason == "bad"
    accepted = describe(
        SubmissionAccepted(application_id="a", submission_id="s", form_no="f1", applied_at=NOW)
    )
    assert accepted is not None and accepted.form_no == "f1" and accepted.status is S.PENDING_FIRST_REVIEW
    revoked = describe(ApplicationRevoked(application_id="a", revoked_at=NOW))
    assert revoked is not None and revoked.status is S.REVOKED and revoked.reason is None
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
    assert status_after(review("first", "passed", "ok")) == (S.PENDING_SECOND_REVIEW, "ok")


def test_never_backwards_but_resubmission_is_forward() -> None:
    assert may_move(None, S.SUBMITTING)
    assert may_move(S.SUBMITTING, S.PENDING_FIRST_REVIEW)
    assert not may_move(S.PENDING_FIRST_REVIEW, S.SUBMITTING)  # late submit
    assert not may_move(S.APPROVED, S.PENDING_SECOND_REVIEW)
    assert may_move(S.SUBMITTING, S.DRAFT)
    assert not may_move(S.PENDING_FIRST_REVIEW, S.DRAFT)
    for back in (S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED):
        assert may_move(back, S.SUBMITTING)


def test_webhook_type() -> None:
    assert webhook_type("SubmissionAccepted") == "application.submission_accepted"
    assert webhook_type("ApplicationSubmitted") == "application.application_submitted"
