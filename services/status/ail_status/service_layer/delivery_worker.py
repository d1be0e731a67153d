"""The webhook delivery worker: claims due deliveries, sends them signed, records each attempt,
and schedules the next one with exponential backoff until the retry period ends.

Runs in every replica of the status service; the claim (``FOR UPDATE SKIP LOCKED`` plus a lease)
keeps two workers from sending the same delivery at once, and the queue rule keeps deliveries
of one application to one subscription in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
from ail_shared.logging import get_logger

from ail_status.adapters.subscriptions import Claimed, SubscriptionRepository
from ail_status.adapters.webhook_client import Outcome, WebhookSender
from ail_status.domain import webhooks
from ail_status.domain.lifecycle import webhook_type

log = get_logger("ail.status.webhooks")


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int
    lease_seconds: float
    poll_seconds: float
    policy: webhooks.RetryPolicy


class DeliveryWorker:
    def __init__(
        self, pool: asyncpg.Pool, sender: WebhookSender, config: WorkerConfig, wake: asyncio.Event
    ) -> None:
        self.pool = pool
        self.sender = sender
        self.config = config
        self.wake = wake
        self.inflight: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed_attempts = 0
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()

    async def run(self) -> None:
        backoff = 0.5
        try:
            while not self._stopping.is_set():
                free = self.config.concurrency - len(self.inflight)
                claimed: list[Claimed] = []
                if free > 0:
                    self.wake.clear()
                    try:
                        async with self.pool.acquire() as conn:
                            claimed = await SubscriptionRepository(conn).claim(
                                free, self.config.lease_seconds
                            )
                        backoff = 0.5
                    except asyncio.CancelledError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - outlive database outages
                        log.error("webhook_claim_failed", error=repr(exc), retry_in=backoff)
                        await self._sleep(backoff)
                        backoff = min(backoff * 2, 10.0)
                        continue
                for c in claimed:
                    task = asyncio.create_task(self._deliver(c), name=f"webhook-{c.public_id}")
                    self.inflight.add(task)
                    task.add_done_callback(self._done)
                if claimed and len(claimed) == free:
                    # Full claim: more may be due. Wait only for a free slot.
                    await self._wait_for_slot()
                    continue
                if not claimed:
                    await self._sleep(self.config.poll_seconds)
        finally:
            for t in self.inflight:
                t.cancel()
            await asyncio.gather(*self.inflight, return_exceptions=True)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        # A finished delivery may free the next one of its queue.
        self.wake.set()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def _wait_for_slot(self) -> None:
        while len(self.inflight) >= self.config.concurrency and not self._stopping.is_set():
            await asyncio.wait(set(self.inflight), return_when=asyncio.FIRST_COMPLETED)

    async def _deliver(self, c: Claimed) -> None:
        msg_id = str(c.event_id)
        body = webhooks.body(webhook_type(c.event_type), c.occurred_at.isoformat(), c.payload)
        headers = webhooks.headers(c.secret, msg_id, int(time.time()), body)
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            outcome = await self.sender.send(c.url, headers, body)
        except Exception as exc:  # noqa: BLE001 - an adapter bug must not lose the delivery
            outcome = Outcome(None, f"sender error: {exc!r}"[:500], None)
        duration_ms = (time.perf_counter() - t0) * 1000
        try:
            await self._record(c, outcome, started_at, duration_ms)
        except Exception as exc:  # noqa: BLE001 - the lease runs out and it is tried again
            log.error("webhook_record_failed", delivery=str(c.public_id), error=repr(exc))

    async def _record(self, c: Claimed, outcome: Outcome, started_at: datetime, duration_ms: float) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            repo = SubscriptionRepository(conn)
            await repo.record_attempt(
                c,
                started_at=started_at,
                duration_ms=duration_ms,
                status_code=outcome.status_code,
                error=outcome.error,
                response_body=outcome.response_body,
            )
            decision = webhooks.decide(
                self.config.policy,
                ok=outcome.ok,
                error=outcome.error,
                attempt_no=c.attempt_no,
                now=datetime.now(UTC),
                deadline=c.deadline,
                rand=random.random(),
            )
            if decision.state == "delivered":
                await repo.delivered(c)
                self.delivered += 1
                return
            self.failed_attempts += 1
            assert decision.error is not None
            if decision.retry_at is None:
                await repo.failed(c, decision.error)
                log.warning(
                    "webhook_failed",
                    delivery=str(c.public_id),
                    subscription=str(c.subscription_id),
                    attempts=c.attempt_no,
                    error=decision.error,
                )
            else:
                await repo.retry_at(c, decision.retry_at, decision.error)
                log.info(
                    "webhook_retry",
                    delivery=str(c.public_id),
                    attempt=c.attempt_no,
                    error=decision.error,
                    retry_at=decision.retry_at.isoformat(),
                )
