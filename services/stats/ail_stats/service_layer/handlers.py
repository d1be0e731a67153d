"""What an event adds to the statistics (the fold), one handler per event type, found by type in
``EVENT_HANDLERS`` (the agent in ``entrypoints/consumers.py`` looks them up).

Each handler takes the unit of work (the two tables at the event's source position), the typed
event and its envelope, and returns what became of the event: ``counted``, ``duplicate`` (another
approval of an application already counted), ``already_folded`` (this very message, redelivered
after a crash) or ``ignored`` (not an approval). An event that can never be counted raises
``NotCountable`` (the agent sends it to the dead-letter topic). Unit tests:
``tests/unit/stats/test_handlers.py`` with in-memory tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from ail_shared.events import Envelope, Event, ReviewResultReceived
from ail_stats.domain.figures import contribution, decide, figure_key, is_approval
from ail_stats.service_layer.unit_of_work import UnitOfWork

Outcome = Literal["counted", "duplicate", "already_folded", "ignored"]
Handler = Callable[[UnitOfWork, Any, Envelope], Awaitable[Outcome]]


async def on_review_result(uow: UnitOfWork, event: ReviewResultReceived, env: Envelope) -> Outcome:
    """An approval adds its application's quantity, amount and one count to its figure, once."""
    if not is_approval(event):
        return "ignored"
    c = contribution(env.aggregate_id, event)
    async with uow:
        key = figure_key(uow.partition, c)
        d = decide(
            c,
            partition=uow.partition,
            offset=uow.offset,
            seen=uow.approvals.get(c.application_id),
            figure=uow.figures.get(key),
        )
        # Both writes go to changelog partition ``uow.partition``, before this event is acked.
        if d.figure_record is not None:
            uow.figures.put(key, d.figure_record)
        if d.approval_record is not None:
            uow.approvals.put(c.application_id, d.approval_record)
    return d.outcome


EVENT_HANDLERS: Mapping[type[Event], Handler] = {
    ReviewResultReceived: on_review_result,
}
