"""Inbox: record the ids of applied events in the consumer's own transaction."""

from __future__ import annotations

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
