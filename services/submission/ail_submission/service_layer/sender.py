"""Sends signed submissions to MOFCOM, outside any consumer transaction.

A row is claimed with a lease (``FOR UPDATE SKIP LOCKED``, so several replicas share the work),
sent with its idempotency key (= submission id), and its outcome committed with its event. When
MOFCOM is unavailable the row keeps ``state = 'signed'`` with ``attempts``, ``last_error`` and a
backed-off ``next_attempt_at``; a crash mid-call only lets the lease expire, and the retry with the
same idempotency key gets the same form no. back from MOFCOM.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from datetime import UTC, datetime, timedelta

import asyncpg

from ail_shared.canonical import canonical_json
from ail_shared.logging import get_logger
from ail_submission.adapters.mofcom import Accepted, Mofcom, Refused, Unavailable
from ail_submission.adapters.repository import Repository
from ail_submission.domain import model
from ail_submission.service_layer import handlers

log = get_logger("ail.submission.sender")


class Sender:
    def __init__(
        self,
        pool: asyncpg.Pool,
        mofcom: Mofcom,
        *,
        concurrency: int = 32,
        lease_seconds: float = 30.0,
        max_attempts: int = 40,
        max_backoff: float = 20.0,
    ) -> None:
        self.pool = pool
        self.mofcom = mofcom
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.max_attempts = max_attempts
        self.max_backoff = max_backoff
        self.wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._inflight: set[asyncio.Task[None]] = set()
        self.sent = 0

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()

    async def run(self) -> None:
        while not self._stopping.is_set():
            try:
                free = self.concurrency - len(self._inflight)
                rows = []
                if free > 0:
                    async with self.pool.acquire() as conn:
                        rows = await Repository(conn).claim_due(limit=free, lease_seconds=self.lease_seconds)
                for row in rows:
                    task = asyncio.create_task(self._send(row))
                    self._inflight.add(task)
                    task.add_done_callback(self._inflight.discard)
                if not rows:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), 0.25)
                elif free - len(rows) <= 0 and self._inflight:
                    await asyncio.wait(self._inflight, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - keep sending after a database outage
                log.error("sender_error", error=repr(exc))
                await asyncio.sleep(1.0)
        for t in list(self._inflight):
            t.cancel()

    async def _send(self, row: asyncpg.Record) -> None:
        payload = base64.b64encode(canonical_json(row["snapshot"])).decode()
        outcome = await self.mofcom.submit(
            idempotency_key=str(row["submission_id"]),
            application_id=str(row["application_id"]),
            enterprise_code=row["enterprise_code"],
            ekey_serial=row["ekey_serial"] or "",
            payload_b64=payload,
            signature=row["signature"] or "",
            algorithm=row["algorithm"] or "",
        )
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if isinstance(outcome, Accepted):
                    await handlers.record_accepted(conn, row, outcome.form_no, outcome.applied_at)
                    self.sent += 1
                elif isinstance(outcome, Refused):
                    log.info("mofcom_refused", submission_id=str(row["submission_id"]), reason=outcome.reason)
                    await handlers.record_rejected(conn, row, outcome.reason, outcome.detail)
                else:
                    await self._retry_later(conn, row, outcome)
        except Exception as exc:  # noqa: BLE001 - the lease expires and the row is sent again
            log.error("sender_record_failed", submission_id=str(row["submission_id"]), error=repr(exc))
            with contextlib.suppress(Exception):
                async with self.pool.acquire() as conn:
                    await Repository(conn).update_submission(
                        row["submission_id"], last_error=f"recording MOFCOM's answer failed: {exc!r}"[:1000]
                    )

    async def _retry_later(self, conn: asyncpg.Connection, row: asyncpg.Record, outcome: Unavailable) -> None:
        attempts = row["attempts"]
        if attempts >= self.max_attempts:
            log.error("mofcom_gave_up", submission_id=str(row["submission_id"]), attempts=attempts)
            await handlers.record_rejected(
                conn,
                row,
                model.MOFCOM_UNAVAILABLE,
                f"MOFCOM did not answer after {attempts} attempts ({outcome.error}); submit again later",
            )
            return
        delay = min(0.5 * 2 ** (attempts - 1), self.max_backoff)
        log.warning(
            "mofcom_unavailable", submission_id=str(row["submission_id"]), attempts=attempts, retry_in=delay
        )
        await Repository(conn).update_submission(
            row["submission_id"],
            last_error=outcome.error,
            next_attempt_at=datetime.now(UTC) + timedelta(seconds=delay),
            lease_until=None,
        )
