"""Response models of the status service's HTTP API (they make its part of the OpenAPI document).

Liberal where the stored rows are (``extra="allow"``: an entry recorded by an older version keeps
the fields it had); every field the routes write is declared, since a response model drops the rest.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from ail_shared.inputs import IdentifierText
from ail_shared.paging import Page
from ail_status.domain.model import WEBHOOK_TYPES


class StatusView(BaseModel):
    application_id: str = Field(examples=["0b8e4f3c-2a5d-4c61-9f7e-1d2c3b4a5968"])
    enterprise_code: str = Field(examples=["1100776367555"])
    serial_no: str | None = None
    status: str = Field(examples=["first_review_approved"])
    status_reason: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    customs_status: str | None = None
    license_state: str | None = Field(
        None,
        description="the license's state (ail_shared.licenses: valid, used_up, surrendered, cancelled,"
        " expired); null before the license is issued",
        examples=["valid"],
    )
    last_event_id: str | None = None
    last_event_type: str | None = None
    updated_at: datetime | None = None


class EventRef(BaseModel):
    id: str
    type: str = Field(examples=["SubmissionAccepted"])


class OperationsActionRef(BaseModel):
    action: Literal["redrive", "skip"]
    actor: str = Field(description="who: the operations principal")
    at: datetime
    reason: str = Field(description="why, as the operator wrote it")
    dead_letter_topic: str = Field(examples=["ail.signer.dlt"])
    partition: int
    offset: int
    source_topic: str


class HistoryEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    application_id: str | None = None
    enterprise_code: str | None = None
    serial_no: str | None = None
    status: str | None = Field(None, description="the status this event set; null for customs events")
    previous_status: str | None = None
    current_status: str | None = Field(None, description="the application's status after it")
    customs_status: str | None = None
    occurred_at: str | None = Field(None, description="when it happened (ISO 8601)")
    recorded_at: datetime | None = Field(None, description="when this service learned it")
    event: EventRef | None = None
    reason: str | None = None
    opinion: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    details: Any = None
    operations: OperationsActionRef | None = Field(
        None,
        description="an operations action on a dead-lettered message of this application"
        " (who, when, why); null for a lifecycle event",
    )


class History(Page[HistoryEntry]):
    """The application's history entries (``items``) as a page, with the application they belong to."""

    application_id: str
    enterprise_code: str
    serial_no: str | None = None
    status: str | None = None
    customs_status: str | None = None
    license_state: str | None = Field(
        None,
        description="the license's state (ail_shared.licenses: valid, used_up, surrendered, cancelled,"
        " expired); null before the license is issued",
        examples=["valid"],
    )
    form_no: str | None = None
    license_no: str | None = None


# A webhook type: the schema lists the allowed ones (clients build their choices from it); the
# route checks them itself (``subscriptions_api.event_type_problems``) so that one answer names
# every wrong entry with the allowed ones.
WebhookTypeText = Annotated[
    IdentifierText, WithJsonSchema({"type": "string", "enum": list(WEBHOOK_TYPES), "maxLength": 64})
]


class SubscriptionView(BaseModel):
    id: str
    enterprise_code: str
    url: str = Field(examples=["https://hooks.example.com/ail"])
    all_applications: bool
    application_ids: list[str]
    description: str
    retry_period_seconds: int
    event_types: list[WebhookTypeText] | None = Field(
        None,
        examples=[["application.license_issued"]],
        description="the webhook types it receives; null: every type",
    )
    created_at: str = Field(description="ISO 8601")


class CreatedSubscriptionView(SubscriptionView):
    secret: str | None = Field(
        None,
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
        description="the signing secret (Standard Webhooks), shown on creation only",
    )


class SubscriptionList(Page[SubscriptionView]):
    """The tenant's subscriptions, one page."""


class DeliveryView(BaseModel):
    model_config = ConfigDict(extra="allow")
    id: str
    cursor: int = Field(description="the delivery's place in the queue order")
    application_id: str | None = None
    event_id: str
    event_type: str
    sequence: int | None = None
    state: str = Field(examples=["delivered"])
    attempts: int
    next_attempt_at: datetime | None = None
    deadline: datetime | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None
    failed_at: datetime | None = None
    last_error: str | None = None
    redeliveries: int | None = None
    retry_period_seconds: int | None = None
    attempt_log: list[dict[str, Any]] | None = Field(None, description="every attempt, oldest first")


class DeliveryPage(Page[DeliveryView]):
    """A subscription's deliveries in the order they were queued, one page."""


class RedeliveryView(BaseModel):
    id: str
    state: str = Field(examples=["pending"])


class StatusFigures(BaseModel):
    count: int
    p50_seconds: float | None = None
    p90_seconds: float | None = None
    p99_seconds: float | None = None


class DayFigures(StatusFigures):
    day: str = Field(examples=["2026-12-01"])
    status: str


class SubmitObjective(BaseModel):
    from_status: str = Field(examples=["submitting"])
    to_status: str = Field(examples=["pending_first_review"])
    seconds: float
    reached: int
    within: int
    overdue: int
    undecided: int
    returned: int
    share: float | None = Field(None, description="within / (reached + overdue); null when none decided")


class TimeInStatus(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: datetime = Field(alias="from")
    to: datetime
    per_status: dict[str, StatusFigures]
    per_day: list[DayFigures]
    objective: SubmitObjective
