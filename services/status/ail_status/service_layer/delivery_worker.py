"""The webhook delivery worker: claims due deliveries, sends them signed, records each attempt,
and schedules the next one with exponential backoff until the retry period ends.

Runs in every replica of the status service; the claim (``FOR UPDATE SKIP LOCKED`` plus a lease)
keeps two workers from sending the same delivery at once, and the queue rule keeps deliveries
of one application to one subscription in order. Outcomes are written in batches (one
transaction for all the attempts that finished meanwhile), which keeps commits, not HTTP, from
being the limit.
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
from ail_shared.secretbox import SecretBox, SecretBoxError
from ail_status.adapters.subscriptions import Attempt, Claimed, SubscriptionRepository
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
    sweep_seconds: float = 30.0


class DeliveryWorker:
    def __init__(
        self,
        pool: asyncpg.Pool,
        sender: WebhookSender,
        config: WorkerConfig,
        wake: asyncio.Event,
        box: SecretBox,
    ) -> None:
        self.pool = pool
        self.sender = sender
        self.box = box  # opens the subscriptions' encrypted secrets, only to sign
        self.config = config
        self.wake = wake  # set by NOTIFY (new deliveries) and when outcomes are recorded
        self.inflight: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed_attempts = 0
        self._results: list[tuple[Attempt, bool]] = []
        self._results_ready = asyncio.Event()
        self._stopping = asyncio.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.wake.set()

    async def run(self) -> None:
        recorder = asyncio.create_task(self._recorder(), name="webhook-recorder")
        try:
            await self._claim_loop()
        finally:
            for t in self.inflight:
                t.cancel()
            await asyncio.gather(*self.inflight, return_exceptions=True)
            recorder.cancel()
            await asyncio.gather(recorder, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._flush()  # what was sent is recorded; the rest is taken over by lease

    async def _claim_loop(self) -> None:
        backoff = 0.5
        next_sweep = time.monotonic()
        while not self._stopping.is_set():
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.config.sweep_seconds
                await self._sweep()
            free = self.config.concurrency - len(self.inflight)
            if free <= 0:
                await asyncio.wait(set(self.inflight), return_when=asyncio.FIRST_COMPLETED)
                continue
            self.wake.clear()
            try:
                async with self.pool.acquire() as conn:
                    claimed = await SubscriptionRepository(conn).claim(free, self.config.lease_seconds)
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
                task.add_done_callback(self.inflight.discard)
            if len(claimed) < free:
                await self._sleep(self.config.poll_seconds)
                # Let wake-ups that come together (a batch of outcomes, a burst of NOTIFYs)
                # make one claim.
                await asyncio.sleep(0.005)

    async def _sweep(self) -> None:
        try:
            async with self.pool.acquire() as conn:
                unparked = await SubscriptionRepository(conn).sweep()
            if unparked:
                log.warning("webhook_sweep_unparked", deliveries=unparked)
            await encrypt_secrets_at_rest(self.pool, self.box)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - tried again at the next sweep
            log.error("webhook_sweep_failed", error=repr(exc))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    async def _deliver(self, c: Claimed) -> None:
        msg_id = str(c.event_id)
        body = webhooks.body(webhook_type(c.event_type), c.occurred_at.isoformat(), c.payload)
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        try:
            # A clear secret is a row written before encryption (or by an older replica during a
            # rolling upgrade): used as it is, and encrypted by the next sweep.
            secret = (
                self.box.decrypt(c.secret, aad=webhooks.aad(c.subscription_id))
                if self.box.is_token(c.secret)
                else c.secret
            )
        except SecretBoxError as exc:
            # e.g. the key ring lost the key it was made with: retried (the ring may be fixed),
            # visible in the attempt log, never sent unsigned
            outcome = Outcome(None, f"cannot sign: {exc}")
        else:
            headers = webhooks.headers(secret, msg_id, int(time.time()), body)
            try:
                outcome = await self.sender.send(c.url, headers, body)
            except Exception as exc:  # noqa: BLE001 - an adapter bug must not lose the delivery
                outcome = Outcome(None, f"sender error: {exc!r}"[:500])
        attempt = Attempt(
            claimed=c,
            started_at=started_at,
            duration_ms=(time.perf_counter() - t0) * 1000,
            status_code=outcome.status_code,
            error=outcome.error,
            body=outcome.response_body,
        )
        self._results.append((attempt, outcome.ok))
        self._results_ready.set()

    async def _recorder(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the leases run out and they are sent again
                log.error("webhook_record_failed", error=repr(exc))
            self.wake.set()  # a recorded outcome may free the next delivery of its queue

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        if not batch:
            return
        for attempt in range(1, 6):
            try:
                await self._record(batch)
                return
            except (asyncpg.exceptions.DeadlockDetectedError, asyncpg.exceptions.SerializationError) as exc:
                # The transaction rolled back whole, so recording the same outcomes again is safe;
                # dropping them would resend every delivery of the batch when its lease ends.
                log.warning("webhook_record_retry", attempt=attempt, error=repr(exc), outcomes=len(batch))
                await asyncio.sleep(0.05 * attempt * (1 + random.random()))
        await self._record(batch)

    async def _record(self, batch: list[tuple[Attempt, bool]]) -> None:
        now = datetime.now(UTC)
        delivered: list[Claimed] = []
        finished: list[Claimed] = []
        async with self.pool.acquire() as conn, conn.transaction():
            repo = SubscriptionRepository(conn)
            await repo.lock_applications([a.claimed.application_id for a, _ in batch])
            await repo.record_attempts([a for a, _ in batch])
            for attempt, ok in batch:
                c = attempt.claimed
                decision = webhooks.decide(
                    self.config.policy,
                    ok=ok,
                    error=attempt.error,
                    attempt_no=c.attempt_no,
                    now=now,
                    deadline=c.deadline,
                    rand=random.random(),
                )
                if decision.state == "delivered":
                    delivered.append(c)
                    finished.append(c)
                    continue
                assert decision.error is not None
                if decision.retry_at is None:
                    await repo.failed(c, decision.error)
                    finished.append(c)
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
            if delivered:
                await repo.delivered(delivered)
            if finished:
                await repo.unpark_next(finished)
        self.delivered += len(delivered)
        self.failed_attempts += len(batch) - len(delivered)


async def encrypt_secrets_at_rest(pool: asyncpg.Pool, box: SecretBox) -> int:
    """Encrypt any secret still stored in clear (rows from before encryption, or from an older
    replica during a rolling upgrade) and re-encrypt tokens of an older key with the current one
    (key rotation). Run at start-up and at every sweep of the worker; rows another replica is
    rewriting are skipped. Returns how many were rewritten."""
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        repo = SubscriptionRepository(conn)
        for sub_id, stored in await repo.secrets_to_encrypt(box.current):
            if not box.needs_rotation(stored):
                continue
            aad = webhooks.aad(sub_id)
            clear = box.decrypt(stored, aad=aad) if box.is_token(stored) else stored
            await repo.set_secret(sub_id, box.encrypt(clear, aad=aad))
            changed += 1
    if changed:
        log.info("webhook_secrets_encrypted", subscriptions=changed, key_id=box.current)
    return changed
