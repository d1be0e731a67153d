"""Fakes of the status service's unit of work: in-memory views, change log, subscriptions and
deliveries, behaving as ``adapters/repository.py`` and ``adapters/subscriptions.py`` do (a change
queues one delivery per live subscription of the enterprise that follows the application and
wants the change's webhook type, and
wakes the streams and the delivery worker). A unit of work that leaves with an exception rolls
the store back, as the transaction would."""

from __future__ import annotations

import copy
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

from ail_shared.errors import NotFound
from ail_shared.events import Envelope, Event, envelope_for
from ail_shared.secretbox import SecretBox
from ail_status.adapters.repository import Recorded
from ail_status.domain.model import ApplicationView, Change, webhook_type
from ail_status.domain.webhooks import Attempt, Claimed, RetryPolicy, Subscription
from ail_status.service_layer.handlers import Context

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
KEY_RING = "k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, tests only


@dataclass
class FakeSubscription:
    subscription: Subscription
    token: str  # the stored (encrypted) secret
    deleted: bool = False


@dataclass
class FakeDelivery:
    row_id: int
    public_id: UUID
    subscription_id: UUID
    application_id: str
    event_id: UUID
    sequence: int
    retry_period_seconds: int
    state: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    redeliveries: int = 0


@dataclass
class Store:
    views: dict[str, ApplicationView] = field(default_factory=dict)
    changes: list[dict[str, Any]] = field(default_factory=list)  # history entries with "sequence"
    sequences: dict[str, int] = field(default_factory=dict)
    subscriptions: dict[UUID, FakeSubscription] = field(default_factory=dict)
    deliveries: list[FakeDelivery] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    notified: list[str] = field(default_factory=list)  # NOTIFY channels (sent at commit)
    locked: list[str] = field(default_factory=list)  # applications locked by the recorder
    held_by_consumer: set[str] = field(default_factory=set)  # the recorder's lock skips these
    unparked: list[list[tuple[UUID, str]]] = field(default_factory=list)  # queues, per unpark_next

    def history(self, application_id: str) -> list[dict[str, Any]]:
        return sorted(
            (c for c in self.changes if c["application_id"] == application_id),
            key=lambda c: (c["occurred_at"], c["sequence"]),
        )

    def pushed(self, subscription_id: UUID) -> list[UUID]:
        """The event ids queued for a subscription, in order."""
        return [d.event_id for d in self.deliveries if d.subscription_id == subscription_id]


class FakeViews:
    def __init__(self, store: Store, default_retry_period: int) -> None:
        self.store = store
        self.default_retry_period = default_retry_period

    async def current(self, *, application_id: str) -> ApplicationView | None:
        return self.store.views.get(application_id)

    async def record(self, change: Change) -> Recorded:
        s = self.store
        v = change.view
        s.views[v.application_id] = v
        seq = s.sequences.get(v.enterprise_code, 0) + 1
        s.sequences[v.enterprise_code] = seq
        s.changes.append({**change.entry, "sequence": seq})
        queued = 0
        for fs in s.subscriptions.values():
            sub = fs.subscription
            if fs.deleted or sub.enterprise_code != v.enterprise_code:
                continue
            if not (sub.all_applications or v.application_id in sub.application_ids):
                continue
            if not sub.wants(webhook_type(change.event_type)):
                continue
            s.deliveries.append(
                FakeDelivery(
                    row_id=len(s.deliveries) + 1,
                    public_id=uuid.uuid4(),
                    subscription_id=sub.id,
                    application_id=v.application_id,
                    event_id=change.event_id,
                    sequence=seq,
                    retry_period_seconds=sub.retry_period_seconds or self.default_retry_period,
                )
            )
            queued += 1
        s.notified.append(f"changes:{v.enterprise_code}")
        if queued:
            s.notified.append("deliveries")
        return Recorded(sequence=seq, deliveries=queued)


