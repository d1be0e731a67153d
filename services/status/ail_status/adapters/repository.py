"""The lifecycle view, the change log (history and live stream) and time in status."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from ail_shared.errors import NotFound

SCHEMA = "status"
CHANGES_CHANNEL = f"{SCHEMA}_changes"  # NOTIFY payload: enterprise code
DELIVERIES_CHANNEL = f"{SCHEMA}_deliveries"

# $21: the view now shows another submission, so the numbers of the earlier one do not carry
# over (a late event of an earlier submission never gets here as a move: domain/lifecycle.py).
SAVE_APPLICATION = f"""
INSERT INTO {SCHEMA}.applications AS a (application_id, enterprise_code, serial_no, status,
    status_reason, form_no, license_no, customs_status, last_event_id, last_event_type, updated_at,
    submission_id, submission_seen_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $19, $20)
ON CONFLICT (application_id) DO UPDATE SET
    status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
    serial_no = COALESCE(EXCLUDED.serial_no, a.serial_no),
    form_no = CASE WHEN $21 THEN EXCLUDED.form_no ELSE COALESCE(EXCLUDED.form_no, a.form_no) END,
    license_no = CASE WHEN $21 THEN EXCLUDED.license_no
                      ELSE COALESCE(EXCLUDED.license_no, a.license_no) END,
    customs_status = CASE WHEN $21 THEN EXCLUDED.customs_status
                          ELSE COALESCE(EXCLUDED.customs_status, a.customs_status) END,
    last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type,
    updated_at = EXCLUDED.updated_at,
    submission_id = CASE WHEN $21 THEN EXCLUDED.submission_id
                         ELSE COALESCE(a.submission_id, EXCLUDED.submission_id) END,
    submission_seen_at = CASE WHEN $21 THEN EXCLUDED.submission_seen_at ELSE a.submission_seen_at END
"""

# Everything an event changes, in one statement (one round trip): the lifecycle view, the next
# number of the enterprise's sequence (locks the enterprise's counter row until commit), the
# change log row, a delivery for each matching subscription, and the wake-ups (sent at commit).
RECORD = f"""
WITH app AS ({SAVE_APPLICATION} RETURNING 1),
seq AS (
    INSERT INTO {SCHEMA}.enterprise_sequences AS s (enterprise_code, last_seq) VALUES ($2, 1)
    ON CONFLICT (enterprise_code) DO UPDATE SET last_seq = s.last_seq + 1
    RETURNING last_seq
), ch AS (
    INSERT INTO {SCHEMA}.changes (enterprise_code, seq, application_id, event_id, event_type,
        occurred_at, status, current_status, payload)
    SELECT $2, seq.last_seq, $1, $12, $13, $14, $15, $16,
           $17::jsonb || jsonb_build_object('sequence', seq.last_seq)
    FROM seq
    RETURNING id, seq
), queued AS (
    INSERT INTO {SCHEMA}.deliveries (public_id, subscription_id, application_id, change_id,
        event_id, retry_period_seconds, next_attempt_at)
    SELECT gen_random_uuid(), s.id, $1, ch.id, $12, COALESCE(s.retry_period_seconds, $18),
        -- behind an earlier pending delivery: parked until that one is finished
        CASE WHEN EXISTS (
            SELECT 1 FROM {SCHEMA}.deliveries e
            WHERE e.subscription_id = s.id AND e.application_id = $1 AND e.state = 'pending')
        THEN 'infinity'::timestamptz ELSE clock_timestamp() END
    FROM ch, {SCHEMA}.subscriptions s
    WHERE s.enterprise_code = $2 AND s.deleted_at IS NULL
      AND (s.all_applications OR EXISTS (
            SELECT 1 FROM {SCHEMA}.subscription_applications sa
            WHERE sa.subscription_id = s.id AND sa.application_id = $1))
    ON CONFLICT (subscription_id, event_id) DO NOTHING
    RETURNING 1
), counts AS (
    SELECT (SELECT count(*) FROM app) AS saved, (SELECT count(*) FROM queued) AS deliveries
)
SELECT ch.id, ch.seq, counts.deliveries,
       pg_notify('{SCHEMA}_changes', $2::text) AS n1,
       CASE WHEN counts.deliveries > 0 THEN pg_notify('{SCHEMA}_deliveries', '') END AS n2
FROM ch, counts
"""

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


class StatusRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def current(self, application_id: str) -> asyncpg.Record | None:
        """The application's row, locked until the transaction ends (events of one application
        are applied one at a time, whichever replica consumes them)."""
        return await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1 FOR UPDATE", application_id
        )

    async def record(
        self,
        *,
        application: dict[str, Any],
        event_id: UUID,
        event_type: str,
        occurred_at: datetime,
        status: str | None,
        current_status: str,
        payload: dict[str, Any],
        default_retry_period: int,
    ) -> tuple[int, int]:
        """Save the view, log the change, queue its deliveries; (sequence number, deliveries)."""
        a = application
        row = await self.conn.fetchrow(
            RECORD,
            a["application_id"],
            a["enterprise_code"],
            a.get("serial_no"),
            a["status"],
            a.get("status_reason"),
            a.get("form_no"),
            a.get("license_no"),
            a.get("customs_status"),
            a["last_event_id"],
            a["last_event_type"],
            a["updated_at"],
            event_id,
            event_type,
            occurred_at,
            status,
            current_status,
            payload,
            default_retry_period,
            a.get("submission_id"),
            a.get("submission_seen_at"),
            bool(a.get("new_submission")),
        )
        assert row is not None
        return int(row["seq"]), int(row["deliveries"])

    async def notify(self, channel: str, payload: str) -> None:
        await self.conn.execute("SELECT pg_notify($1, $2)", channel, payload)

    async def get(self, application_id: str, enterprise_codes: tuple[str, ...]) -> dict[str, Any]:
        row = await self.conn.fetchrow(
            f"SELECT application_id, enterprise_code, serial_no, status, status_reason, form_no,"
            f" license_no, customs_status, last_event_id, last_event_type, updated_at"
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
        return {k: (str(v) if k == "last_event_id" else v) for k, v in dict(row).items()}

    async def history(self, application_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.fetch(
            f"SELECT payload, recorded_at FROM {SCHEMA}.changes WHERE application_id = $1"
            " ORDER BY occurred_at, seq",
            application_id,
        )
        return [{**r["payload"], "recorded_at": r["recorded_at"]} for r in rows]

    async def last_seq(self, enterprise_code: str) -> int:
        seq = await self.conn.fetchval(
            f"SELECT last_seq FROM {SCHEMA}.enterprise_sequences WHERE enterprise_code = $1",
            enterprise_code,
        )
        return int(seq or 0)

    async def changes_after(self, enterprise_code: str, seq: int, limit: int) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            f"SELECT seq, event_type, payload FROM {SCHEMA}.changes"
            " WHERE enterprise_code = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            enterprise_code,
            seq,
            limit,
        )
        return rows

    async def time_in_status(self, start: datetime, end: datetime) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(TIME_IN_STATUS, start, end)
        return rows

    async def submit_objective(self, start: datetime, end: datetime, seconds: float) -> asyncpg.Record:
        row = await self.conn.fetchrow(SUBMIT_OBJECTIVE, start, end, seconds)
        assert row is not None
        return row
