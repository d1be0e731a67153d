"""The background workers of the status service, on the shared worker helper
(``ail_shared.workers.Worker``: poll, wake, back off, stop).

``DeliveryWorker`` sends the webhooks: a *claim* worker takes due deliveries (``FOR UPDATE SKIP
LOCKED`` plus a lease, so replicas share the work and a crashed one's deliveries are taken over
when the lease ends) and sends each in a task of its own; a *recorder* worker writes what the
attempts came to in batches (one transaction for all the attempts that finished meanwhile, which
keeps commits, not HTTP, from being the limit; the decision is the ``RecordDeliveryOutcomes``
handler's); a *sweep* worker unparks deliveries left parked and encrypts secrets at rest.

``listener`` keeps the LISTEN connection of ``adapters.notifications`` open (a lost connection
is reopened with the helper's backoff).

The webhook HTTP adapter makes exactly one attempt per delivery: retries are the worker's
business, since they span minutes to hours and survive restarts (``domain.webhooks.decide``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import asyncpg

from ail_shared import metrics, retry
from ail_shared.logging import get_logger
from ail_shared.secretbox import SecretBoxError
from ail_shared.telemetry import continue_trace
from ail_shared.workers import Worker
from ail_status.adapters.notifications import Notifications
from ail_status.adapters.webhook_client import Outcome, WebhookSender
from ail_status.domain import webhooks
from ail_status.domain.commands import EncryptSecretsAtRest, RecordDeliveryOutcomes
from ail_status.domain.model import webhook_type
from ail_status.domain.webhooks import Attempt, Claimed
from ail_status.service_layer.handlers import Context, RecordedOutcomes, handle
from ail_status.service_layer.unit_of_work import StatusUnitOfWork

log = get_logger("ail.status.webhooks")

# Recording a batch may meet a deadlock or a serialization failure (a consumer queueing
# deliveries for the same applications): the transaction rolled back whole, so recording the
# same outcomes again is safe, and dropping them would resend every delivery of the batch when
# its lease ends.
CONTENTION = retry.RetryPolicy(attempts=6, base=0.05, cap=1.0)


def _contention(exc: BaseException) -> bool:
    return isinstance(exc, asyncpg.exceptions.DeadlockDetectedError | asyncpg.exceptions.SerializationError)


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int
    lease_seconds: float
    poll_seconds: float
    sweep_seconds: float = 30.0
    coalesce_seconds: float = 0.005  # wake-ups that come together make one claim
    recheck_seconds: float = 0.05  # how soon queues the consumer held are freed again


class DeliveryWorker:
    def __init__(
        self,
        uow: Callable[[], StatusUnitOfWork],
        sender: WebhookSender,
        config: WorkerConfig,
        ctx: Context,
    ) -> None:
        self.uow = uow  # a new unit of work on the pool, per step
        self.sender = sender
        self.ctx = ctx  # the key ring opens the subscriptions' encrypted secrets, only to sign
        self.config = config
        self.inflight: set[asyncio.Task[None]] = set()
        self.delivered = 0
        self.failed_attempts = 0
        self._results: list[tuple[Attempt, bool]] = []
        self._recheck: tuple[tuple[UUID, str], ...] = ()  # queues to free again (RecordedOutcomes)
        self._waited = False
        self.claimer = Worker("webhook-claim", self._claim, poll_seconds=config.poll_seconds)
        self.recorder = Worker("webhook-recorder", self._record, poll_seconds=config.poll_seconds)
        self.sweeper = Worker("webhook-sweep", self._sweep, poll_seconds=config.sweep_seconds)

    def wake(self) -> None:
        """New deliveries are due (NOTIFY) or a queue moved on: claim now."""
        self.claimer.wake()

    def stop(self) -> None:
        for w in (self.claimer, self.recorder, self.sweeper):
            w.stop()

    async def run(self) -> None:
        tasks = [
            asyncio.create_task(w.run(), name=w.name) for w in (self.claimer, self.recorder, self.sweeper)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for t in (*tasks, *self.inflight):
                t.cancel()
            await asyncio.gather(*tasks, *self.inflight, return_exceptions=True)
            with contextlib.suppress(Exception):
                await self._flush()  # what was sent is recorded; the rest is taken over by lease

    # ------------------------------------------------------------ claim and send

    async def _claim(self) -> float | None:
        if self._waited:
            self._waited = False
            await asyncio.sleep(self.config.coalesce_seconds)
        free = self.config.concurrency - len(self.inflight)
        if free <= 0:
            await asyncio.wait(set(self.inflight), return_when=asyncio.FIRST_COMPLETED)
            return 0
        async with self.uow() as uow:
            claimed = await uow.subscriptions.claim(limit=free, lease_seconds=self.config.lease_seconds)
        for c in claimed:
            task = asyncio.create_task(self._deliver(c), name=f"webhook-{c.public_id}")
            self.inflight.add(task)
            task.add_done_callback(self.inflight.discard)
        if len(claimed) < free:
            self._waited = True
            return None  # the poll interval, or until woken
        return 0

    async def _deliver(self, c: Claimed) -> None:
        # Continues the trace of the event that queued the delivery: the POST to the receiver
        # carries its traceparent (the httpx instrumentation).
        with continue_trace(
            c.trace_context,
            "deliver webhook",
            attributes={"ail.delivery_id": str(c.public_id), "ail.attempt": c.attempt_no},
        ):
            await self._deliver_traced(c)

    async def _deliver_traced(self, c: Claimed) -> None:
        msg_id = str(c.event_id)
        body = webhooks.body(webhook_type(c.event_type), c.occurred_at.isoformat(), c.payload)
        started_at = datetime.now(UTC)
        t0 = time.perf_counter()
        box = self.ctx.box
        try:
            # A clear secret is a row written before encryption (or by an older replica during a
            # rolling upgrade): used as it is, and encrypted by the next sweep.
            secret = (
                box.decrypt(c.secret, aad=webhooks.aad(c.subscription_id))
                if box.is_token(c.secret)
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
            retry_after=outcome.retry_after,
        )
        # One webhook delivery attempt is one external call; a later attempt of the same
        # delivery is a retry (the worker spreads them over hours, not within one call).
        metrics.external_call(
            "webhook",
            "ok"
            if outcome.ok
            else (
                "unavailable"
                if outcome.status_code is None
                else metrics.outcome_of_status(outcome.status_code)
            ),
            attempt.duration_ms / 1000,
            retries=1 if c.attempt_no > 1 else 0,
        )
        self._results.append((attempt, outcome.ok))
        self.recorder.wake()

    # ------------------------------------------------------------ record

    async def _record(self) -> float | None:
        await self._flush()
        # Queues the consumer held: freed again soon (its transaction is one poll's events).
        return self.config.recheck_seconds if self._recheck else None

    async def _flush(self) -> None:
        batch, self._results = self._results, []
        recheck = self._recheck
        if not batch and not recheck:
            return

        async def record() -> RecordedOutcomes:
            cmd = RecordDeliveryOutcomes(outcomes=tuple(batch), now=self.ctx.clock(), recheck=recheck)
            result: RecordedOutcomes = await handle(self.uow(), cmd, self.ctx)
            return result

        try:
            done = await retry.call(
                record, policy=CONTENTION, retry_on=_contention, what="recording webhook outcomes"
            )
        finally:
            self.claimer.wake()  # a recorded outcome may free the next delivery of its queue
        self._recheck = done.recheck
        self.delivered += done.delivered
        self.failed_attempts += done.failed_attempts

    # ------------------------------------------------------------ sweep

    async def _sweep(self) -> float | None:
        async with self.uow() as uow:
            unparked = await uow.subscriptions.sweep()
        if unparked:
            log.warning("webhook_sweep_unparked", deliveries=unparked)
        await handle(self.uow(), EncryptSecretsAtRest(), self.ctx)
        return None


def listener(notifications: Notifications) -> Worker:
    """The worker that keeps ``notifications`` listening (reconnecting with backoff)."""

    async def listen() -> float | None:
        await notifications.listen(stopping=lambda: worker.stopping, pause=worker.pause)
        return None  # the connection closed: open a new one after the poll interval

    worker = Worker("status-notifications", listen, poll_seconds=0.5)
    return worker
