"""What the application service does when the outbox relay sets one of its events aside (the
broker refused it for good, e.g. an ``ApplicationSubmitted`` larger than the broker's limit).

Called by the relay inside the transaction that sets the row aside (``OutboxRelay(on_set_aside=)``),
so the application never stays in ``submitting`` for an event nobody will receive: it goes back to
``draft`` with a reason that says what to correct, and can be edited and submitted again."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from uuid import UUID

import asyncpg

from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.errors import EventError
from ail_shared.events import ApplicationSubmitted, Event, decode_envelope, parse_payload
from ail_shared.kafka import MAX_MESSAGE_BYTES
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


async def on_submitted_set_aside(uow: UnitOfWork, event: ApplicationSubmitted, item: SetAside) -> None:
    """The submission will never reach anyone: back to draft with what to correct."""
    reason = reason_for(item)
    async with uow:
        app = await uow.applications.find(application_id=UUID(event.application_id))
        if app is None or not app.submission_failed(submission_id=event.submission_id, reason=reason):
            return  # deleted, or already moved on: nothing to undo
        await uow.applications.save(application=app)
    log.error(
        "submission_set_aside",
        application_id=event.application_id,
        submission_id=event.submission_id,
        code=item.code,
        reason=reason,
    )


SetAsideHandler = Callable[[UnitOfWork, Any, SetAside], Awaitable[None]]

# What a set-aside event of ours does, by type; other events are only logged.
SET_ASIDE_HANDLERS: Mapping[type[Event], SetAsideHandler] = {ApplicationSubmitted: on_submitted_set_aside}


async def on_event_set_aside(conn: asyncpg.Connection, item: SetAside) -> None:
    """The relay's hook (``OutboxRelay(on_set_aside=)``), in the transaction that sets the row aside."""
    try:
        event = parse_payload(decode_envelope(item.value))
    except EventError as exc:
        log.error(
            "set_aside_event_undecodable", outbox_id=item.id, event_type=item.event_type, error=exc.message
        )
        return
    handler = SET_ASIDE_HANDLERS.get(type(event))
    if handler is None:
        log.error("set_aside_event_not_handled", event_type=item.event_type, outbox_id=item.id)
        return
    await handler(UnitOfWork(conn), event, item)
