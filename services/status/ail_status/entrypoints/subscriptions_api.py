"""Push subscriptions: webhooks for chosen applications or for all of an enterprise, and the
deliveries made for them."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, ConfigDict, Field

from ail_shared import netguard
from ail_shared.errors import FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant, Pool
from ail_shared.idempotency import idempotent_response
from ail_shared.inputs import IdentifierText, Text, UrlText
from ail_shared.openapi import errors, located
from ail_shared.paging import ListPage
from ail_status.adapters import queries
from ail_status.adapters.repository import SCHEMA
from ail_status.config import MAX_RETRY_PERIOD_SECONDS
from ail_status.domain import webhooks
from ail_status.domain.commands import CreateSubscription, DeleteSubscription, Redeliver
from ail_status.domain.model import WEBHOOK_TYPES
from ail_status.domain.webhooks import Subscription
from ail_status.entrypoints.deps import StatusDeps
from ail_status.entrypoints.views import (
    CreatedSubscriptionView,
    DeliveryPage,
    RedeliveryView,
    SubscriptionList,
    SubscriptionView,
    WebhookTypeText,
)
from ail_status.service_layer.handlers import CreatedSubscription, handle

router = APIRouter(prefix="/api/v1/subscriptions", tags=["subscriptions"])
MAX_APPLICATIONS = 1000
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe writes: the same key and body replay the first response",
    ),
]


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: UrlText = Field(
        examples=["https://hooks.example.com/ail"],
        description="https:// URL that receives the webhooks (http:// too in development). Its host"
        " must be a public name or address: loopback, private, link-local, multicast, metadata"
        " addresses, internal names and non-canonical numeric forms are refused, checked again"
        " before every delivery",
    )
    application_ids: list[IdentifierText] | None = Field(
        default=None, description="the applications to follow; or set all_applications"
    )
    all_applications: bool = Field(default=False, description="follow every application of the enterprise")
    event_types: list[WebhookTypeText] | None = Field(
        default=None,
        examples=[["application.license_issued", "application.clearance_recorded"]],
        description="the webhook types to receive, each once; absent or null: every type (also"
        " those added later)",
    )
    # Ranges are checked in _problems, so that one answer names every problem.
    description: Text = Field(default="", description="at most 500 characters")
    retry_period_seconds: int | None = Field(
        default=None,
        description=f"1..{MAX_RETRY_PERIOD_SECONDS}: how long a failing delivery is retried from its"
        " first attempt; default: the service's setting",
    )


async def url_problems(url: str, policy: netguard.Policy, resolver: netguard.Resolver) -> list[FieldProblem]:
    try:
        await netguard.check(url, policy, resolver)
    except netguard.UrlRefused as exc:
        return [FieldProblem("url", reason) for reason in exc.reasons]
    return []


def event_type_problems(event_types: list[str] | None) -> list[FieldProblem]:
    """What is wrong with a subscription's ``event_types`` (None: every type, nothing wrong)."""
    if event_types is None:
        return []
    if not event_types:
        return [
            FieldProblem("event_types", "name at least one webhook type, or leave event_types out for all")
        ]
    problems: list[FieldProblem] = []
    if len(event_types) > len(WEBHOOK_TYPES):
        problems.append(FieldProblem("event_types", f"at most {len(WEBHOOK_TYPES)} webhook types"))
    if len(set(event_types)) != len(event_types):
        problems.append(FieldProblem("event_types", "lists a webhook type more than once"))
    problems += [
        FieldProblem(f"event_types.{i}", f"unknown webhook type {t!r}; one of: {', '.join(WEBHOOK_TYPES)}")
        for i, t in enumerate(event_types)
        if t not in WEBHOOK_TYPES
    ]
    return problems


