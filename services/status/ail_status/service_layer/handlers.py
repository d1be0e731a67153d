"""The use cases of the status service, each a handler that takes the unit of work.

``EVENT_HANDLERS`` (keyed by event type; the consumer binds them with
``ail_shared.consumer.bind_handlers``, so each runs in the consumer's transaction with its inbox
record): every lifecycle event updates the view (forward only), is logged in the history and
queued for the subscriptions (webhooks) and the live stream; the NOTIFYs go out at commit.

``COMMAND_HANDLERS`` (keyed by command type; called through :func:`handle` by the routes and the
delivery worker): subscribe, unsubscribe, redeliver, record what delivery attempts came to, and
encrypt the webhook secrets at rest.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ail_shared.consumer import EventHandler, PermanentError
from ail_shared.errors import Conflict, NotFound
from ail_shared.events import (
    Envelope,
    Event,
)
from ail_shared.logging import get_logger
from ail_shared.retry import now_utc
from ail_shared.secretbox import SecretBox
from ail_status.domain import model, webhooks
from ail_status.domain.commands import (
    Command,
    CreateSubscription,
    DeleteSubscription,
    EncryptSecretsAtRest,
    RecordDeliveryOutcomes,
    Redeliver,
)
from ail_status.domain.model import LIFECYCLE_EVENTS
from ail_status.domain.webhooks import Claimed, Subscription
from ail_status.service_layer.unit_of_work import StatusUnitOfWork

log = get_logger("ail.status.webhooks")


@dataclass(frozen=True)
class Context:
    """What the command handlers need besides the unit of work."""

    box: SecretBox  # the key ring of the webhook secrets at rest
    policy: webhooks.RetryPolicy  # the retry schedule of failed deliveries
    clock: Callable[[], datetime] = field(default=now_utc)
    rand: Callable[[], float] = field(default=random.random)  # jitter of the retry schedule


# ------------------------------------------------------------------ events


async def record_lifecycle_event(uow: StatusUnitOfWork, event: Event, env: Envelope) -> None:
    """Apply one lifecycle event: the view moves only forward (``domain.model.apply``), the event
    is always logged in the history and pushed (deliveries for the matching subscriptions, the
    live stream)."""
    fact = model.describe(event)
    if fact is None:
        return
    ref = model.EventRef(
        application_id=env.aggregate_id,
        enterprise_code=env.tenant,
        event_id=env.event_id,
        event_type=env.event_type,
        occurred_at=env.occurred_at,
    )
    async with uow:
        view = await uow.views.current(application_id=env.aggregate_id)
        try:
            change = model.apply(view, fact, ref)
        except model.TenantMismatch as exc:
            raise PermanentError(str(exc)) from exc
        await uow.views.record(change)


# One use case for every lifecycle event: what differs per type is the fact it records
# (``domain.model.describe``).
EVENT_HANDLERS: Mapping[type[Event], EventHandler[StatusUnitOfWork]] = dict.fromkeys(
    LIFECYCLE_EVENTS, record_lifecycle_event
)


# ------------------------------------------------------------------ commands


@dataclass(frozen=True)
class CreatedSubscription:
    subscription: Subscription
    secret: str  # shown once, to the creator


async def create_subscription(
    uow: StatusUnitOfWork, cmd: CreateSubscription, ctx: Context
) -> CreatedSubscription:
    """Subscribe a webhook URL (checked by the route) with a new signing secret, stored
    encrypted. Applications named one by one must be known applications of the enterprise."""
    async with uow:
        ids = list(cmd.application_ids)
        if ids:
            owned = await uow.subscriptions.owned_applications(
                application_ids=ids, enterprise_code=cmd.enterprise_code
            )
            missing = [a for a in ids if a not in owned]
            if missing:
                raise NotFound(
                    f"application(s) not found for enterprise {cmd.enterprise_code}:"
                    f" {', '.join(missing[:20])}"
                    " (only submitted applications of your enterprise can be followed one by one)"
                )
        secret = webhooks.new_secret()
        sub = Subscription(
            id=uuid.uuid4(),
            enterprise_code=cmd.enterprise_code,
            url=cmd.url,
            all_applications=cmd.all_applications,
            application_ids=tuple(ids),
            description=cmd.description,
            retry_period_seconds=cmd.retry_period_seconds,
            created_by=cmd.created_by,
            created_at=ctx.clock(),
            event_types=cmd.event_types,
        )
        await uow.subscriptions.add(sub, secret_token=ctx.box.encrypt(secret, aad=webhooks.aad(sub.id)))
    return CreatedSubscription(sub, secret)


async def delete_subscription(uow: StatusUnitOfWork, cmd: DeleteSubscription, ctx: Context) -> None:
    """Cancel a subscription and its pending deliveries (NotFound if it is not the caller's)."""
    async with uow:
        await uow.subscriptions.get(id=cmd.subscription_id, enterprise_codes=cmd.enterprise_codes, lock=True)
        await uow.subscriptions.delete(id=cmd.subscription_id)


async def redeliver(uow: StatusUnitOfWork, cmd: Redeliver, ctx: Context) -> None:
    """Put a failed or delivered delivery back in its queue, with a fresh retry period."""
    async with uow:
        sub = await uow.subscriptions.get(
            id=cmd.subscription_id, enterprise_codes=cmd.enterprise_codes, lock=True
        )
        period = sub.retry_period_seconds or uow.default_retry_period
        if not await uow.subscriptions.redeliver(
            subscription_id=cmd.subscription_id, delivery_id=cmd.delivery_id, retry_period_seconds=period
        ):
            state = await uow.subscriptions.delivery_state(
                subscription_id=cmd.subscription_id, delivery_id=cmd.delivery_id
            )
            raise Conflict(
                f"delivery {cmd.delivery_id} is {state}; only a failed or delivered one can be sent again"
            )
        await uow.subscriptions.wake_deliveries()


@dataclass(frozen=True)
class RecordedOutcomes:
    delivered: int
    failed_attempts: int
    # queues to free again once their application is no longer locked by the consumer
    recheck: tuple[tuple[uuid.UUID, str], ...] = ()


async def record_delivery_outcomes(
    uow: StatusUnitOfWork, cmd: RecordDeliveryOutcomes, ctx: Context
) -> RecordedOutcomes:
    """Record a batch of attempts and decide each delivery: delivered, retried later (backoff
    within its retry period) or failed; a finished one lets the next of its queue go. A queue
    whose application the consumer holds at that moment is freed as far as can be seen now and
    returned in ``recheck``, to be freed again in a later batch (``adapters/subscriptions.py``);
    nothing here waits for the consumer's transaction."""
    delivered: list[Claimed] = []
    finished: list[Claimed] = []
    async with uow:
        repo = uow.subscriptions
        locked = await repo.lock_applications(
            application_ids=[a.claimed.application_id for a, _ in cmd.outcomes] + [a for _, a in cmd.recheck]
        )
        await repo.record_attempts([a for a, _ in cmd.outcomes])
        for attempt, ok in cmd.outcomes:
            c = attempt.claimed
            decision = webhooks.decide(
                ctx.policy,
                ok=ok,
                error=attempt.error,
                attempt_no=c.attempt_no,
                now=cmd.now,
                deadline=c.deadline,
                rand=ctx.rand(),
                retry_after=attempt.retry_after,
            )
            if decision.state == "delivered":
                delivered.append(c)
                finished.append(c)
                continue
            error = decision.error or "failed"
            if decision.retry_at is None:
                await repo.failed(c, error=error)
                finished.append(c)
                log.warning(
                    "webhook_failed",
                    delivery=str(c.public_id),
                    subscription=str(c.subscription_id),
                    attempts=c.attempt_no,
                    error=error,
                )
            else:
                await repo.retry_at(c, when=decision.retry_at, error=error)
                log.info(
                    "webhook_retry",
                    delivery=str(c.public_id),
                    attempt=c.attempt_no,
                    error=error,
                    retry_at=decision.retry_at.isoformat(),
                )
        if delivered:
            await repo.delivered(delivered)
        queues = {(c.subscription_id, c.application_id) for c in finished} | set(cmd.recheck)
        if queues:
            await repo.unpark_next(sorted(queues))
    return RecordedOutcomes(
        delivered=len(delivered),
        failed_attempts=len(cmd.outcomes) - len(delivered),
        recheck=tuple(sorted(q for q in queues if q[1] not in locked)),
    )


async def encrypt_secrets_at_rest(uow: StatusUnitOfWork, cmd: EncryptSecretsAtRest, ctx: Context) -> int:
    """Encrypt any secret still stored in clear (rows from before encryption, or from an older
    replica during a rolling upgrade) and re-encrypt tokens of an older key with the current one
    (key rotation). Run at start-up and at every sweep of the delivery worker; rows another
    replica is rewriting are skipped. Returns how many were rewritten."""
    box = ctx.box
    changed = 0
    async with uow:
        for sub_id, stored in await uow.subscriptions.secrets_to_encrypt(current_key_id=box.current):
            if not box.needs_rotation(stored):
                continue
            aad = webhooks.aad(sub_id)
            clear = box.decrypt(stored, aad=aad) if box.is_token(stored) else stored
            await uow.subscriptions.set_secret(id=sub_id, token=box.encrypt(clear, aad=aad))
            changed += 1
    if changed:
        log.info("webhook_secrets_encrypted", subscriptions=changed, key_id=box.current)
    return changed


CommandHandler = Callable[[StatusUnitOfWork, Any, Context], Awaitable[Any]]

COMMAND_HANDLERS: Mapping[type[Command], CommandHandler] = {
    CreateSubscription: create_subscription,
    DeleteSubscription: delete_subscription,
    Redeliver: redeliver,
    RecordDeliveryOutcomes: record_delivery_outcomes,
    EncryptSecretsAtRest: encrypt_secrets_at_rest,
}


async def handle(uow: StatusUnitOfWork, cmd: Command, ctx: Context) -> Any:
    """Run the handler of ``cmd``'s type (``COMMAND_HANDLERS``) and return its result."""
    return await COMMAND_HANDLERS[type(cmd)](uow, cmd, ctx)
