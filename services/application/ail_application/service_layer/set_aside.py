"""What the application service does when the outbox relay sets one of its events aside (the
broker refused it for good, e.g. an ``ApplicationSubmitted`` larger than the broker's limit).

Called by the relay inside the transaction that sets the row aside (``OutboxRelay(on_set_aside=)``),
so the application never stays in ``submitting`` for an event nobody will receive: it goes back to
``draft`` with a reason that says what to correct, and can be edited and submitted again."""

from __future__ import annotations

from uuid import UUID

import asyncpg

from ail_application.adapters.repository import SCHEMA
from ail_shared.errors import EventError
from ail_shared.events import ApplicationSubmitted, decode_envelope, parse_payload
from ail_shared.kafka import MAX_MESSAGE_BYTES
from ail_shared.lifecycle import ApplicationStatus as S
from ail_shared.logging import get_logger
from ail_shared.outbox import SetAside

log = get_logger("ail.application.set_aside")


def reason_for(item: SetAside) -> str:
    """``<code>: <what happened and what to do>``, shown as the application's ``status_reason``."""
    if item.code == "message_too_large":
        return (
            f"submission_too_large: the submitted form is {len(item.value)} bytes as an event,"
            f" more than the {MAX_MESSAGE_BYTES} bytes the platform can carry; shorten the"
            " longest text fields (e.g. remarks) or move goods lines to another application,"
            " then submit again"
        )
    return (
        f"submission_not_published: the submission could not be handed on ({item.reason});"
        " check the application and submit again, or ask operations if it happens again"
    )


async def on_event_set_aside(conn: asyncpg.Connection, item: SetAside) -> None:
    if item.event_type != "ApplicationSubmitted":
        log.error("set_aside_event_not_handled", event_type=item.event_type, outbox_id=item.id)
        return
    try:
        event = parse_payload(decode_envelope(item.value))
    except EventError as exc:
        log.error("set_aside_event_undecodable", outbox_id=item.id, error=exc.message)
        return
    assert isinstance(event, ApplicationSubmitted)
    app_id = UUID(event.application_id)
    row = await conn.fetchrow(
        f"SELECT status, submission_id FROM {SCHEMA}.applications WHERE id = $1 FOR UPDATE", app_id
    )
    if row is None or row["status"] != S.SUBMITTING or str(row["submission_id"]) != event.submission_id:
        return  # deleted, or already moved on: nothing to undo
    reason = reason_for(item)
    await conn.execute(
        f"UPDATE {SCHEMA}.applications SET status = $2, status_reason = $3, version = version + 1,"
        " updated_at = now() WHERE id = $1",
        app_id,
        S.DRAFT.value,
        reason,
    )
    log.error(
        "submission_set_aside",
        application_id=event.application_id,
        submission_id=event.submission_id,
        code=item.code,
        reason=reason,
    )
