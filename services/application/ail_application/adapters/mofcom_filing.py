"""Reports key agricultural products filings (重农信息备案) to MOFCOM, and the worker that does it.

A filing is saved first (the client's data is never lost to an outage), then reported: the worker
claims due filings (``FOR UPDATE SKIP LOCKED``, so replicas are safe), calls MOFCOM with a timeout,
the filing id as idempotency key and the shared retry policy (``ail_shared.retry``: time-outs,
connection errors, 429 and 5xx retried within the call, ``Retry-After`` honoured), and records
the outcome on the filing:

* ``reported`` with MOFCOM's receipt no.;
* ``report_failed`` with the error and the attempt count; retried with exponential backoff up to
  ``max_attempts`` rounds, then left for the operator (``POST /key-agri-filings/{id}/report``).
  A refusal by MOFCOM (4xx) is not retried: the data must be corrected.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import asyncpg
import httpx

from ail_application.adapters.repository import SCHEMA
from ail_shared import retry
from ail_shared.logging import get_logger

log = get_logger("ail.application.filing")


@dataclass(frozen=True)
class ReportOutcome:
    receipt_no: str | None
    error: str | None
    retryable: bool  # True: MOFCOM was unavailable (try a later round); False: reported or refused
    retry_after: float | None = None  # seconds MOFCOM asked us to wait (Retry-After), if it did


class MofcomFilingClient:
    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: float = 0.2,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, timeout=timeout, transport=transport)
        self.policy = retry.RetryPolicy(attempts=attempts, base=backoff, sleep=sleep)

    async def aclose(self) -> None:
        await self.client.aclose()

    async def report(self, filing_id: UUID, enterprise_code: str, body: dict[str, Any]) -> ReportOutcome:
        try:
            resp = await retry.call_http(
                lambda: self.client.post(
                    "/mofcom/key-agri-filings",
                    json={"enterprise_code": enterprise_code, **body},
                    headers={"Idempotency-Key": str(filing_id)},
                ),
                policy=self.policy,
                what="MOFCOM POST /mofcom/key-agri-filings",
                filing_id=str(filing_id),
            )
        except retry.Unavailable as exc:
            return ReportOutcome(None, f"MOFCOM did not answer: {exc.error}", True, exc.retry_after)
        if resp.status_code in (200, 201):
            return ReportOutcome(str(resp.json()["receipt_no"]), None, False)
        # A refusal (4xx other than 429): the data must be corrected, a retry would repeat it.
        return ReportOutcome(None, f"MOFCOM answered HTTP {resp.status_code}: {resp.text[:300]}", False)


# The longest wait between two reporting rounds (2 s, 4 s, ... never more than an hour).
ROUND_BACKOFF_CAP = 3600.0

CLAIM = f"""
SELECT id, enterprise_code, body, report_attempts FROM {SCHEMA}.key_agri_filings
WHERE status IN ('saved', 'report_failed') AND next_attempt_at <= now()
  AND report_attempts < $1
ORDER BY next_attempt_at LIMIT $2
FOR UPDATE SKIP LOCKED
"""


class FilingReporter:
    """Background worker; ``wake()`` after a filing is saved so it goes out at once."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        client: MofcomFilingClient,
        *,
        max_attempts: int = 6,
        base_delay: float = 2.0,
        poll_interval: float = 5.0,
    ) -> None:
        self.pool = pool
        self.client = client
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                worked = await self.report_due()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep reporting after a database outage
                log.error("filing_reporter_error", error=repr(exc))
                worked = 0
            if not worked:
                self._wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    async def report_due(self, limit: int = 20) -> int:
        """Report the filings that are due now; return how many were tried."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(CLAIM, self.max_attempts, limit)
            for row in rows:
                # The row stays locked during the call (3 s timeout), so no replica sends it too.
                outcome = await self.client.report(row["id"], row["enterprise_code"], row["body"])
                attempts = row["report_attempts"] + 1
                if outcome.receipt_no:
                    await conn.execute(
                        f"UPDATE {SCHEMA}.key_agri_filings SET status = 'reported', receipt_no = $2,"
                        " reported_at = now(), report_attempts = $3, last_error = NULL WHERE id = $1",
                        row["id"],
                        outcome.receipt_no,
                        attempts,
                    )
                    log.info("filing_reported", filing_id=str(row["id"]), receipt_no=outcome.receipt_no)
                    continue
                give_up = not outcome.retryable or attempts >= self.max_attempts
                # The shared backoff, and never sooner than MOFCOM asked (Retry-After).
                delay = max(
                    retry.backoff(attempts, base=self.base_delay, cap=ROUND_BACKOFF_CAP),
                    outcome.retry_after or 0.0,
                )
                await conn.execute(
                    f"UPDATE {SCHEMA}.key_agri_filings SET status = 'report_failed', last_error = $2,"
                    " report_attempts = $3,"
                    " next_attempt_at = CASE WHEN $4 THEN 'infinity'::timestamptz"
                    "                        ELSE now() + make_interval(secs => $5) END"
                    " WHERE id = $1",
                    row["id"],
                    outcome.error,
                    attempts,
                    give_up,
                    delay,
                )
                log.warning(
                    "filing_report_failed",
                    filing_id=str(row["id"]),
                    attempt=attempts,
                    final=give_up,
                    error=outcome.error,
                )
            return len(rows)
