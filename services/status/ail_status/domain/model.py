"""The status projection: what a lifecycle event tells about an application, whether it moves
the view, and the history entry it leaves. Pure: no I/O, no clock.

The lifecycle itself (the statuses, the status a review result or a MOFCOM answer leads to, the
forward-only rule, which statuses allow a submission) is ``ail_shared.lifecycle``'s; what is the
projection's own is *which submission* an event belongs to and what it records in the history.

The forward-only rule (:func:`decide`) works per submission. An application is submitted, then
signed, accepted, reviewed, issued; a failed submission (signing failed, MOFCOM refused) ends in
``draft``, a revoked or first-review-rejected one may be corrected and submitted again, as a new
submission (DOMAIN.md section 4). Topics are not ordered among themselves (ApplicationSubmitted
on ail.application, SigningFailed on ail.signer, MOFCOM's answers on ail.submission), so:

* an event of the submission the view shows moves it only forward along that submission
  (``lifecycle.moves_forward``), and never out of ``draft`` (that submission is over); its own
  late ApplicationSubmitted moves nothing;
* an event of another submission moves the view only if it happened after the view's
  submission was first seen (a new submission, whose predecessor's end may still be on its
  way); one that happened before is an earlier submission's late event and is history only.

Which submission an event belongs to: ``submission_id`` (submitted, signing deferred or failed,
MOFCOM's acceptance or refusal) or MOFCOM's ``form_no`` (reviews, revocation, license).

Events that set no status (customs events, SigningDeferred) are history facts: listed, pushed,
and never a move; the first one of an application we have not seen implies a status (customs:
approved; a deferred signing: submitting).

Time: :attr:`Fact.happened_at` is the authority's time of the event (MOFCOM's review time,
application date, revocation and issue times; customs' declaration time); history is ordered by
it. The forward rule compares the producers' event times (``occurred_at``), which follow cause
and effect across our services.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    ClearanceRefused,
    ClearanceReversed,
    CustomsCancellationStored,
    CustomsStored,
    Event,
    LicenseCancelled,
    LicenseExpired,
    LicenseIssued,
    LicenseReissueRequested,
    LicenseReopened,
    LicenseSurrendered,
    LicenseUsedUp,
    ReviewResultReceived,
    SigningDeferred,
    SigningFailed,
    SubmissionAccepted,
    SubmissionDelayed,
    SubmissionRejected,
)
from ail_shared.licenses import LicenseState
from ail_shared.lifecycle import (
    AFTER_ACCEPTED,
    AFTER_FAILED,
    AFTER_ISSUED,
    AFTER_REVOKED,
    AFTER_SUBMITTED,
    ALLOWED,
    Action,
    event_reason,
    moves_forward,
    revoked_reason,
    status_after_review,
)
from ail_shared.lifecycle import ApplicationStatus as S

# Customs status is only known once a license exists (DOMAIN.md section 4): a customs event for
# an application we have not seen yet tells us it is at least approved.
STATUS_IMPLIED_BY_CUSTOMS = S.APPROVED
# A deferred signing is of a submission in flight (it waits for its e-key).
STATUS_IMPLIED_BY_DEFERRAL = AFTER_SUBMITTED

# Statuses after which a new submission may come: those that allow a submission, and those the
# view may still show while the previous submission's end (one forward step to such a status:
# signing failed, revoked, first review rejected) is on its way.
OPEN_TO_RESUBMISSION = frozenset(
    s for s in S if s in ALLOWED[Action.SUBMIT] or any(moves_forward(s, t) for t in ALLOWED[Action.SUBMIT])
)


@dataclass(frozen=True)
class Fact:
    """What one lifecycle event says about an application."""

    status: S | None  # the status it sets; None for a history fact (customs, deferred signing)
    reason: str | None = None
    opinion: str | None = None
    serial_no: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    customs_status: str | None = None
    license_state: str | None = None  # the license's state after it (ail_shared.licenses)
    details: dict[str, Any] = field(default_factory=dict)
    submission_id: str | None = None  # the submission it belongs to, when the event names it
    happened_at: datetime | None = None  # the authority's time; None: the event's own time
    implies: S | None = None  # a history fact: the status it implies of an unseen application


def describe(event: Event) -> Fact | None:
    """The fact an event records; None for an event the status service does not track."""
    match event:
        case ApplicationSubmitted(serial_no=serial_no, submission_id=sid):
            return Fact(
                AFTER_SUBMITTED, serial_no=serial_no, details={"submission_id": sid}, submission_id=sid
            )
        case SigningDeferred(reason=reason, detail=detail, submission_id=sid, ekey_serial=serial):
            give_up_at = event.give_up_at.isoformat() if event.give_up_at else None
            return Fact(
                None,
                reason=event_reason(reason, detail),
                details={"submission_id": sid, "ekey_serial": serial, "give_up_at": give_up_at},
                submission_id=sid,
                implies=STATUS_IMPLIED_BY_DEFERRAL,
            )
        case SubmissionDelayed(reason=reason, detail=detail, submission_id=sid, attempt=attempt):
            # MOFCOM does not answer (issue 13, item 9): listed and pushed; while the view shows
            # that submission in flight, its status reason says so (as for a deferred signing).
            return Fact(
                None,
                reason=event_reason(reason, detail),
                details={
                    "submission_id": sid,
                    "attempt": attempt,
                    "next_attempt_at": event.next_attempt_at.isoformat(),
                },
                submission_id=sid,
                implies=STATUS_IMPLIED_BY_DEFERRAL,
            )
        case SigningFailed(reason=reason, detail=detail, submission_id=sid):
            return Fact(
                AFTER_FAILED,
                reason=event_reason(reason, detail),
                details={"submission_id": sid},
                submission_id=sid,
            )
        case SubmissionRejected(reason=reason, detail=detail, submission_id=sid):
            return Fact(
                AFTER_FAILED,
                reason=event_reason(reason, detail),
                details={"submission_id": sid},
                submission_id=sid,
            )
        case SubmissionAccepted(form_no=form_no, submission_id=sid, applied_at=applied_at):
            return Fact(
                AFTER_ACCEPTED,
                form_no=form_no,
                details={"submission_id": sid},
                submission_id=sid,
                happened_at=applied_at,
            )
        case ApplicationRevoked(reason=reason, form_no=form_no, revoked_at=revoked_at):
            return Fact(
                AFTER_REVOKED,
                reason=revoked_reason(reason),
                form_no=form_no,
                details={"revoke_reason": reason} if reason and reason != "applicant" else {},
                happened_at=revoked_at,
            )
        case ReviewResultReceived(
            stage=stage, result=result, opinion=o, form_no=form_no, license_no=lic, reviewed_at=reviewed_at
        ):
            return Fact(
                status_after_review(stage, result),
                opinion=o or None,
                reason=(o or None) if result == "rejected" else None,
                form_no=form_no,
                license_no=lic,
                details={"stage": stage, "result": result},
                happened_at=reviewed_at,
            )
        case LicenseIssued(form_no=form_no, license_no=lic, valid_until=valid_until, issued_at=issued_at):
            return Fact(
                AFTER_ISSUED,
                form_no=form_no,
                license_no=lic,
                details={"valid_until": valid_until.isoformat()},
                happened_at=issued_at,
            )
        case CustomsStored(result=result, detail=detail, license_no=lic):
            return Fact(
                None,
                reason=detail or None,
                license_no=lic,
                customs_status=result,
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
        case ClearanceRecorded(license_no=lic, declaration_no=decl, quantity=q, port=port, declared_at=at):
            return Fact(
                None,
                license_no=lic,
                details={"declaration_no": decl, "quantity": str(q), "port": port},
                happened_at=at,
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
        case ClearanceReversed(license_no=lic, declaration_no=decl, quantity=q, kind=kind, reversed_at=at):
            return Fact(
                None,
                license_no=lic,
                details={"declaration_no": decl, "quantity": str(q), "kind": kind},
                happened_at=at,
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
        # The license after issue (ail_shared.licenses): history facts, pushed like the rest.
        case LicenseUsedUp(license_no=lic, used_quantity=q, uses=uses, used_up_at=at):
            return _license_fact(lic, "used_up", at, {"used_quantity": str(q), "uses": uses})
        case LicenseReopened(license_no=lic, declaration_no=decl, used_quantity=q, uses=uses, reopened_at=at):
            details = {"declaration_no": decl, "used_quantity": str(q), "uses": uses}
            return _license_fact(lic, "valid", at, details)
        case LicenseSurrendered(license_no=lic, reason=why, unused_quantity=q, surrendered_at=at):
            return _license_fact(lic, "surrendered", at, {"reason": why, "unused_quantity": str(q)}, why)
        case LicenseCancelled(
            license_no=lic, reason=why, detail=detail, replaced_by=new, unused_quantity=q, cancelled_at=at
        ):
            details = {"reason": why, "detail": detail, "replaced_by": new, "unused_quantity": str(q)}
            return _license_fact(lic, "cancelled", at, details, detail or why)
        case LicenseExpired(license_no=lic, valid_until=until, unused_quantity=q, expired_at=at):
            return _license_fact(
                lic, "expired", at, {"valid_until": until.isoformat(), "unused_quantity": str(q)}
            )
        case LicenseReissueRequested(
            license_no=lic, new_application_id=new, quantity=q, uses=uses, requested_at=at
        ):
            return Fact(
                None,
                license_no=lic,
                details={"new_application_id": new, "max_quantity": str(q), "max_uses": uses},
                happened_at=at,
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
        case CustomsCancellationStored(license_no=lic, result=result, detail=detail):
            return Fact(
                None,
                reason=detail or None,
                license_no=lic,
                details={"cancellation_at_customs": result},
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
        case ClearanceRefused(
            license_no=lic, declaration_no=decl, quantity=q, reason=reason, detail=detail, declared_at=at
        ):
            # A declaration the license ledger could not cover (issue 13, item 13): the applicant
            # learns it from the history, the webhook and the stream, as a cleared one.
            return Fact(
                None,
                reason=event_reason(reason, detail),
                license_no=lic,
                details={"declaration_no": decl, "quantity": str(q), "refusal": reason},
                happened_at=at,
                implies=STATUS_IMPLIED_BY_CUSTOMS,
            )
    return None


def _license_fact(
    license_no: str, state: str, at: datetime, details: dict[str, Any], reason: str | None = None
) -> Fact:
    return Fact(
        None,
        reason=reason or None,
        license_no=license_no,
        license_state=state,
        details={"license_state": state, **details},
        happened_at=at,
        implies=STATUS_IMPLIED_BY_CUSTOMS,
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
    """Does an event that happened at ``at`` (its event time) move the view? A history fact
    (no status) moves only a view that does not exist yet, to the status it implies."""
    if fact.status is None:
        if view is None and fact.implies is not None:
            return Move(True, new_submission=fact.submission_id is not None)
        return Move(False)
    if view is None:
        return Move(True, new_submission=True)
    same = _same_submission(view, fact)
    if same:
        return Move(moves_forward(view.status, fact.status))
    if view.submission_seen_at is None:
        # a view implied by a customs event: an approved submission, which is never submitted
        # again; whatever else arrives can only be of it
        return Move(moves_forward(view.status, fact.status))
    if at <= view.submission_seen_at:
        return Move(False)  # a late event of an earlier submission (or of this one, unnamed)
    if same is False or fact.status is S.SUBMITTING:
        # another, later submission: only after one that could be followed by a new one
        # (its end may still be on its way: submitting, pending_first_review)
        return Move(view.status in OPEN_TO_RESUBMISSION, new_submission=True)
    return Move(moves_forward(view.status, fact.status))


@dataclass(frozen=True)
class ApplicationView:
    """The lifecycle view of one application (a row of ``status.applications``)."""

    application_id: str
    enterprise_code: str
    status: S
    serial_no: str | None = None
    status_reason: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    customs_status: str | None = None
    # The license's state as the customs service last announced it; None: no announcement yet
    # (an issued license starts valid: ``license_state_now``).
    license_state: str | None = None
    last_event_id: UUID | None = None
    last_event_type: str | None = None
    updated_at: datetime | None = None
    submission_id: str | None = None  # the submission the view shows (the forward rule's memory)
    submission_seen_at: datetime | None = None  # and since when

    @property
    def license_state_now(self) -> str | None:
        return license_state_now(self.status, self.license_state)

    def forward_view(self) -> View:
        return View(self.status, self.submission_id, self.form_no, self.submission_seen_at)


@dataclass(frozen=True)
class EventRef:
    """The envelope facts of the event being applied."""

    application_id: str
    enterprise_code: str
    event_id: UUID
    event_type: str
    occurred_at: datetime  # the producer's event time (the forward rule's clock)


@dataclass(frozen=True)
class Change:
    """What one event records: the view after it, and its history entry (also the live
    stream's event and the webhook's data; the enterprise's ``sequence`` is added when logged)."""

    view: ApplicationView
    previous: ApplicationView | None
    new_submission: bool  # the view now shows another submission (see ``Move``)
    moved: bool
    status: S | None  # the status the event sets (None: a history fact)
    occurred_at: datetime  # when it happened (the authority's time); history is in this order
    entry: dict[str, Any]

    @property
    def event_id(self) -> UUID:
        return UUID(self.entry["event"]["id"])

    @property
    def event_type(self) -> str:
        return str(self.entry["event"]["type"])


class TenantMismatch(Exception):
    """An event names another enterprise than the application's view: it can never be applied."""


def license_state_now(status: S | str, announced: str | None) -> str | None:
    """The license's state shown with the view: what the customs service last announced, and
    ``valid`` for an issued license it has announced nothing of yet (every license starts valid)."""
    if announced is not None:
        return announced
    return LicenseState.VALID.value if S(status) is S.LICENSE_ISSUED else None


def apply(view: ApplicationView | None, fact: Fact, ref: EventRef) -> Change:
    """The change ``fact`` (of the event ``ref``) makes to ``view``: the forward rule decides
    whether the status moves; either way the event is recorded in the history."""
    if view is not None and view.enterprise_code != ref.enterprise_code:
        raise TenantMismatch(
            f"application {ref.application_id} belongs to {view.enterprise_code},"
            f" event says {ref.enterprise_code}"
        )
    move = decide(view.forward_view() if view is not None else None, fact, ref.occurred_at)
    # Another submission that does not move the view (a stray one after the second review)
    # leaves the view's submission and numbers as they are.
    moved, new = move.moves, move.moves and move.new_submission
    current = (fact.status or fact.implies) if moved else (view.status if view else None)
    if current is None:
        raise ValueError(f"{ref.event_type} sets no status and implies none for an unseen application")
    # History is in the authority's order: MOFCOM's review, application, revocation and issue
    # times, customs' declaration times; the event's own time for our steps.
    happened_at = fact.happened_at or ref.occurred_at
    # A status event that does not move leaves the view's numbers alone (they may be of a later
    # submission); history facts carry the license's (customs) numbers.
    carries = moved or fact.status is None
    form_no = fact.form_no if carries else None
    license_no = fact.license_no if carries else None
    kept = view if (view is not None and not moved) else None  # the view keeps its reason and last event
    reason = kept.status_reason if kept is not None else (fact.reason or fact.opinion)
    if (
        kept is not None
        and fact.status is None
        and fact.submission_id is not None
        and kept.status is S.SUBMITTING
        and kept.submission_id == fact.submission_id
    ):
        # a deferred signing of the submission in flight: the view says why it waits
        reason = fact.reason
    old = view
    new_view = ApplicationView(
        application_id=ref.application_id,
        enterprise_code=ref.enterprise_code,
        status=current,
        serial_no=fact.serial_no or (old.serial_no if old else None),
        status_reason=reason,
        form_no=form_no if new or old is None else (form_no or old.form_no),
        license_no=license_no if new or old is None else (license_no or old.license_no),
        customs_status=(
            fact.customs_status if new or old is None else (fact.customs_status or old.customs_status)
        ),
        # The license events of one application come in order on one partition (ail.customs).
        license_state=(
            fact.license_state if new or old is None else (fact.license_state or old.license_state)
        ),
        last_event_id=kept.last_event_id if kept is not None else ref.event_id,
        last_event_type=kept.last_event_type if kept is not None else ref.event_type,
        updated_at=kept.updated_at if kept is not None else happened_at,
        submission_id=(
            fact.submission_id
            if new or old is None
            else (old.submission_id or (fact.submission_id if moved else None))
        ),
        submission_seen_at=ref.occurred_at if new else (old.submission_seen_at if old else None),
    )
    entry: dict[str, Any] = {
        "application_id": ref.application_id,
        "enterprise_code": ref.enterprise_code,
        "serial_no": new_view.serial_no,
        "status": fact.status.value if fact.status else None,
        "previous_status": view.status.value if view else None,
        "current_status": current.value,
        "customs_status": fact.customs_status,
        "occurred_at": happened_at.isoformat(),
        "event": {"id": str(ref.event_id), "type": ref.event_type},
        "reason": fact.reason,
        "opinion": fact.opinion,
        "form_no": fact.form_no,
        "license_no": fact.license_no,
        "details": fact.details,
    }
    return Change(
        view=new_view,
        previous=view,
        new_submission=new,
        moved=moved,
        status=fact.status,
        occurred_at=happened_at,
        entry=entry,
    )


def webhook_type(event_type: str) -> str:
    """``SubmissionAccepted`` -> ``application.submission_accepted`` (Standard Webhooks type)."""
    return "application." + re.sub(r"(?<!^)(?=[A-Z])", "_", event_type).lower()


# The lifecycle events the service records, lists and pushes (one use case for all of them:
# ``service_layer/handlers.py``'s EVENT_HANDLERS); ``describe`` says what each records.
LIFECYCLE_EVENTS: tuple[type[Event], ...] = (
    ApplicationSubmitted,
    SigningDeferred,
    SigningFailed,
    SubmissionDelayed,
    SubmissionRejected,
    SubmissionAccepted,
    ApplicationRevoked,
    ReviewResultReceived,
    LicenseIssued,
    CustomsStored,
    ClearanceRecorded,
    ClearanceReversed,
    LicenseUsedUp,
    LicenseSurrendered,
    LicenseCancelled,
    LicenseExpired,
    LicenseReissueRequested,
    CustomsCancellationStored,
    ClearanceRefused,
    LicenseReopened,
)

# The webhook types a subscription may choose (``event_types``): one per lifecycle event, in the
# order above. A new lifecycle event is a new type here by itself.
WEBHOOK_TYPES: tuple[str, ...] = tuple(webhook_type(e.__name__) for e in LIFECYCLE_EVENTS)


@dataclass(frozen=True)
class OperationsAction:
    """What operations did with a dead-lettered message of an application (redrive or skip):
    who, when, why, and which message (its place in the dead-letter topic, its event)."""

    application_id: str
    enterprise_code: str
    action: str  # redrive | skip
    actor: str
    at: datetime
    reason: str
    topic: str  # the dead-letter topic
    partition: int
    offset: int
    source_topic: str
    event_id: str | None
    event_type: str | None


def with_operations_actions(
    entries: list[dict[str, Any]], actions: list[OperationsAction]
) -> list[dict[str, Any]]:
    """The history with each operations action placed where it happened: after the entries that
    happened by then (entries in history order, actions in the order made). An action sets no
    status: its entry carries the status the application had (the entry before it), ``event`` is
    the message it acted on and ``operations`` says who did what, when and why."""
    out: list[dict[str, Any]] = []
    pending = sorted(actions, key=lambda a: a.at)
    for entry in entries:
        happened = _instant(entry.get("occurred_at"))
        while pending and happened is not None and pending[0].at < happened:
            out.append(_operations_entry(pending.pop(0), out[-1] if out else None))
        out.append(entry)
    while pending:
        out.append(_operations_entry(pending.pop(0), out[-1] if out else None))
    return out


def _instant(raw: Any) -> datetime | None:
    """An entry's ``occurred_at`` (ISO 8601; UTC when it names no offset), or None when it has
    none (an entry of an older version may lack it: it does not place an action)."""
    try:
        at = datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except ValueError:
        return None
    return at.replace(tzinfo=UTC) if at is not None and at.tzinfo is None else at


def _operations_entry(a: OperationsAction, before: dict[str, Any] | None) -> dict[str, Any]:
    status = before.get("current_status") if before else None
    return {
        "application_id": a.application_id,
        "enterprise_code": a.enterprise_code,
        "serial_no": before.get("serial_no") if before else None,
        "status": None,
        "previous_status": status,
        "current_status": status,
        "customs_status": None,
        "occurred_at": a.at.isoformat(),
        "recorded_at": a.at,
        "event": {"id": a.event_id, "type": a.event_type} if a.event_id and a.event_type else None,
        "reason": a.reason,
        "opinion": None,
        "form_no": None,
        "license_no": None,
        "details": None,
        "operations": {
            "action": a.action,
            "actor": a.actor,
            "at": a.at,
            "reason": a.reason,
            "dead_letter_topic": a.topic,
            "partition": a.partition,
            "offset": a.offset,
            "source_topic": a.source_topic,
        },
    }
