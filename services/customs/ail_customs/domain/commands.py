"""Commands of the customs service: frozen dataclasses, imperative names. The entrypoints and the
workers build them; ``service_layer/handlers.py`` ``COMMAND_HANDLERS`` finds each one's handler."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ail_customs.domain.delivery import DeliveryOutcome, ResendPolicy
from ail_customs.domain.feed import FeedCursor


@dataclass(frozen=True)
class RequestResend:
    """The operator's re-send of a license to Customs (after send_failed or store_failed)."""

    license_no: str
    enterprise_codes: tuple[str, ...]
    principal: str


@dataclass(frozen=True)
class ClaimDueLicenses:
    """Take up to ``limit`` licenses due for delivery for one round, leased for ``lease_seconds``."""

    limit: int
    lease_seconds: float


@dataclass(frozen=True)
class OpsResendDelivery:
    """Operations: send a license (any tenant's) to Customs again now, with the reason."""

    license_no: str
    reason: str
    actor: str


@dataclass(frozen=True)
class CloseDelivery:
    """Operations: give up on delivering a license after send_failed or store_failed."""

    license_no: str
    reason: str
    actor: str


@dataclass(frozen=True)
class RecordDelivery:
    """Record what delivery round ``round`` of a license came to (unless a newer round took over)."""

    license_no: str
    round: int
    outcome: DeliveryOutcome
    started_at: datetime
    policy: ResendPolicy


@dataclass(frozen=True)
class ApplyFeedPage:
    """Apply a page of Customs' clearance feed read after ``after`` (epoch ``epoch``), if the
    stored cursor is still ``expected`` (else another replica moved it meanwhile)."""

    epoch: str
    after: int
    messages: tuple[dict[str, Any], ...]
    expected: FeedCursor | None


@dataclass(frozen=True)
class SurrenderLicense:
    """The applicant hands an unused valid license back (交回), with a reason."""

    license_no: str
    enterprise_codes: tuple[str, ...]
    principal: str
    reason: str


@dataclass(frozen=True)
class RequestReissue:
    """The applicant asks for a change or extension (变更 / 延期) of a license: a new draft."""

    license_no: str
    enterprise_codes: tuple[str, ...]
    principal: str


@dataclass(frozen=True)
class ClaimDueCancellations:
    """Take up to ``limit`` cancellations due for delivery to Customs, leased for ``lease_seconds``."""

    limit: int
    lease_seconds: float


@dataclass(frozen=True)
class RecordCancellation:
    """Record what cancellation round ``round`` of a license came to at Customs."""

    license_no: str
    round: int
    stored: bool
    detail: str
    policy: ResendPolicy


@dataclass(frozen=True)
class ExpireLicenses:
    """Move up to ``limit`` valid licenses past their last day (China date) to expired."""

    limit: int
