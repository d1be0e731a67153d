"""Which status an event leads to, and what else it tells about the application, and whether
it moves the view. Pure; a late or duplicate event never moves the current status backwards.

The forward-only rule (:func:`decide`) works per submission. An application is submitted, then
signed, accepted, reviewed, issued; a failed submission (signing failed, MOFCOM refused) ends in
``draft``, a revoked or first-review-rejected one may be corrected and submitted again, as a new
submission (DOMAIN.md section 4). Topics are not ordered among themselves (ApplicationSubmitted
on ail.application, SigningFailed on ail.signer, MOFCOM's answers on ail.submission), so:

* an event of the submission the view shows moves it only forward along that submission
  (``submitting`` -> ``draft`` or ``pending_first_review`` -> reviews -> license), and never
  out of ``draft`` (that submission is over); its own late ApplicationSubmitted moves nothing;
* an event of another submission moves the view only if it happened after the view's
  submission was first seen (a new submission, whose predecessor's end may still be on its
  way); one that happened before is an earlier submission's late event and is history only.

Which submission an event belongs to: ``submission_id`` (submitted, signing failed, MOFCOM's
acceptance or refusal) or MOFCOM's ``form_no`` (reviews, revocation, license).

Time: :attr:`Fact.happened_at` is the authority's time of the event (MOFCOM's review time,
application date, revocation and issue times; customs' declaration time); history is ordered by
it. The forward rule compares the producers' event times (``occurred_at``), which follow cause
and effect across our services.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
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
from ail_shared.lifecycle import STATUS_RANK
from ail_shared.lifecycle import ApplicationStatus as S


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
    submission_id: str | None = None  # the submission it belongs to, when the event names it
    happened_at: datetime | None = None  # the authority's time; None: the event's own time


def _reason(reason: str, detail: str) -> str:
    return f"{reason}: {detail}" if detail else reason


def describe(event: Event) -> Fact | None:
    """The fact an event records; None for an event the status service does not track."""
    match event:
        case ApplicationSubmitted(serial_no=serial_no, submission_id=sid):
            return Fact(S.SUBMITTING, serial_no=serial_no, details={"submission_id": sid}, submission_id=sid)
        case SigningFailed(reason=reason, detail=detail, submission_id=sid):
            return Fact(
                S.DRAFT, reason=_reason(reason, detail), details={"submission_id": sid}, submission_id=sid
            )
        case SubmissionRejected(reason=reason, detail=detail, submission_id=sid):
            return Fact(
                S.DRAFT, reason=_reason(reason, detail), details={"submission_id": sid}, submission_id=sid
            )
        case SubmissionAccepted(form_no=form_no, submission_id=sid, applied_at=applied_at):
            return Fact(
                S.PENDING_FIRST_REVIEW,
                form_no=form_no,
                details={"submission_id": sid},
                submission_id=sid,
                happened_at=applied_at,
            )
        case ApplicationRevoked(reason=reason, form_no=form_no, revoked_at=revoked_at):
            return Fact(S.REVOKED, reason=reason or None, form_no=form_no, happened_at=revoked_at)
        case ReviewResultReceived(
            stage=stage, result=result, opinion=o, form_no=form_no, license_no=lic, reviewed_at=reviewed_at
        ):
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
                happened_at=reviewed_at,
            )
        case LicenseIssued(form_no=form_no, license_no=lic, valid_until=valid_until, issued_at=issued_at):
            return Fact(
                S.LICENSE_ISSUED,
                form_no=form_no,
                license_no=lic,
                details={"valid_until": valid_until.isoformat()},
                happened_at=issued_at,
            )
        case CustomsStored(result=result, detail=detail, license_no=lic):
            return Fact(None, reason=detail or None, license_no=lic, customs_status=result)
        case ClearanceRecorded(license_no=lic, declaration_no=decl, quantity=q, port=port, declared_at=at):
            return Fact(
                None,
                license_no=lic,
                details={"declaration_no": decl, "quantity": str(q), "port": port},
                happened_at=at,
            )
        case ClearanceReversed(license_no=lic, declaration_no=decl, quantity=q, kind=kind, reversed_at=at):
            return Fact(
                None,
                license_no=lic,
                details={"declaration_no": decl, "quantity": str(q), "kind": kind},
                happened_at=at,
            )
    return None


def status_after(event: Event) -> tuple[S, str | None] | None:
    """The status an event sets, with its reason (or review opinion); None if it sets none."""
    fact = describe(event)
    if fact is None or fact.status is None:
        return None
    return fact.status, fact.reason or fact.opinion


def _within(current: S, new: S) -> bool:
    """Along one submission: forward only, and nothing after its end in draft."""
    if current is S.DRAFT or new is S.SUBMITTING:
        return False  # a failed submission is over; its ApplicationSubmitted is its start
    if new is S.DRAFT:
        return current is S.SUBMITTING
    return STATUS_RANK[new] > STATUS_RANK[current]


# DOMAIN.md section 4: submit from draft (a failed submission), revoked, first_review_rejected;
# the view may still show the previous submission in flight when the new one is seen first.
OPEN_TO_RESUBMISSION = frozenset(
    {S.DRAFT, S.SUBMITTING, S.PENDING_FIRST_REVIEW, S.REVOKED, S.FIRST_REVIEW_REJECTED}
)


@dataclass(frozen=True)
class View:
    """What the forward rule needs of the current view."""

    status: S
    submission_id: str | None
    form_no: str | None
    submission_seen_at: datetime | None  # event time of the first event seen of that submission


@dataclass(frozen=True)
class Move:
    moves: bool
    new_submission: bool = False  # the view now shows another submission: its numbers restart


def _same_submission(view: View, fact: Fact) -> bool | None:
    if fact.submission_id is not None and view.submission_id is not None:
        return fact.submission_id == view.submission_id
    if fact.form_no is not None and view.form_no is not None:
        return fact.form_no == view.form_no
    return None  # cannot tell (the view has not seen that number yet)


def decide(view: View | None, fact: Fact, at: datetime) -> Move:
    """Does an event (with status) that happened at ``at`` (its event time) move the view?"""
    assert fact.status is not None
    if view is None:
        return Move(True, new_submission=True)
    same = _same_submission(view, fact)
    if same:
        return Move(_within(view.status, fact.status))
    if view.submission_seen_at is None:
        # a view implied by a customs event: an approved submission, which is never submitted
        # again; whatever else arrives can only be of it
        return Move(_within(view.status, fact.status))
    if at <= view.submission_seen_at:
        return Move(False)  # a late event of an earlier submission (or of this one, unnamed)
    if same is False or fact.status is S.SUBMITTING:
        # another, later submission: only after one that could be followed by a new one
        # (its end may still be on its way: submitting, pending_first_review)
        return Move(view.status in OPEN_TO_RESUBMISSION, new_submission=True)
    return Move(_within(view.status, fact.status))


# Customs status is only known once a license exists (DOMAIN.md section 4): a customs event for
# an application we have not seen yet tells us it is at least approved.
STATUS_IMPLIED_BY_CUSTOMS = S.APPROVED


def webhook_type(event_type: str) -> str:
    """``SubmissionAccepted`` -> ``application.submission_accepted`` (Standard Webhooks type)."""
    return "application." + re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()
