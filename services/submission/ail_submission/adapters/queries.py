"""Read-side queries of the submission service's HTTP API (no unit of work: nothing changes)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg

from ail_shared import metrics
from ail_submission.adapters.repository import (
    FRESH,
    SCHEMA,
    ApplicationRepository,
    EkeyRepository,
    SubmissionRepository,
)
from ail_submission.domain.ekeys import Binding, PresentKey
from ail_submission.domain.model import ApplicationView, Submission


@dataclass(frozen=True)
class ListedKey:
    key: PresentKey
    bound: bool  # bound by one of the caller's enterprises


async def present_keys(pool: asyncpg.Pool, *, enterprise_codes: Sequence[str]) -> list[ListedKey]:
    """E-keys plugged into a signer host right now that belong to these enterprises."""
    async with pool.acquire() as conn:
        ekeys = EkeyRepository(conn)
        keys = await ekeys.present(enterprise_codes=enterprise_codes)
        bound = {b.ekey_serial for b in await ekeys.bindings(enterprise_codes=enterprise_codes)}
    return [ListedKey(k, k.serial in bound) for k in keys]


async def bindings(pool: asyncpg.Pool, *, enterprise_codes: Sequence[str]) -> list[Binding]:
    async with pool.acquire() as conn:
        return await EkeyRepository(conn).bindings(enterprise_codes=enterprise_codes)


async def application(pool: asyncpg.Pool, *, application_id: UUID) -> ApplicationView | None:
    async with pool.acquire() as conn:
        return await ApplicationRepository(conn).get(application_id=application_id)


async def signed_submissions(
    pool: asyncpg.Pool, *, application_id: UUID, enterprise_codes: Sequence[str]
) -> list[Submission]:
    """The application's submissions that carry a signature, newest first, for these enterprises."""
    async with pool.acquire() as conn:
        return await SubmissionRepository(conn).signed(
            application_id=application_id, enterprise_codes=enterprise_codes
        )


async def submissions(
    pool: asyncpg.Pool, *, application_id: UUID | None, state: str | None, limit: int = 500
) -> list[dict[str, Any]]:
    """The submission state table (attempts, last error): what operations look at."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT submission_id, application_id, state, attempts, last_error, reason, form_no,
                       next_attempt_at, updated_at
                FROM {SCHEMA}.submissions
                WHERE ($1::uuid IS NULL OR application_id = $1) AND ($2::text IS NULL OR state = $2)
                ORDER BY updated_at DESC LIMIT $3""",
            application_id,
            state,
            limit,
        )
    return [dict(r) for r in rows]


async def sample_ekey_metrics(pool: asyncpg.Pool) -> None:
    """The e-key gauges of /metrics (ail_shared.metrics): bindings, bound keys a live signer host
    holds (the "no signer host holding a bound e-key" alert), keys per host."""
    async with pool.acquire() as conn:
        bound = await conn.fetchval(f"SELECT count(DISTINCT ekey_serial) FROM {SCHEMA}.ekey_bindings")
        held = await conn.fetchval(
            f"SELECT count(DISTINCT b.ekey_serial) FROM {SCHEMA}.ekey_bindings b"
            f" JOIN {SCHEMA}.ekey_presence p ON p.serial = b.ekey_serial WHERE p.{FRESH}"
        )
        hosts = await conn.fetch(
            f"SELECT host_id, count(*) AS n FROM {SCHEMA}.ekey_presence WHERE {FRESH} GROUP BY host_id"
        )
    metrics.EKEYS_BOUND.set(int(bound))
    metrics.EKEYS_BOUND_HELD.set(int(held))
    metrics.EKEYS_HELD_BY_HOST.clear()
    for row in hosts:
        metrics.EKEYS_HELD_BY_HOST.labels(str(row["host_id"])).set(int(row["n"]))


# What operations see of a send (GET /api/v1/ops/submissions): queued (signed, not tried yet),
# retrying (MOFCOM did not answer, tried again at next_attempt_at), parked (retries spent),
# closed (operations gave up on it).
OPS_STATE = """CASE WHEN s.state = 'parked' THEN 'parked'
    WHEN s.state = 'signed' AND s.attempts > 0 THEN 'retrying'
    WHEN s.state = 'signed' THEN 'queued'
    WHEN s.state = 'rejected' AND s.reason = 'closed_by_operations' THEN 'closed' END"""


OPS_SUBMISSIONS = f"""SELECT * FROM (
    SELECT s.submission_id, s.application_id, s.enterprise_code, s.serial_no, s.snapshot,
           s.form_no, s.attempts, s.last_error, s.next_attempt_at, s.updated_at,
           s.ekey_serial, s.algorithm, {OPS_STATE} AS ops_state,
           COALESCE((SELECT jsonb_agg(jsonb_build_object('action', o.action, 'reason', o.reason,
                     'actor', o.actor, 'at', o.acted_at) ORDER BY o.id)
                     FROM {SCHEMA}.ops_actions o WHERE o.submission_id = s.submission_id),
                    '[]'::jsonb) AS actions
    FROM {SCHEMA}.submissions s
    WHERE s.state IN ('signed', 'parked')
       OR (s.state = 'rejected' AND s.reason = 'closed_by_operations')) t
WHERE ($1::text IS NULL OR t.ops_state = $1) AND ($2::uuid IS NULL OR t.submission_id = $2)
  AND ($3::text IS NULL OR t.serial_no = $3)"""


async def ops_submissions(
    pool: asyncpg.Pool,
    *,
    state: str | None,
    limit: int,
    offset: int = 0,
    submission_id: UUID | None = None,
    serial_no: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """MOFCOM sends that wait, retry, are parked or were closed, newest first, each with what
    operations did with it (oldest first); and how many match in all (``serial_no``: the sends
    of one application's serial number). The request is shown by size and summary: the
    signature and certificate stay out."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            f"{OPS_SUBMISSIONS} ORDER BY t.updated_at DESC LIMIT $4 OFFSET $5",
            state,
            submission_id,
            serial_no,
            limit,
            offset,
        )
        total = await conn.fetchval(
            f"SELECT count(*) FROM ({OPS_SUBMISSIONS}) c", state, submission_id, serial_no
        )
    return int(total), [dict(r) for r in rows]
