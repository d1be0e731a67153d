"""Operations: deliveries of licenses to Customs that wait, retry or are parked (their automatic
rounds spent), behind the entry point (``/api/v1/ops/customs-deliveries``), for the operations
API key only (403 for any other key, 401 without one). Resend one now, or close it with a
reason; every action is recorded (who, when, why) and shown with the delivery."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ail_customs.adapters import queries
from ail_customs.deps import CustomsDeps
from ail_customs.domain.commands import CloseDelivery, OpsResendDelivery
from ail_customs.domain.delivery import CUSTOMS_STATUS_LABEL
from ail_customs.entrypoints.api import LicenseNo
from ail_customs.service_layer.handlers import COMMAND_HANDLERS
from ail_shared.errors import NotFound
from ail_shared.http import CurrentTenant, Pool
from ail_shared.inputs import IdentifierText
from ail_shared.openapi import errors
from ail_shared.ops import OpsAction, OpsState, Why, operations_actor
from ail_shared.paging import ListPage, Page

router = APIRouter(prefix="/api/v1/ops/customs-deliveries", tags=["operations"])
REFUSED = "the Customs delivery queue is"


class DeliveryLastRequest(BaseModel):
    """What is sent to Customs for the license (ail_customs.service_layer.workers.license_message)."""

    size_bytes: int
    form_no: str
    commodity_code: str
    commodity_name: str
    quantity: str
    unit: str
    valid_until: date


class OpsDelivery(BaseModel):
    license_no: str
    application_id: str
    enterprise_code: str
    state: OpsState
    customs_status: str | None
    customs_status_label: str
    attempts: int = Field(description="delivery rounds so far")
    failed_rounds: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(
        description="the automatic re-send (or the running round's lease end)"
    )
    updated_at: datetime
    last_request: DeliveryLastRequest
    actions: list[OpsAction] = Field(description="what operations did: action, reason, actor, at")


class OpsDeliveryList(Page[OpsDelivery]):
    """One page of the queue, newest first."""


def _view(r: dict[str, Any]) -> dict[str, Any]:
    request = {
        "form_no": r["form_no"],
        "commodity_code": r["commodity_code"],
        "commodity_name": r["commodity_name"],
        "quantity": str(r["quantity"]),
        "unit": r["unit"],
        "valid_until": r["valid_until"],
    }
    failed = r["customs_status"] in ("send_failed", "store_failed")
    return {
        **{k: r[k] for k in ("license_no", "application_id", "enterprise_code", "customs_status")},
        "state": r["ops_state"],
        "customs_status_label": CUSTOMS_STATUS_LABEL.get(r["customs_status"], r["customs_status"] or "-"),
        "attempts": r["delivery_rounds"],
        "failed_rounds": r["failed_rounds"],
        "last_error": r["last_delivery_detail"] if failed and r["last_delivery_detail"] else None,
        "next_attempt_at": r["next_delivery_at"],
        "updated_at": r["updated_at"],
        "last_request": {"size_bytes": len(json.dumps(request, default=str).encode()), **request},
        "actions": r["actions"],
    }


async def _one(pool: Pool, license_no: str) -> dict[str, Any]:
    _, rows = await queries.ops_deliveries(pool, state=None, limit=1, license_no=license_no)
    if not rows:  # stored meanwhile: no longer in the queue
        raise NotFound(f"license {license_no} is not in the delivery queue (stored at Customs)")
    return _view(rows[0])


@router.get(
    "",
    summary="Deliveries to Customs that are queued, retrying, parked (rounds spent) or closed by operations",
    response_model=OpsDeliveryList,
    responses=errors(403, e403="not the operations key"),
)
async def list_ops_customs_deliveries(
    pool: Pool,
    tenant: CurrentTenant,
    paging: ListPage,
    state: Annotated[OpsState | None, Query(description="only deliveries in this state")] = None,
    license_no: Annotated[
        IdentifierText | None, Query(description="only this license (the console's search box)")
    ] = None,
) -> Any:
    operations_actor(tenant, refused=REFUSED)
    total, rows = await queries.ops_deliveries(
        pool, state=state, limit=paging.page_size, offset=paging.offset, license_no=license_no or None
    )
    return paging.of([_view(r) for r in rows], total)


@router.post(
    "/{license_no}/resend",
    summary="Send a failed (or closed) delivery to Customs again now, with fresh automatic rounds",
    response_model=OpsDelivery,
    responses=errors(404, 409, e409="already answered, stored or closed: nothing to do"),
)
async def resend_ops_customs_delivery(
    license_no: LicenseNo, body: Why, pool: Pool, tenant: CurrentTenant, deps: CustomsDeps
) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    cmd = OpsResendDelivery(license_no=license_no, reason=body.reason, actor=actor)
    await COMMAND_HANDLERS[OpsResendDelivery](deps.uow(), cmd)
    return await _one(pool, license_no)


@router.post(
    "/{license_no}/close",
    summary="Give up on a failed delivery to Customs, with the reason (no more automatic re-sends)",
    response_model=OpsDelivery,
    responses=errors(404, 409, e409="already answered, stored or closed: nothing to do"),
)
async def close_ops_customs_delivery(
    license_no: LicenseNo, body: Why, pool: Pool, tenant: CurrentTenant, deps: CustomsDeps
) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    cmd = CloseDelivery(license_no=license_no, reason=body.reason, actor=actor)
    await COMMAND_HANDLERS[CloseDelivery](deps.uow(), cmd)
    return await _one(pool, license_no)
