"""Inbox: record the ids of applied events in the consumer's own transaction."""

from __future__ import annotations

from collections.abc import Sequence
from uuid import UUID

import asyncpg


async def claim(
    conn: asyncpg.Connection, *, schema: str, consumer: str, event_id: UUID, event_type: str
) -> bool:
    """True if this event is new for this consumer (and is now recorded), False if seen before.

    Call inside the transaction that applies the event: if that transaction rolls back, the
    claim goes with it and a redelivery applies the event again.
    """
    row = await conn.fetchval(
        f"INSERT INTO {schema}.inbox (consumer, event_id, event_type) VALUES ($1, $2, $3)"
        " ON CONFLICT DO NOTHING RETURNING 1",
        consumer,
        event_id,
        event_type,
    )
    return row is not None


async def claim_many(
    conn: asyncpg.Connection, *, schema: str, consumer: str, events: Sequence[tuple[UUID, str]]
) -> set[UUID]:
    """The ids among ``events`` (event id, event type) that are new for this consumer, all now
    recorded: ``claim`` for a whole batch in one statement (one round trip, issue 16). Same rule:
    inside the transaction that applies them. An id twice in ``events`` is claimed once (the
    caller applies its first occurrence only)."""
    if not events:
        return set()
    rows = await conn.fetch(
        f"INSERT INTO {schema}.inbox (consumer, event_id, event_type)"
        " SELECT $1, e.id, e.type FROM unnest($2::uuid[], $3::text[]) AS e(id, type)"
        " ON CONFLICT DO NOTHING RETURNING event_id",
        consumer,
        [event_id for event_id, _ in events],
        [event_type for _, event_type in events],
    )
    return {r["event_id"] for r in rows}
