"""Read-side SQL of the status service: the current view and history of an application, the
enterprise's change log for the live stream, subscriptions and their deliveries, and time in
status. Functions take a connection and return plain data for the routes to render."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ail_shared.errors import NotFound
from ail_status.adapters.repository import SCHEMA
from ail_status.adapters.subscriptions import DELIVERY_COLUMNS, S, SubscriptionRepository
from ail_status.domain import model
from ail_status.domain.webhooks import Subscription

# Time in status: each status an application entered (repeats of the same status collapsed),
# left when the next status was entered. Open intervals (still in the status) are not counted.
STATUS_INTERVALS = f"""
WITH apps AS (
    SELECT DISTINCT application_id FROM {SCHEMA}.changes
    WHERE status IS NOT NULL AND occurred_at >= $1 AND occurred_at < $2
), entered AS (
    SELECT c.application_id, c.status, c.occurred_at, c.seq,
           lag(c.status) OVER (PARTITION BY c.application_id ORDER BY c.occurred_at, c.seq) AS prev
    FROM {SCHEMA}.changes c JOIN apps USING (application_id)
    WHERE c.status IS NOT NULL
), intervals AS (
    SELECT application_id, status, occurred_at AS entered_at,
           lead(occurred_at) OVER w AS left_at, lead(status) OVER w AS next_status
    FROM entered WHERE prev IS DISTINCT FROM status
    WINDOW w AS (PARTITION BY application_id ORDER BY occurred_at, seq)
)
SELECT * FROM intervals WHERE entered_at >= $1 AND entered_at < $2
"""

TIME_IN_STATUS = f"""
WITH i AS ({STATUS_INTERVALS})
SELECT status, day, GROUPING(day) = 1 AS all_days, count(*) AS intervals,
       percentile_cont(ARRAY[0.5, 0.9, 0.99]) WITHIN GROUP (ORDER BY seconds) AS p
FROM (SELECT status, (entered_at AT TIME ZONE 'UTC')::date AS day,
             extract(epoch FROM left_at - entered_at)::float8 AS seconds
      FROM i WHERE left_at IS NOT NULL) x
GROUP BY GROUPING SETS ((status), (status, day))
ORDER BY status, day NULLS FIRST
"""

SUBMIT_OBJECTIVE = f"""
WITH i AS ({STATUS_INTERVALS})
SELECT
    count(*) FILTER (WHERE next_status = 'pending_first_review') AS reached,
    count(*) FILTER (WHERE next_status = 'pending_first_review'
                     AND left_at - entered_at <= make_interval(secs => $3)) AS within,
    count(*) FILTER (WHERE left_at IS NULL
                     AND clock_timestamp() - entered_at > make_interval(secs => $3)) AS overdue,
    count(*) FILTER (WHERE left_at IS NULL
                     AND clock_timestamp() - entered_at <= make_interval(secs => $3)) AS undecided,
    count(*) FILTER (WHERE next_status IS NOT NULL AND next_status <> 'pending_first_review')
        AS returned
FROM i WHERE status = 'submitting'
"""


async def application_status(
    conn: asyncpg.Connection, *, application_id: str, enterprise_codes: tuple[str, ...]
) -> dict[str, Any]:
    row = await conn.fetchrow(
        f"SELECT application_id, enterprise_code, serial_no, status, status_reason, form_no,"
        f" license_no, customs_status, license_state, last_event_id, last_event_type, updated_at"
        f" FROM {SCHEMA}.applications WHERE application_id = $1"
        " AND enterprise_code = ANY($2::text[])",
        application_id,
        list(enterprise_codes),
    )
    if row is None:
        raise NotFound(
            f"application {application_id} not found (the status service knows an"
            " application once it has been submitted)"
        )
    out = {k: (str(v) if k == "last_event_id" else v) for k, v in dict(row).items()}
    out["license_state"] = model.license_state_now(out["status"], out["license_state"])
    return out


async def history(
    conn: asyncpg.Connection, *, application_id: str, enterprise_code: str
) -> list[dict[str, Any]]:
    """The application's lifecycle events in the order they happened, with what operations did
    with its dead-lettered messages (``domain.model.with_operations_actions``). An action shows
    only when the message names the application's own enterprise (a message claiming another
    tenant is not shown to either)."""
    rows = await conn.fetch(
        f"SELECT payload, recorded_at FROM {SCHEMA}.changes WHERE application_id = $1"
        " ORDER BY occurred_at, seq",
        application_id,
    )
    actions = await conn.fetch(
        f"SELECT action, actor, acted_at, reason, dlt_topic, dlt_partition, dlt_offset, source_topic,"
        f" event_id, event_type FROM {SCHEMA}.ops_actions WHERE aggregate_id = $1 AND tenant = $2"
        " ORDER BY acted_at, id",
        application_id,
        enterprise_code,
    )
    return model.with_operations_actions(
        [{**r["payload"], "recorded_at": r["recorded_at"]} for r in rows],
        [
            model.OperationsAction(
                application_id=application_id,
                enterprise_code=enterprise_code,
                action=a["action"],
                actor=a["actor"],
                at=a["acted_at"],
                reason=a["reason"],
                topic=a["dlt_topic"],
                partition=a["dlt_partition"],
                offset=a["dlt_offset"],
                source_topic=a["source_topic"],
                event_id=a["event_id"],
                event_type=a["event_type"],
            )
            for a in actions
        ],
    )


async def last_seq(conn: asyncpg.Connection, *, enterprise_code: str) -> int:
    seq = await conn.fetchval(
        f"SELECT last_seq FROM {SCHEMA}.enterprise_sequences WHERE enterprise_code = $1",
        enterprise_code,
    )
    return int(seq or 0)


async def changes_after(
    conn: asyncpg.Connection, *, enterprise_code: str, seq: int, limit: int
) -> list[dict[str, Any]]:
    """The enterprise's changes after ``seq``: ``seq``, ``event_type``, ``payload`` each."""
    rows = await conn.fetch(
        f"SELECT seq, event_type, payload FROM {SCHEMA}.changes"
        " WHERE enterprise_code = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        enterprise_code,
        seq,
        limit,
    )
    return [dict(r) for r in rows]


