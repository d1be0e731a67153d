"""SQL of the signer's schema: the inbox claims of a whole batch at once, and the audit rows."""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

import asyncpg

SCHEMA = "signer"

_KNOWN = f"SELECT event_id FROM {SCHEMA}.inbox WHERE consumer = $1 AND event_id = ANY($2::uuid[])"
_CLAIM = (
    f"INSERT INTO {SCHEMA}.inbox (consumer, event_id, event_type)"
    " SELECT $1, id, 'SignatureRequested' FROM unnest($2::uuid[]) AS id"
    " ON CONFLICT DO NOTHING RETURNING event_id"
)
_RECORD = (
    f"INSERT INTO {SCHEMA}.signatures (request_event_id, answer_event_id, host_id, application_id,"
    " submission_id, enterprise_code, ekey_serial, outcome, reason, payload_sha256)"
    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (request_event_id) DO NOTHING"
)


@dataclass(frozen=True)
class AnswerRecord:
    request_event_id: UUID
    answer_event_id: UUID
    host_id: str
    application_id: str
    submission_id: str
    enterprise_code: str
    ekey_serial: str
    outcome: str  # signed | failed
    reason: str | None
    payload_sha256: bytes | None


class AnswerRepository:
    """The signer's inbox claims (a whole batch at once) and its audit rows, on the unit of
    work's connection."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def already_answered(self, *, consumer: str, event_ids: list[UUID]) -> set[UUID]:
        """Requests this consumer has applied before (checked before signing, to spare the token)."""
        rows = await self.conn.fetch(_KNOWN, consumer, event_ids)
        return {r["event_id"] for r in rows}

    async def claim(self, *, consumer: str, event_ids: list[UUID]) -> set[UUID]:
        """Record the requests in the inbox inside the open transaction; returns those that were
        new (a request another transaction claimed meanwhile is not returned, so it is not
        answered)."""
        rows = await self.conn.fetch(_CLAIM, consumer, event_ids)
        return {r["event_id"] for r in rows}

    async def record(self, records: list[AnswerRecord]) -> None:
        await self.conn.executemany(
            _RECORD,
            [
                (
                    r.request_event_id,
                    r.answer_event_id,
                    r.host_id,
                    r.application_id,
                    r.submission_id,
                    r.enterprise_code,
                    r.ekey_serial,
                    r.outcome,
                    r.reason,
                    r.payload_sha256,
                )
                for r in records
            ],
        )
