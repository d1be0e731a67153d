"""The write side of the lifecycle view and the change log (history, live stream, webhooks).
Read-side SQL (status, history, stream, time in status): ``adapters/queries.py``."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from ail_shared.lifecycle import ApplicationStatus
from ail_shared.telemetry import stored_trace_context
from ail_status.domain.model import ApplicationView, Change, webhook_type

SCHEMA = "status"
CHANGES_CHANNEL = f"{SCHEMA}_changes"  # NOTIFY payload: enterprise code
DELIVERIES_CHANNEL = f"{SCHEMA}_deliveries"

# $21: the view now shows another submission, so the numbers of the earlier one do not carry
# over (a late event of an earlier submission never gets here as a move: domain/model.py).
SAVE_APPLICATION = f"""
INSERT INTO {SCHEMA}.applications AS a (application_id, enterprise_code, serial_no, status,
    status_reason, form_no, license_no, customs_status, last_event_id, last_event_type, updated_at,
    submission_id, submission_seen_at, license_state)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $19, $20, $23)
ON CONFLICT (application_id) DO UPDATE SET
    status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
    serial_no = COALESCE(EXCLUDED.serial_no, a.serial_no),
    form_no = CASE WHEN $21 THEN EXCLUDED.form_no ELSE COALESCE(EXCLUDED.form_no, a.form_no) END,
    license_no = CASE WHEN $21 THEN EXCLUDED.license_no
                      ELSE COALESCE(EXCLUDED.license_no, a.license_no) END,
    customs_status = CASE WHEN $21 THEN EXCLUDED.customs_status
                          ELSE COALESCE(EXCLUDED.customs_status, a.customs_status) END,
    license_state = CASE WHEN $21 THEN EXCLUDED.license_state
                         ELSE COALESCE(EXCLUDED.license_state, a.license_state) END,
    last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type,
    updated_at = EXCLUDED.updated_at,
    submission_id = CASE WHEN $21 THEN EXCLUDED.submission_id
                         ELSE COALESCE(a.submission_id, EXCLUDED.submission_id) END,
    submission_seen_at = CASE WHEN $21 THEN EXCLUDED.submission_seen_at ELSE a.submission_seen_at END
"""

# Everything an event changes, in one statement (one round trip): the lifecycle view, the next
# number of the enterprise's sequence (locks the enterprise's counter row until commit), the
# change log row, a delivery for each matching subscription (its applications and webhook types:
# ``Subscription.wants``), and the wake-ups (sent at commit).
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
        event_id, retry_period_seconds, trace_context, next_attempt_at)
    SELECT gen_random_uuid(), s.id, $1, ch.id, $12, COALESCE(s.retry_period_seconds, $18), $22::jsonb,
        -- behind an earlier pending delivery: parked until that one is finished
        CASE WHEN EXISTS (
            SELECT 1 FROM {SCHEMA}.deliveries e
            WHERE e.subscription_id = s.id AND e.application_id = $1 AND e.state = 'pending')
        THEN 'infinity'::timestamptz ELSE clock_timestamp() END
    FROM ch, {SCHEMA}.subscriptions s
    WHERE s.enterprise_code = $2 AND s.deleted_at IS NULL
      -- $24: the change's webhook type; a subscription without event_types wants every type
      AND (s.event_types IS NULL OR $24 = ANY(s.event_types))
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


@dataclass(frozen=True)
class Recorded:
    sequence: int  # the enterprise's change number
    deliveries: int  # deliveries queued for it


def _to_view(row: asyncpg.Record) -> ApplicationView:
    return ApplicationView(
        application_id=row["application_id"],
        enterprise_code=row["enterprise_code"],
        status=ApplicationStatus(row["status"]),
        serial_no=row["serial_no"],
        status_reason=row["status_reason"],
        form_no=row["form_no"],
        license_no=row["license_no"],
        customs_status=row["customs_status"],
        license_state=row["license_state"],
        last_event_id=row["last_event_id"],
        last_event_type=row["last_event_type"],
        updated_at=row["updated_at"],
        submission_id=row["submission_id"],
        submission_seen_at=row["submission_seen_at"],
    )


class StatusRepository:
    """The lifecycle views and the change log, on the unit of work's connection. New deliveries
    get the subscription's retry period, or ``default_retry_period``."""

    def __init__(self, conn: asyncpg.Connection, *, default_retry_period: int) -> None:
        self.conn = conn
        self.default_retry_period = default_retry_period

    async def current(self, *, application_id: str) -> ApplicationView | None:
        """The application's view, locked until the transaction ends (events of one application
        are applied one at a time, whichever replica consumes them)."""
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1 FOR UPDATE", application_id
        )
        return _to_view(row) if row is not None else None

    async def record(self, change: Change) -> Recorded:
        """Save the view, log the change, queue its deliveries (and wake streams and the worker
        at commit). The view is the whole new row (``domain.model.apply``); the upsert's merges
        only matter when two first events of one application insert at once (no row to lock)."""
        v = change.view
        row = await self.conn.fetchrow(
            RECORD,
            v.application_id,
            v.enterprise_code,
            v.serial_no,
            v.status.value,
            v.status_reason,
            v.form_no,
            v.license_no,
            v.customs_status,
            v.last_event_id,
            v.last_event_type,
            v.updated_at,
            change.event_id,
            change.event_type,
            change.occurred_at,
            change.status.value if change.status else None,
            v.status.value,
            change.entry,
            self.default_retry_period,
            v.submission_id,
            v.submission_seen_at,
            change.new_submission,
            # The event's trace (the consumer continues it): the webhook delivery, later and in
            # a worker, continues it and sends its traceparent (ail_shared.telemetry).
            stored_trace_context(),
            v.license_state,
            webhook_type(change.event_type),
        )
        assert row is not None
        return Recorded(sequence=int(row["seq"]), deliveries=int(row["deliveries"]))
