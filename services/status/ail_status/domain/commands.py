"""Commands of the status service: what a route or a worker asks the service layer to do."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from ail_status.domain.webhooks import Attempt


class Command:
    """Base of the commands (frozen dataclasses, imperative names; data only)."""


@dataclass(frozen=True)
class CreateSubscription(Command):
    enterprise_code: str
    url: str  # checked by the route (netguard) before the command is built
    application_ids: tuple[str, ...]
    all_applications: bool
    description: str
    retry_period_seconds: int | None
    created_by: str
    event_types: tuple[str, ...] | None = None  # checked by the route; None: every webhook type


@dataclass(frozen=True)
class DeleteSubscription(Command):
    subscription_id: UUID
    enterprise_codes: tuple[str, ...]


@dataclass(frozen=True)
class Redeliver(Command):
    subscription_id: UUID
    delivery_id: UUID
    enterprise_codes: tuple[str, ...]


@dataclass(frozen=True)
class RecordDeliveryOutcomes(Command):
    """What the delivery worker's attempts came to, recorded in one transaction."""

    outcomes: tuple[tuple[Attempt, bool], ...]  # (the attempt, whether the receiver acknowledged)
    now: datetime
    # (subscription, application) queues whose next delivery an earlier batch could not be sure
    # to free (their application was locked by the consumer): freed again now.
    recheck: tuple[tuple[UUID, str], ...] = ()


@dataclass(frozen=True)
class EncryptSecretsAtRest(Command):
    """Encrypt secrets still stored in clear and re-encrypt those of an older key."""
