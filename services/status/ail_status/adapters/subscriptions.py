"""Subscriptions, deliveries and their attempts.

A delivery is claimed by one worker at a time with ``FOR UPDATE SKIP LOCKED`` and a lease
(``leased_until``), so several replicas share the work and a crashed worker's deliveries are
taken over when the lease runs out. ``attempts`` is the fencing token: a worker only records
the outcome of the attempt it claimed. Order per (subscription, application): a delivery is
claimable only while no earlier delivery of the same pair is pending.

Parking: a delivery queued behind a pending one gets ``next_attempt_at = infinity``, so the claim
(an index range scan over due deliveries) never walks a backlog of waiting ones. Whoever
finishes a delivery (delivered, failed) sets the next one of its pair due. The consumer holds
the application's row in ``applications`` (FOR UPDATE) while it queues; the recorder takes the
rows it can (``lock_applications``: FOR KEY SHARE SKIP LOCKED) in the same transaction as the
unpark, so for those no consumer is queueing at that moment. For an application the consumer
holds, the recorder does not wait (the consumer's transaction covers a whole poll, hundreds of
events, and waiting held every outcome of the batch up behind it): it unparks what it sees now
and does the same again for that pair once the row is free (a delivery the consumer was
queueing, invisible until its commit, may have been parked behind the one just finished).
``sweep`` unparks anything left parked with nothing ahead of it (a safety net; it should find
nothing).
"""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import asyncpg

from ail_shared.errors import NotFound
from ail_status.adapters.repository import DELIVERIES_CHANNEL, SCHEMA
from ail_status.domain.webhooks import Attempt, Claimed, Subscription

S = SCHEMA

# The first pending delivery of d's queue (subscription, application): only it may be sent (the
# order rule). A correlated scalar subquery is always a subplan with the queue as its index
# condition (deliveries_queue), one probe per candidate. It was ``NOT EXISTS (an earlier pending
# one)``, which the planner turned into an anti join that scanned every pending delivery for
# each candidate (planned on a near-empty table): O(n^2) over a burst, 7-8 ms of PostgreSQL's
# CPU per delivery for 2,000 queued at once (issue 16, session 9).
FIRST_OF_QUEUE = f"""SELECT e.id FROM {S}.deliveries e
          WHERE e.subscription_id = d.subscription_id AND e.application_id = d.application_id
            AND e.state = 'pending' ORDER BY e.id LIMIT 1"""

CLAIM = f"""
WITH due AS (
    SELECT d.id FROM {S}.deliveries d
    WHERE d.state = 'pending' AND d.next_attempt_at <= now()
      AND (d.leased_until IS NULL OR d.leased_until < now())
      AND d.id = ({FIRST_OF_QUEUE})
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE {S}.deliveries d SET
    leased_until = clock_timestamp() + make_interval(secs => $2),
    attempts = d.attempts + 1,
    deadline = COALESCE(d.deadline, clock_timestamp() + make_interval(secs => d.retry_period_seconds))
FROM due, {S}.subscriptions s, {S}.changes c
WHERE d.id = due.id AND s.id = d.subscription_id AND c.id = d.change_id
RETURNING d.id, d.public_id, d.subscription_id, d.application_id, d.event_id, d.attempts,
    d.deadline, d.created_at, s.url, s.secret, c.payload, c.event_type, c.occurred_at, d.trace_context
"""

UNPARK_NEXT = f"""
UPDATE {S}.deliveries d SET next_attempt_at = clock_timestamp()
FROM (
    SELECT DISTINCT ON (q.subscription_id, q.application_id) q.id
    FROM {S}.deliveries q
    JOIN unnest($1::uuid[], $2::text[]) AS p(subscription_id, application_id)
      ON q.subscription_id = p.subscription_id AND q.application_id = p.application_id
    WHERE q.state = 'pending'
    ORDER BY q.subscription_id, q.application_id, q.id
) nxt
WHERE d.id = nxt.id AND d.next_attempt_at = 'infinity'
"""

SWEEP = f"""
UPDATE {S}.deliveries d SET next_attempt_at = clock_timestamp()
WHERE d.state = 'pending' AND d.next_attempt_at = 'infinity'
  AND d.id = ({FIRST_OF_QUEUE})
"""

DELIVERY_COLUMNS = """d.id AS row_id, d.public_id, d.application_id, d.event_id, d.state,
    d.attempts, d.next_attempt_at, d.deadline, d.created_at, d.delivered_at, d.failed_at,
    d.last_error, d.redeliveries, d.retry_period_seconds, c.seq, c.event_type"""


