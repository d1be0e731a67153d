"""Which status an event leads to. Pure; never moves a status backwards."""

from __future__ import annotations

from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.vocabulary import STATUS_RANK
from ail_shared.vocabulary import ApplicationStatus as S


def status_after(event: Event) -> tuple[S, str | None] | None:
    """The status an event sets, with its reason; None if the event sets none."""
    match event:
        case ApplicationSubmitted():
            return S.SUBMITTING, None
        case SigningFailed(reason=reason, detail=detail):
            return S.DRAFT, f"{reason}: {detail}" if detail else reason
        case SubmissionRejected(reason=reason, detail=detail):
            return S.DRAFT, f"{reason}: {detail}" if detail else reason
        case SubmissionAccepted():
            return S.PENDING_FIRST_REVIEW, None
        case ApplicationRevoked(reason=reason):
            return S.REVOKED, reason or None
        case ReviewResultReceived(stage="first", result="passed", opinion=o):
            return S.PENDING_SECOND_REVIEW, o or None
        case ReviewResultReceived(stage="first", result="rejected", opinion=o):
            return S.FIRST_REVIEW_REJECTED, o or None
        case ReviewResultReceived(stage="second", result="passed", opinion=o):
            return S.APPROVED, o or None
        case ReviewResultReceived(stage="second", result="rejected", opinion=o):
            return S.SECOND_REVIEW_REJECTED, o or None
        case LicenseIssued():
            return S.LICENSE_ISSUED, None
    return None


def may_move(current: S | None, new: S) -> bool:
    """A late or duplicate event never moves a status backwards. A new submission after a
    failure or a correction (draft/revoked/first_review_rejected -> submitting) is forward."""
    if current is None:
        return True
    if new in (S.SUBMITTING,) and current in (S.DRAFT, S.REVOKED, S.FIRST_REVIEW_REJECTED):
        return True
    if new is S.DRAFT:
        return current is S.SUBMITTING
    return STATUS_RANK[new] > STATUS_RANK[current]
