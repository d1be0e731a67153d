"""Event handlers of the status service (run inside the consumer's transaction)."""

from __future__ import annotations

import asyncpg

from ail_shared.events import Envelope, Event
from ail_shared.vocabulary import ApplicationStatus
from ail_status.adapters.repository import StatusRepository
from ail_status.domain.lifecycle import may_move, status_after


async def apply_lifecycle_event(conn: asyncpg.Connection, env: Envelope, event: Event) -> None:
    change = status_after(event)
    if change is None:
        return
    new_status, reason = change
    repo = StatusRepository(conn)
    row = await repo.current(env.aggregate_id)
    current = ApplicationStatus(row["status"]) if row else None
    if not may_move(current, new_status):
        return
    await repo.upsert(
        application_id=env.aggregate_id,
        enterprise_code=env.tenant,
        serial_no=getattr(event, "serial_no", None),
        status=new_status.value,
        status_reason=reason,
        form_no=getattr(event, "form_no", None),
        license_no=getattr(event, "license_no", None),
        last_event_id=env.event_id,
        last_event_type=env.event_type,
        updated_at=env.occurred_at,
    )


LIFECYCLE_EVENTS = (
    "ApplicationSubmitted",
    "SigningFailed",
    "SubmissionRejected",
    "SubmissionAccepted",
    "ApplicationRevoked",
    "ReviewResultReceived",
    "LicenseIssued",
)
EVENT_HANDLERS = dict.fromkeys(LIFECYCLE_EVENTS, apply_lifecycle_event)