SUBSCRIPTION_COLUMNS = """id, enterprise_code, url, all_applications, description,
    retry_period_seconds, created_by, created_at, event_types"""


def _to_subscription(row: asyncpg.Record, application_ids: list[str]) -> Subscription:
    return Subscription(
        id=row["id"],
        enterprise_code=row["enterprise_code"],
        url=row["url"],
        all_applications=row["all_applications"],
        application_ids=tuple(application_ids),
        description=row["description"],
        retry_period_seconds=row["retry_period_seconds"],
        created_by=row["created_by"],
        created_at=row["created_at"],
        event_types=tuple(row["event_types"]) if row["event_types"] is not None else None,
    )


class SubscriptionRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ subscriptions

    async def add(self, subscription: Subscription, *, secret_token: str) -> None:
        """Store a new subscription with its encrypted secret (``secret_token``)."""
        sub = subscription
        await self.conn.execute(
            f"INSERT INTO {S}.subscriptions (id, enterprise_code, url, secret, all_applications,"
            " description, retry_period_seconds, created_by, created_at, event_types)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            sub.id,
            sub.enterprise_code,
            sub.url,
            secret_token,
            sub.all_applications,
            sub.description,
            sub.retry_period_seconds,
            sub.created_by,
            sub.created_at,
            list(sub.event_types) if sub.event_types is not None else None,
        )
        await self.conn.executemany(
            f"INSERT INTO {S}.subscription_applications (subscription_id, application_id) VALUES ($1, $2)",
            [(sub.id, a) for a in sub.application_ids],
        )

    async def secret_token(self, *, id: UUID, enterprise_code: str) -> str | None:
        """The encrypted secret of a live subscription (None: deleted or not the enterprise's)."""
        token = await self.conn.fetchval(
            f"SELECT secret FROM {S}.subscriptions WHERE id = $1 AND enterprise_code = $2"
            " AND deleted_at IS NULL",
            id,
            enterprise_code,
        )
        return str(token) if token is not None else None

    async def secrets_to_encrypt(self, *, current_key_id: str) -> list[tuple[UUID, str]]:
        """Stored secrets still in clear or made with another key than the current one, locked
        (rows already being rewritten by another replica are skipped)."""
        rows = await self.conn.fetch(
            f"SELECT id, secret FROM {S}.subscriptions WHERE NOT starts_with(secret, $1)"
            " ORDER BY id FOR UPDATE SKIP LOCKED",
            f"v1:{current_key_id}:",
        )
        return [(r["id"], r["secret"]) for r in rows]

    async def set_secret(self, *, id: UUID, token: str) -> None:
        await self.conn.execute(f"UPDATE {S}.subscriptions SET secret = $2 WHERE id = $1", id, token)

    async def owned_applications(self, *, application_ids: list[str], enterprise_code: str) -> set[str]:
        rows = await self.conn.fetch(
            f"SELECT application_id FROM {S}.applications"
            " WHERE application_id = ANY($1::text[]) AND enterprise_code = $2",
            application_ids,
            enterprise_code,
        )
        return {r["application_id"] for r in rows}

    async def get(self, *, id: UUID, enterprise_codes: tuple[str, ...], lock: bool = False) -> Subscription:
        """A live subscription of one of ``enterprise_codes``; NotFound otherwise."""
        row = await self.conn.fetchrow(
            f"SELECT {SUBSCRIPTION_COLUMNS} FROM {S}.subscriptions WHERE id = $1"
            " AND enterprise_code = ANY($2::text[]) AND deleted_at IS NULL" + (" FOR UPDATE" if lock else ""),
            id,
            list(enterprise_codes),
        )
        if row is None:
            raise NotFound(f"subscription {id} not found")
        apps = await self.conn.fetch(
            f"SELECT application_id FROM {S}.subscription_applications WHERE subscription_id = $1"
            " ORDER BY application_id",
            id,
        )
        return _to_subscription(row, [a["application_id"] for a in apps])

    async def delete(self, *, id: UUID) -> None:
        """Mark the subscription deleted and cancel its pending deliveries."""
        await self.conn.execute(f"UPDATE {S}.subscriptions SET deleted_at = now() WHERE id = $1", id)
        await self.conn.execute(
            f"UPDATE {S}.deliveries SET state = 'cancelled', leased_until = NULL"
            " WHERE subscription_id = $1 AND state = 'pending'",
            id,
        )

    # ------------------------------------------------------------ deliveries

    async def redeliver(self, *, subscription_id: UUID, delivery_id: UUID, retry_period_seconds: int) -> bool:
        """Put a failed (or delivered) delivery back in its queue; False if it is not in such a
        state. The webhook-id stays the event id, so the receiver can still drop duplicates."""
        row = await self.conn.fetchrow(
            f"UPDATE {S}.deliveries SET state = 'pending', next_attempt_at = clock_timestamp(),"
            " deadline = NULL, leased_until = NULL, failed_at = NULL, redeliveries = redeliveries + 1,"
            " retry_period_seconds = $3"
            " WHERE public_id = $2 AND subscription_id = $1 AND state IN ('failed', 'delivered')"
            " RETURNING id",
            subscription_id,
            delivery_id,
            retry_period_seconds,
        )
        return row is not None

    async def delivery_state(self, *, subscription_id: UUID, delivery_id: UUID) -> str:
        state = await self.conn.fetchval(
            f"SELECT state FROM {S}.deliveries WHERE public_id = $2 AND subscription_id = $1",
            subscription_id,
            delivery_id,
        )
        if state is None:
            raise NotFound(f"delivery {delivery_id} not found in subscription {subscription_id}")
        return str(state)

    async def wake_deliveries(self) -> None:
        """Wake the delivery workers when the transaction commits (NOTIFY)."""
        await self.conn.execute("SELECT pg_notify($1, '')", DELIVERIES_CHANNEL)

    # ------------------------------------------------------------ the worker's side

    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claimed]:
        rows = await self.conn.fetch(CLAIM, limit, lease_seconds)
        return [
            Claimed(
                row_id=r["id"],
                public_id=r["public_id"],
                subscription_id=r["subscription_id"],
                application_id=r["application_id"],
                event_id=r["event_id"],
                attempt_no=r["attempts"],
                deadline=r["deadline"],
                created_at=r["created_at"],
                url=r["url"],
                secret=r["secret"],
                payload=r["payload"],
                event_type=r["event_type"],
                occurred_at=r["occurred_at"],
                trace_context=dict(r["trace_context"] or {}),
            )
            for r in rows
        ]

    async def lock_applications(self, *, application_ids: list[str]) -> set[str]:
        """Lock the applications no consumer is queueing deliveries for right now, until the
        transaction ends, and return them; the others are skipped, not waited for (module doc)."""
        rows = await self.conn.fetch(
            f"SELECT application_id FROM {S}.applications WHERE application_id = ANY($1::text[])"
            " ORDER BY application_id FOR KEY SHARE SKIP LOCKED",
            sorted(set(application_ids)),
        )
        return {r["application_id"] for r in rows}

    async def unpark_next(self, pairs: list[tuple[UUID, str]]) -> None:
        """Make the first pending delivery of each (subscription, application) due if parked."""
        ordered = sorted(set(pairs))
        await self.conn.execute(UNPARK_NEXT, [p[0] for p in ordered], [p[1] for p in ordered])

    async def sweep(self) -> int:
        status = await self.conn.execute(SWEEP)
        return int(status.split()[-1])

    async def record_attempts(self, attempts: list[Attempt]) -> None:
        await self.conn.executemany(
            f"INSERT INTO {S}.delivery_attempts (delivery_id, attempt_no, started_at, duration_ms,"
            " status_code, error, response_body) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            [
                (
                    a.claimed.row_id,
                    a.claimed.attempt_no,
                    a.started_at,
                    a.duration_ms,
                    a.status_code,
                    a.error,
                    a.body,
                )
                for a in attempts
            ],
        )

    async def delivered(self, claimed: list[Claimed]) -> None:
        await self.conn.execute(
            f"UPDATE {S}.deliveries d SET state = 'delivered', delivered_at = clock_timestamp(),"
            " leased_until = NULL, last_error = NULL"
            " FROM unnest($1::bigint[], $2::int[]) AS u(id, attempts)"
            " WHERE d.id = u.id AND d.attempts = u.attempts AND d.state = 'pending'",
            [c.row_id for c in claimed],
            [c.attempt_no for c in claimed],
        )

    async def retry_at(self, c: Claimed, *, when: datetime, error: str) -> None:
        await self.conn.execute(
            f"UPDATE {S}.deliveries SET next_attempt_at = $3, leased_until = NULL, last_error = $4"
            " WHERE id = $1 AND attempts = $2 AND state = 'pending'",
            c.row_id,
            c.attempt_no,
            when,
            error,
        )

    async def failed(self, c: Claimed, *, error: str) -> None:
        await self.conn.execute(
            f"UPDATE {S}.deliveries SET state = 'failed', failed_at = clock_timestamp(),"
            " leased_until = NULL, last_error = $3"
            " WHERE id = $1 AND attempts = $2 AND state = 'pending'",
            c.row_id,
            c.attempt_no,
            error,
        )
