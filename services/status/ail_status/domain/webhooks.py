"""Standard Webhooks (https://www.standardwebhooks.com): secrets, signatures, the retry
schedule and what a subscription may point at. Pure: no I/O.

A receiver verifies a delivery with the published ``standardwebhooks`` library::

    from standardwebhooks import Webhook
    Webhook("whsec_...").verify(raw_body, headers)   # raises WebhookVerificationError

or by hand: base64-decode the part of the secret after ``whsec_``, compute
HMAC-SHA256(key, f"{webhook-id}.{webhook-timestamp}.{raw body}"), base64-encode it and compare
(in constant time) with each ``v1,<signature>`` in the space-separated ``webhook-signature``
header; refuse timestamps more than 5 minutes from now. ``webhook-id`` is the event id: the
same for every attempt and every redelivery, so a receiver drops duplicates by it.

What a subscription may point at is ``ail_shared.netguard``'s rule (checked at subscription and
before every attempt); the secret is stored encrypted (``ail_shared.secretbox``, :func:`aad`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from ail_shared.retry import backoff


@dataclass(frozen=True)
class Subscription:
    """A push subscription: a webhook URL for chosen applications or all of an enterprise, and
    for chosen webhook types or all of them."""

    id: UUID
    enterprise_code: str
    url: str
    all_applications: bool
    application_ids: tuple[str, ...]
    description: str
    retry_period_seconds: int | None  # None: the service's default
    created_by: str
    created_at: datetime
    # The webhook types it receives (``domain.model.WEBHOOK_TYPES``); None: every type.
    event_types: tuple[str, ...] | None = None

    def wants(self, webhook_type: str) -> bool:
        """Whether a change of this webhook type is queued for the subscription (the rule the
        recording SQL applies: ``adapters/repository.py``, RECORD)."""
        return self.event_types is None or webhook_type in self.event_types


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds the lease of, with what it needs to send it."""

    row_id: int
    public_id: UUID
    subscription_id: UUID
    application_id: str
    event_id: UUID
    attempt_no: int  # the fencing token: only this attempt's outcome is recorded
    deadline: datetime
    created_at: datetime
    url: str
    secret: str  # the encrypted token (ail_shared.secretbox); the worker decrypts it to sign
    payload: dict[str, Any]
    event_type: str
    occurred_at: datetime
    # The W3C trace context of the event that queued it: the delivery continues that trace.
    trace_context: dict[str, str] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Attempt:
    claimed: Claimed
    started_at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None
    body: str | None
    retry_after: float | None = None  # seconds the receiver asked us to wait (Retry-After)


SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def aad(subscription_id: object) -> bytes:
    """Associated data of a subscription's encrypted secret: the token only opens in its row."""
    return f"status.subscriptions:{subscription_id}".encode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header value for one attempt."""
    to_sign = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), to_sign, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id, timestamp, body),
    }


def body(webhook_type: str, occurred_at: str, data: dict[str, Any]) -> bytes:
    """The JSON body: the Standard Webhooks envelope ``{type, timestamp, data}``. Keys sorted, so
    every attempt of one delivery sends the same bytes."""
    return json.dumps(
        {"type": webhook_type, "timestamp": occurred_at, "data": data},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    ).encode()


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float  # wait after the first failed attempt
    max_seconds: float  # longest wait between two attempts
    jitter: float = 0.2  # +- share of the wait, so receivers coming back are not stampeded

    def delay(self, failed_attempts: int, rand: float) -> float:
        """Wait before the next attempt after ``failed_attempts`` failures; ``rand`` in [0, 1)."""
        raw = backoff(max(failed_attempts, 1), base=self.base_seconds, cap=self.max_seconds)
        return max(0.0, raw * (1 + self.jitter * (2 * rand - 1)))


def after_failure(
    policy: RetryPolicy,
    failed_attempts: int,
    now: datetime,
    deadline: datetime,
    rand: float,
    retry_after: float | None = None,
) -> datetime | None:
    """When to try again, or None once the retry period is over (the delivery has failed). The
    receiver's ``Retry-After`` is honoured as a lower bound; the last attempt is made at the
    deadline itself, so the period is used to its end."""
    if now >= deadline:
        return None
    wait = policy.delay(failed_attempts, rand)
    if retry_after is not None:
        wait = max(wait, retry_after)
    return min(now + timedelta(seconds=wait), deadline)


@dataclass(frozen=True)
class Decision:
    """What becomes of a delivery after one attempt."""

    state: str  # "delivered", "pending" (try again at ``retry_at``) or "failed"
    retry_at: datetime | None = None
    error: str | None = None


def decide(
    policy: RetryPolicy,
    *,
    ok: bool,
    error: str | None,
    attempt_no: int,
    now: datetime,
    deadline: datetime,
    rand: float,
    retry_after: float | None = None,
) -> Decision:
    if ok:
        return Decision("delivered")
    error = error or "failed"
    when = after_failure(policy, attempt_no, now, deadline, rand, retry_after)
    if when is None:
        return Decision("failed", None, f"retry period ended after {attempt_no} attempts; last: {error}")
    return Decision("pending", when, error)