def _problems(body: SubscriptionIn) -> list[FieldProblem]:
    problems: list[FieldProblem] = event_type_problems(body.event_types)
    ids = body.application_ids
    if body.all_applications and ids:
        problems.append(FieldProblem("application_ids", "give either application_ids or all_applications"))
    elif not body.all_applications and not ids:
        problems.append(
            FieldProblem("application_ids", "name at least one application, or set all_applications: true")
        )
    if ids:
        if len(ids) > MAX_APPLICATIONS:
            problems.append(FieldProblem("application_ids", f"at most {MAX_APPLICATIONS} applications"))
        if len(set(ids)) != len(ids):
            problems.append(FieldProblem("application_ids", "lists an application more than once"))
        problems += [
            FieldProblem(f"application_ids.{i}", "must not be empty")
            for i, a in enumerate(ids)
            if not a.strip()
        ]
    if len(body.description) > 500:
        problems.append(FieldProblem("description", "at most 500 characters"))
    period = body.retry_period_seconds
    if period is not None and not 1 <= period <= MAX_RETRY_PERIOD_SECONDS:
        problems.append(
            FieldProblem("retry_period_seconds", f"must be between 1 and {MAX_RETRY_PERIOD_SECONDS}")
        )
    return problems


def _out(sub: Subscription, default_period: int) -> dict[str, Any]:
    return {
        "id": str(sub.id),
        "enterprise_code": sub.enterprise_code,
        "url": sub.url,
        "all_applications": sub.all_applications,
        "application_ids": list(sub.application_ids),
        "description": sub.description,
        "retry_period_seconds": sub.retry_period_seconds or default_period,
        "event_types": list(sub.event_types) if sub.event_types is not None else None,
        "created_at": sub.created_at.isoformat(),
    }


