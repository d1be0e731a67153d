"""Event handlers of the status service (run inside the consumer's transaction, together with
the inbox record): update the lifecycle view, append to the change log, queue webhook
deliveries. The NOTIFYs go out when the transaction commits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from ail_shared.consumer import PermanentError
from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSubmitted,
    ClearanceRecorded,
    ClearanceReversed,
    CustomsStored,
    Envelope,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SigningFailed,
    SubmissionAccepted,
    SubmissionRejected,
)
from ail_shared.lifecycle import ApplicationStatus
from ail_status.adapters.repository import StatusRepository
from ail_status.domain.lifecycle import STATUS_IMPLIED_BY_CUSTOMS, Move, View, decide, describe

Handler = Callable[[asyncpg.Connection, Envelope, Event], Awaitable[None]]


def lifecycle_handler(*, default_retry_period: int) -> Handler:
    async def apply_lifecycle_event(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
        await apply_event(conn, env, event, default_retry_period=default_retry_period)

    return apply_lifecycle_event


async def apply_event(
    conn: asyncpg.Connection, env: Envelope, event: Event, *, default_retry_period: int
) -> None:
    fact = describe(event)
    if fact is None:
        return
    repo = StatusRepository(conn)
    row = await repo.current(env.aggregate_id)
    if row is not None and row["enterprise_code"] != env.tenant:
        raise PermanentError(
            f"application {env.aggregate_id} belongs to {row['enterprise_code']}, event says {env.tenant}"
        )
    previous = ApplicationStatus(row["status"]) if row else None
    view = (
        View(previous, row["submission_id"], row["form_no"], row["submission_seen_at"])
        if row is not None and previous is not None
        else None
    )
    current = previous
    move = Move(False)
    if fact.status is not None:
        move = decide(view, fact, env.occurred_at)
        if move.moves:
            current = fact.status
    elif current is None:
        # seen_at stays unknown: see lifecycle.decide
        current, move = STATUS_IMPLIED_BY_CUSTOMS, Move(True)
    moved = move.moves
    assert current is not None
    # History is in the authority's order: MOFCOM's review, application, revocation and issue
    # times, customs' declaration times; the event's own time for our steps.
    happened_at = fact.happened_at or env.occurred_at
    payload: dict[str, Any] = {
        "application_id": env.aggregate_id,
        "enterprise_code": env.tenant,
        "serial_no": fact.serial_no or (row["serial_no"] if row else None),
        "status": fact.status.value if fact.status else None,
        "previous_status": previous.value if previous else None,
        "current_status": current.value,
        "customs_status": fact.customs_status,
        "occurred_at": happened_at.isoformat(),
        "event": {"id": str(env.event_id), "type": env.event_type},
        "reason": fact.reason,
        "opinion": fact.opinion,
        "form_no": fact.form_no,
        "license_no": fact.license_no,
        "details": fact.details,
    }  # + "sequence", the enterprise's change number, added as the change is logged
    carries = moved or fact.status is None
    kept = row if not moved else None  # the view keeps its reason and last event
    await repo.record(
        application={
            "application_id": env.aggregate_id,
            "enterprise_code": env.tenant,
            "serial_no": fact.serial_no,
            "status": current.value,
            "status_reason": kept["status_reason"] if kept is not None else (fact.reason or fact.opinion),
            # a late status event leaves the view's numbers alone (they may be of a later
            # submission); customs events carry the license's
            "form_no": fact.form_no if carries else None,
            "license_no": fact.license_no if carries else None,
            "customs_status": fact.customs_status,
            "last_event_id": kept["last_event_id"] if kept is not None else env.event_id,
            "last_event_type": kept["last_event_type"] if kept is not None else env.event_type,
            "updated_at": kept["updated_at"] if kept is not None else happened_at,
            # which submission the view shows, and since when (the forward rule's memory)
            "submission_id": fact.submission_id if moved else None,
            "submission_seen_at": env.occurred_at if move.new_submission else None,
            "new_submission": move.new_submission,
        },
        event_id=env.event_id,
        event_type=env.event_type,
        occurred_at=happened_at,
        status=payload["status"],
        current_status=current.value,
        payload=payload,
        default_retry_period=default_retry_period,
    )


LIFECYCLE_EVENTS: tuple[type[Event], ...] = (
    ApplicationSubmitted,
    SigningFailed,
    SubmissionRejected,
    SubmissionAccepted,
    ApplicationRevoked,
    ReviewResultReceived,
    LicenseIssued,
    CustomsStored,
    ClearanceRecorded,
    ClearanceReversed,
)


def event_handlers(*, default_retry_period: int) -> dict[type[Event], Handler]:
    handler = lifecycle_handler(default_retry_period=default_retry_period)
    return dict.fromkeys(LIFECYCLE_EVENTS, handler)
