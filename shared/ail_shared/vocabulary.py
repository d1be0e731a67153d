"""Words every service uses the same way (DOMAIN.md sections 3 and 4)."""

from __future__ import annotations

from enum import StrEnum


class ApplicationStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTING = "submitting"  # our rule: in flight between draft and pending_first_review
    PENDING_FIRST_REVIEW = "pending_first_review"
    REVOKED = "revoked"
    FIRST_REVIEW_REJECTED = "first_review_rejected"
    PENDING_SECOND_REVIEW = "pending_second_review"
    SECOND_REVIEW_REJECTED = "second_review_rejected"
    APPROVED = "approved"
    LICENSE_ISSUED = "license_issued"


# How far along the lifecycle a status is; a status never moves to a lower rank because of a
# late or duplicate message (draft/submitting can follow a failed submission, handled apart).
STATUS_RANK: dict[ApplicationStatus, int] = {
    ApplicationStatus.DRAFT: 0,
    ApplicationStatus.SUBMITTING: 1,
    ApplicationStatus.PENDING_FIRST_REVIEW: 2,
    ApplicationStatus.REVOKED: 3,
    ApplicationStatus.FIRST_REVIEW_REJECTED: 3,
    ApplicationStatus.PENDING_SECOND_REVIEW: 3,
    ApplicationStatus.SECOND_REVIEW_REJECTED: 4,
    ApplicationStatus.APPROVED: 4,
    ApplicationStatus.LICENSE_ISSUED: 5,
}


class CustomsStatus(StrEnum):
    NOT_ARRIVED = "not_arrived"
    STORED = "stored"
    STORE_FAILED = "store_failed"
    SEND_FAILED = "send_failed"