@router.post(
    "",
    status_code=201,
    response_model=CreatedSubscriptionView,
    summary="Subscribe a webhook",
    responses=errors(404, e404="an application id this service does not know for your enterprise"),
)
async def create_subscription(
    body: SubscriptionIn,
    pool: Pool,
    tenant: CurrentTenant,
    deps: StatusDeps,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Subscribe a webhook URL. The response carries the signing ``secret`` (``whsec_...``); it
    is shown this once (and to a retry with the same Idempotency-Key, rebuilt from the encrypted
    copy while the subscription exists). An application id this service does not know for your
    enterprise (another tenant's, or not submitted yet) is refused with 404; subscribe with
    ``all_applications`` to follow new ones."""
    settings = deps.settings
    enterprise = tenant.enterprise_code
    problems = await url_problems(body.url, settings.url_policy(), settings.url_resolver()) + _problems(body)
    if problems:
        raise InvalidInput(f"{len(problems)} field(s) invalid", problems)
    cmd = CreateSubscription(
        enterprise_code=enterprise,
        url=body.url,
        application_ids=tuple(body.application_ids or ()),
        all_applications=body.all_applications,
        description=body.description,
        retry_period_seconds=body.retry_period_seconds,
        created_by=tenant.principal.id,
        event_types=tuple(body.event_types) if body.event_types is not None else None,
    )

    async def work(conn: Any) -> tuple[int, Any]:
        created: CreatedSubscription = await handle(deps.uow(conn), cmd, deps.ctx)
        return 201, {
            **_out(created.subscription, settings.webhook_retry_period_seconds),
            "secret": created.secret,
        }

    def without_secret(response: Any) -> Any:
        # The idempotency record is a plain copy of the answer: the secret never goes in it.
        return {k: v for k, v in response.items() if k != "secret"}

    async def with_secret(conn: Any, stored: Any) -> Any:
        # A retry whose first answer was lost still gets the secret (else the subscription could
        # never verify a delivery): decrypted from the subscription row, as long as it exists.
        token = await queries.secret_token(
            conn, subscription_id=uuid.UUID(stored["id"]), enterprise_code=enterprise
        )
        if token is None:
            return stored
        return {**stored, "secret": deps.ctx.box.decrypt(token, aad=webhooks.aad(stored["id"]))}

    response = await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path="/api/v1/subscriptions",
        body=body.model_dump(),
        work=work,
        stored=without_secret,
        replay=with_secret,
    )
    if response.status_code != 201:
        return response
    created_id = json.loads(bytes(response.body))["id"]
    return located(response, f"/api/v1/subscriptions/{created_id}")


@router.get("", response_model=SubscriptionList, summary="List the subscriptions")
async def list_subscriptions(pool: Pool, tenant: CurrentTenant, deps: StatusDeps, paging: ListPage) -> Any:
    period = deps.settings.webhook_retry_period_seconds
    async with pool.acquire() as conn:
        subs = await queries.subscriptions(conn, enterprise_codes=tenant.enterprise_codes)
    return paging.whole([_out(s, period) for s in subs])


@router.get(
    "/{subscription_id}",
    response_model=SubscriptionView,
    summary="Read a subscription",
    responses=errors(404),
)
async def get_subscription(
    subscription_id: uuid.UUID, pool: Pool, tenant: CurrentTenant, deps: StatusDeps
) -> Any:
    async with pool.acquire() as conn:
        sub = await queries.subscription(
            conn, subscription_id=subscription_id, enterprise_codes=tenant.enterprise_codes
        )
    return _out(sub, deps.settings.webhook_retry_period_seconds)


@router.delete("/{subscription_id}", status_code=204, summary="Delete a subscription", responses=errors(404))
async def delete_subscription(
    subscription_id: uuid.UUID, tenant: CurrentTenant, deps: StatusDeps
) -> Response:
    """Cancel a subscription; its pending deliveries are cancelled. Deleting it again gives 404."""
    cmd = DeleteSubscription(subscription_id=subscription_id, enterprise_codes=tenant.enterprise_codes)
    await handle(deps.uow(), cmd, deps.ctx)
    return Response(status_code=204)


def _delivery_out(d: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": str(d["public_id"]),
        "cursor": d["row_id"],
        "application_id": d["application_id"],
        "event_id": str(d["event_id"]),
        "event_type": d["event_type"],
        "sequence": d["seq"],
        "state": d["state"],
        "attempts": d["attempts"],
        "next_attempt_at": d["next_attempt_at"] if d["state"] == "pending" else None,
        "deadline": d["deadline"],
        "created_at": d["created_at"],
        "delivered_at": d["delivered_at"],
        "failed_at": d["failed_at"],
        "last_error": d["last_error"],
        "redeliveries": d["redeliveries"],
        "retry_period_seconds": d["retry_period_seconds"],
        "attempt_log": d["attempt_log"],
    }


@router.get(
    "/{subscription_id}/deliveries",
    response_model=DeliveryPage,
    summary="List a subscription's deliveries",
    responses=errors(404),
)
async def list_deliveries(
    subscription_id: uuid.UUID,
    pool: Pool,
    tenant: CurrentTenant,
    paging: ListPage,
    state: Literal["pending", "delivered", "failed", "cancelled"] | None = None,
    application_id: IdentifierText | None = None,
) -> Any:
    """Deliveries in the order they were queued, each with every attempt (time, duration, HTTP
    status and its standard reason, or the error; the receiver's body is never kept). Paged
    like every list (``page``, ``page_size``, ``total``; docs/architecture.md "Lists"): new
    deliveries are queued at the end, so a page already read stays as it was."""
    async with pool.acquire() as conn:
        total, items = await queries.deliveries(
            conn,
            subscription_id=subscription_id,
            enterprise_codes=tenant.enterprise_codes,
            state=state,
            application_id=application_id,
            offset=paging.offset,
            limit=paging.page_size,
        )
    return paging.of([_delivery_out(d) for d in items], total)


@router.post(
    "/{subscription_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=RedeliveryView,
    summary="Send a delivery again",
    responses=errors(404, 409),
)
async def redeliver(
    subscription_id: uuid.UUID,
    delivery_id: uuid.UUID,
    pool: Pool,
    tenant: CurrentTenant,
    deps: StatusDeps,
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """Send a failed (or an already delivered) delivery again, with a fresh retry period. It
    keeps its place in the application's queue and its webhook-id (the event id)."""
    cmd = Redeliver(
        subscription_id=subscription_id, delivery_id=delivery_id, enterprise_codes=tenant.enterprise_codes
    )

    async def work(conn: Any) -> tuple[int, Any]:
        await handle(deps.uow(conn), cmd, deps.ctx)
        return 202, {"id": str(delivery_id), "state": "pending"}

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path=f"/api/v1/subscriptions/{subscription_id}/deliveries/{delivery_id}/redeliver",
        body={},
        work=work,
    )