class FakeSubscriptions:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.fail_recording: list[BaseException] = []  # raised by record_attempts, one per call

    async def add(self, subscription: Subscription, *, secret_token: str) -> None:
        self.store.subscriptions[subscription.id] = FakeSubscription(subscription, secret_token)

    async def secret_token(self, *, id: UUID, enterprise_code: str) -> str | None:
        fs = self.store.subscriptions.get(id)
        if fs is None or fs.deleted or fs.subscription.enterprise_code != enterprise_code:
            return None
        return fs.token

    async def secrets_to_encrypt(self, *, current_key_id: str) -> list[tuple[UUID, str]]:
        return [
            (i, fs.token)
            for i, fs in sorted(self.store.subscriptions.items())
            if not fs.token.startswith(f"v1:{current_key_id}:")
        ]

    async def set_secret(self, *, id: UUID, token: str) -> None:
        self.store.subscriptions[id].token = token

    async def owned_applications(self, *, application_ids: list[str], enterprise_code: str) -> set[str]:
        views = self.store.views
        return {a for a in application_ids if a in views and views[a].enterprise_code == enterprise_code}

    async def get(self, *, id: UUID, enterprise_codes: tuple[str, ...], lock: bool = False) -> Subscription:
        fs = self.store.subscriptions.get(id)
        if fs is None or fs.deleted or fs.subscription.enterprise_code not in enterprise_codes:
            raise NotFound(f"subscription {id} not found")
        return fs.subscription

    async def delete(self, *, id: UUID) -> None:
        self.store.subscriptions[id].deleted = True
        for d in self.store.deliveries:
            if d.subscription_id == id and d.state == "pending":
                d.state = "cancelled"

    def _delivery(self, subscription_id: UUID, delivery_id: UUID) -> FakeDelivery | None:
        for d in self.store.deliveries:
            if d.public_id == delivery_id and d.subscription_id == subscription_id:
                return d
        return None

    async def redeliver(self, *, subscription_id: UUID, delivery_id: UUID, retry_period_seconds: int) -> bool:
        d = self._delivery(subscription_id, delivery_id)
        if d is None or d.state not in ("failed", "delivered"):
            return False
        d.state, d.redeliveries, d.retry_period_seconds = "pending", d.redeliveries + 1, retry_period_seconds
        return True

    async def delivery_state(self, *, subscription_id: UUID, delivery_id: UUID) -> str:
        d = self._delivery(subscription_id, delivery_id)
        if d is None:
            raise NotFound(f"delivery {delivery_id} not found in subscription {subscription_id}")
        return d.state

    async def wake_deliveries(self) -> None:
        self.store.notified.append("deliveries")

    async def lock_applications(self, *, application_ids: list[str]) -> set[str]:
        free = sorted(set(application_ids) - self.store.held_by_consumer)
        self.store.locked.extend(free)
        return set(free)

    async def record_attempts(self, attempts: list[Attempt]) -> None:
        if self.fail_recording:
            raise self.fail_recording.pop(0)
        self.store.attempts.extend(attempts)

    def _row(self, c: Claimed) -> FakeDelivery | None:
        for d in self.store.deliveries:
            # the attempt number is the fencing token, as in the real repository
            if d.row_id == c.row_id and d.attempts == c.attempt_no and d.state == "pending":
                return d
        return None

    async def delivered(self, claimed: list[Claimed]) -> None:
        for c in claimed:
            if (d := self._row(c)) is not None:
                d.state, d.last_error = "delivered", None

    async def retry_at(self, c: Claimed, *, when: datetime, error: str) -> None:
        if (d := self._row(c)) is not None:
            d.next_attempt_at, d.last_error = when, error

    async def failed(self, c: Claimed, *, error: str) -> None:
        if (d := self._row(c)) is not None:
            d.state, d.last_error = "failed", error

    async def unpark_next(self, pairs: list[tuple[UUID, str]]) -> None:
        self.store.notified.append("unparked")
        self.store.unparked.append(sorted(pairs))

    async def claim(self, *, limit: int, lease_seconds: float) -> list[Claimed]:
        return []

    async def sweep(self) -> int:
        return 0


class FakeUnitOfWork:
    """Duck-types ``StatusUnitOfWork``: ``views``, ``subscriptions``, ``default_retry_period``;
    ``committed`` after a clean exit, the store rolled back after an exception."""

    def __init__(self, store: Store | None = None, *, default_retry_period: int = 86400) -> None:
        self.store = store if store is not None else Store()
        self.default_retry_period = default_retry_period
        self.views = FakeViews(self.store, default_retry_period)
        self.subscriptions = FakeSubscriptions(self.store)
        self.committed = False
        self.rolled_back = False
        self.events: list[Event] = []  # the status service publishes none
        self._saved: Store | None = None

    async def __aenter__(self) -> FakeUnitOfWork:
        self._saved = copy.deepcopy(self.store)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.committed = True
            return
        assert self._saved is not None
        self.rolled_back = True
        for name in vars(self._saved):
            setattr(self.store, name, getattr(self._saved, name))


def context(*, box: SecretBox | None = None, rand: float = 0.5) -> Context:
    return Context(
        box=box or SecretBox.from_setting(KEY_RING),
        policy=RetryPolicy(1.0, 600.0),
        clock=lambda: NOW,
        rand=lambda: rand,
    )


def env(
    event: Event, *, application_id: str = "app-1", tenant: str = "1100776367555", at: datetime
) -> Envelope:
    return envelope_for(event, aggregate_id=application_id, tenant=tenant, occurred_at=at)
