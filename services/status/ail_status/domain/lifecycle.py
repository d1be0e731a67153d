"""Which status an event leads to, and what else it tells about the application. Pure; a late
or duplicate event never moves the current status backwards."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    ClearanceReversed,
    CustomsStored,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.vocabulary import STATUS_RANK
from ail_shared.vocabulary import ApplicationStatus as S


@dataclass(frozen=True)
class Fact:
    """What one lifecycle event says about an application."""

    status: S | None  # the status it sets; None for customs events, which set none
    reason: str | None = None
    opinion: str | None = None
    serial_no: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    customs_status: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def _reason(reason: str, detail: str) -> str:
    return f"{reason}: {detail}" if detail else reason


def describe(event: Event) -> Fact | None:
    """The fact an event records; None for an event the status service does not track."""
    match event:
        case ApplicationSubmitted(serial_no=serial_no, submission_id=sid):
            return Fact(S.SUBMITTING, serial_no=serial_no, details={"submission_id": sid})
        case SigningFailed(reason=reason, detail=detail, submission_id=sid):
            return Fact(S.DRAFT, reason=_reason(reason, detail), details={"submission_id": sid})
        case SubmissionRejected(reason=reason, detail=detail, submission_id=sid):
            return Fact(S.DRAFT, reason=_reason(reason, detail), details={"submission_id": sid})
        case SubmissionAccepted(form_no=form_no, submission_id=sid):
            return Fact(S.PENDING_FIRST_REVIEW, form_no=form_no, details={"submission_id": sid})
        case ApplicationRevoked(reason=reason, form_no=form_no):
            return Fact(S.REVOKED, reason=reason or None, form_no=form_no)
        case ReviewResultReceived(stage=stage, result=result, opinion=o, form_no=form_no, license_no=lic):
            status = {
                ("first", "passed"): S.PENDING_SECOND_REVIEW,
                ("first", "rejected"): S.FIRST_REVIEW_REJECTED,
                ("second", "passed"): S.APPROVED,
                ("second", "rejected"): S.SECOND_REVIEW_REJECTED,
            }[(stage, result)]
            return Fact(
                status,
                opinion=o or None,
                reason=(o or None) if result == "rejected" else None,
                form_no=form_no,
                license_no=lic,
                details={"stage": stage, "result": result},
            )
        case LicenseIssued(form_no=form_no, license_no=lic, valid_until=valid_until):
            return Fact(
                S.LICENSE_ISSUED,
                form_no=form_no,
                license_no=lic,
                details={"valid_until": valid_until.isoformat()},
            )
        case CustomsStored(result=result, detail=detail, license_no=lic):
            return Fact(None, reason=detail or None, license_no=lic, customs_status=result)
        case ClearanceRecorded(license_no=lic, declaration_no=decl, quantity=q, port=port):
            return Fact(
                None, license_no=lic, details={"declaration_no": decl, "quantity": str(q), "port": port}
            )
        case ClearanceReversed(license_no=lic, declaration_no=decl, quantity=q, kind=kind):
            return Fact(
                None, license_no=lic, details={"declaration_no": decl, "quantity": str(q), "kind": kind}
            )
    return None


def status_after(event: Event) -> tuple[S, str | None] | None:
    """The status an event sets, with its reason (or review opinion); None if it sets none."""
    fact = describe(event)
    if fact is None or fact.status is None:
        return None
    return fact.status, fact.reason or fact.opinion


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


# Customs status is only known once a license exists (DOMAIN.md section 4): a customs event for
# an application we have not seen yet tells us it is at least approved.
STATUS_IMPLIED_BY_CUSTOMS = S.APPROVED


def webhook_type(event_type: str) -> str:
    """``SubmissionAccepted`` -> ``application.submission_accepted`` (Standard Webhooks type)."""
    return "application." + re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()
