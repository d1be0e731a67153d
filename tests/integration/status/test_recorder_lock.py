"""The webhook recorder does not wait for the lifecycle consumer: while the consumer's
transaction (a whole poll) holds an application's row, the recorder's lock skips that row and
takes the others at once (adapters/subscriptions.py: the queue is freed again later)."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg

from ail_status.adapters.subscriptions import SubscriptionRepository


async def _application(conn: asyncpg.Connection, enterprise: str) -> str:
    app_id = f"lock-test-{uuid.uuid4()}"
    await conn.execute(
        "INSERT INTO status.applications (application_id, enterprise_code, status, last_event_id,"
        " last_event_type, updated_at) VALUES ($1, $2, 'submitting', $3, 'SubmissionAccepted', now())",
        app_id,
        enterprise,
        uuid.uuid4(),
    )
    return app_id


async def test_the_recorders_lock_skips_an_application_the_consumer_holds(db: asyncpg.Pool) -> None:
    # Old code: FOR KEY SHARE without SKIP LOCKED waited here until the holder committed.
    enterprise = "97" + uuid.uuid4().hex[:11]
    async with db.acquire() as setup:
        held, free = await _application(setup, enterprise), await _application(setup, enterprise)
    try:
        async with db.acquire() as consumer, consumer.transaction():
            # what the consumer does for each event of its poll (StatusRepository.current)
            await consumer.execute(
                "SELECT 1 FROM status.applications WHERE application_id = $1 FOR UPDATE", held
            )
            async with db.acquire() as recorder, recorder.transaction():
                locked = await asyncio.wait_for(
                    SubscriptionRepository(recorder).lock_applications(application_ids=[held, free]), 5
                )
        assert locked == {free}
        async with db.acquire() as recorder, recorder.transaction():
            # the consumer committed: the next pass takes it
            assert await SubscriptionRepository(recorder).lock_applications(application_ids=[held]) == {held}
    finally:
        async with db.acquire() as conn:
            await conn.execute(
                "DELETE FROM status.applications WHERE application_id = ANY($1::text[])", [held, free]
            )
