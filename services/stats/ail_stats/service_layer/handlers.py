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

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Literal, Protocol

from ail_shared.events import Envelope, Event, ReviewResultReceived
from ail_stats.domain.figures import (
    Gathered,
    Shard,
    contribution,
    decide,
    figure_key,
    is_approval,
    merge_shards,
)
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


# ------------------------------------------------------------- the query, over replicas


class Tables(Protocol):
    """What the query needs of this worker (``adapters.faust_app.StatsApp``)."""

    partitions: int

    def held_partitions(self) -> frozenset[int]: ...

    def local_shard(self, enterprises: Sequence[str], year: str) -> Shard: ...


class Peers(Protocol):
    async def shards(self, enterprises: Sequence[str], year: str) -> list[Shard]: ...


async def gather_figures(
    tables: Tables, peers: Peers | None, enterprises: Sequence[str], year: str
) -> Gathered:
    """The figures of ENTERPRISES in YEAR over every partition: this worker's shard and, with
    several replicas (issue 16), the others' (``merge_shards``). ``missing`` names partitions no
    replica answered for (one is recovering or down): the caller answers 503, never a short sum."""
    shards = [tables.local_shard(enterprises, year)]
    if peers is not None and len(shards[0].partitions) < tables.partitions:
        shards += await peers.shards(enterprises, year)
    return merge_shards(shards, tables.partitions)