async def time_in_status(conn: asyncpg.Connection, *, start: datetime, end: datetime) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch(TIME_IN_STATUS, start, end)]


async def submit_objective(
    conn: asyncpg.Connection, *, start: datetime, end: datetime, seconds: float
) -> dict[str, Any]:
    row = await conn.fetchrow(SUBMIT_OBJECTIVE, start, end, seconds)
    assert row is not None
    return dict(row)


async def subscriptions(conn: asyncpg.Connection, *, enterprise_codes: tuple[str, ...]) -> list[Subscription]:
    rows = await conn.fetch(
        f"SELECT id FROM {S}.subscriptions WHERE enterprise_code = ANY($1::text[])"
        " AND deleted_at IS NULL ORDER BY created_at, id",
        list(enterprise_codes),
    )
    repo = SubscriptionRepository(conn)
    return [await repo.get(id=r["id"], enterprise_codes=enterprise_codes) for r in rows]


async def subscription(
    conn: asyncpg.Connection, *, subscription_id: UUID, enterprise_codes: tuple[str, ...]
) -> Subscription:
    return await SubscriptionRepository(conn).get(id=subscription_id, enterprise_codes=enterprise_codes)


async def deliveries(
    conn: asyncpg.Connection,
    *,
    subscription_id: UUID,
    enterprise_codes: tuple[str, ...],
    state: str | None,
    application_id: str | None,
    offset: int,
    limit: int,
) -> tuple[int, list[dict[str, Any]]]:
    """A subscription's deliveries (404 if it is not the caller's) in the order they were queued,
    each with its attempt log: how many match in all, and the ``limit`` after ``offset``."""
    await subscription(conn, subscription_id=subscription_id, enterprise_codes=enterprise_codes)
    where = (
        " WHERE d.subscription_id = $1 AND ($2::text IS NULL OR d.state = $2)"
        " AND ($3::text IS NULL OR d.application_id = $3)"
    )
    total = await conn.fetchval(
        f"SELECT count(*) FROM {S}.deliveries d{where}", subscription_id, state, application_id
    )
    rows = await conn.fetch(
        f"SELECT {DELIVERY_COLUMNS} FROM {S}.deliveries d JOIN {S}.changes c ON c.id = d.change_id"
        f"{where} ORDER BY d.id LIMIT $4 OFFSET $5",
        subscription_id,
        state,
        application_id,
        limit,
        offset,
    )
    attempts = await conn.fetch(
        f"SELECT delivery_id, attempt_no, started_at, duration_ms, status_code, error, response_body"
        f" FROM {S}.delivery_attempts WHERE delivery_id = ANY($1::bigint[])"
        " ORDER BY delivery_id, attempt_no",
        [r["row_id"] for r in rows],
    )
    by_delivery: dict[int, list[dict[str, Any]]] = {}
    for a in attempts:
        item = dict(a)
        by_delivery.setdefault(item.pop("delivery_id"), []).append(item)
    return int(total), [{**dict(r), "attempt_log": by_delivery.get(r["row_id"], [])} for r in rows]


async def secret_token(
    conn: asyncpg.Connection, *, subscription_id: UUID, enterprise_code: str
) -> str | None:
    """The encrypted secret of a live subscription (None: deleted or not the enterprise's)."""
    return await SubscriptionRepository(conn).secret_token(
        id=subscription_id, enterprise_code=enterprise_code
    )
