"""Operations: MOFCOM sends that wait, retry or are parked, behind the entry point
(``/api/v1/ops/submissions``), for the operations API key only (403 for any other key, 401
without one). Resend one now, or close it with a reason; every action is recorded (who, when,
why) and shown with the send."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from ail_shared.calendar import china_date
from ail_shared.canonical import canonical_json
from ail_shared.errors import NotFound
from ail_shared.http import CurrentTenant, Pool
from ail_shared.inputs import IdentifierText
from ail_shared.openapi import errors
from ail_shared.ops import OpsAction, OpsState, Why, operations_actor
from ail_shared.paging import ListPage, Page
from ail_submission.adapters import queries
from ail_submission.domain.commands import CloseSubmission, ResendSubmission
from ail_submission.domain.snapshot import summary
from ail_submission.entrypoints.api import DepsDep

router = APIRouter(prefix="/api/v1/ops/submissions", tags=["operations"])
REFUSED = "the MOFCOM send queue is"


class SendLastRequest(BaseModel):
    """What was (or will be) sent to MOFCOM, without the signature or the certificate."""

    size_bytes: int = Field(description="the canonical form bytes that are signed and sent")
    serial_no: str
    commodity_code: str
    commodity_name: str
    total_quantity: str
    unit: str
    ekey_serial: str | None
    algorithm: str | None


class OpsSubmission(BaseModel):
    submission_id: UUID
    application_id: UUID
    enterprise_code: str
    form_no: str | None
    state: OpsState
    attempts: int
    last_error: str | None
    next_attempt_at: datetime | None = Field(description="when the sender tries again (queued, retrying)")
    updated_at: datetime
    last_request: SendLastRequest
    actions: list[OpsAction] = Field(description="what operations did: action, reason, actor, at")


class OpsSubmissionList(Page[OpsSubmission]):
    """One page of the queue, newest first."""


def _view(row: dict[str, Any]) -> dict[str, Any]:
    snapshot = row["snapshot"] or {}
    about = summary(snapshot, fallback_year=china_date(row["updated_at"]).year)
    return {
        **{k: row[k] for k in ("submission_id", "application_id", "enterprise_code", "form_no")},
        "state": row["ops_state"],
        **{k: row[k] for k in ("attempts", "last_error", "next_attempt_at", "updated_at", "actions")},
        "last_request": {
            "size_bytes": len(canonical_json(snapshot)),
            "serial_no": about.serial_no or row["serial_no"],
            "commodity_code": about.commodity_code,
            "commodity_name": about.commodity_name,
            "total_quantity": str(about.total_quantity),
            "unit": about.unit,
            "ekey_serial": row["ekey_serial"],
            "algorithm": row["algorithm"],
        },
    }


async def _one(pool: Pool, submission_id: UUID) -> dict[str, Any]:
    _, rows = await queries.ops_submissions(pool, state=None, limit=1, submission_id=submission_id)
    if not rows:  # answered meanwhile: no longer in the queue
        raise NotFound(f"submission {submission_id} is not in the MOFCOM send queue")
    return _view(rows[0])


@router.get(
    "",
    summary="MOFCOM sends that are queued, retrying, parked (retries spent) or closed by operations",
    response_model=OpsSubmissionList,
    responses=errors(403, e403="not the operations key"),
)
async def list_ops_submissions(
    pool: Pool,
    tenant: CurrentTenant,
    paging: ListPage,
    state: Annotated[OpsState | None, Query(description="only sends in this state")] = None,
    serial_no: Annotated[
        IdentifierText | None, Query(description="only the sends of this serial number (流水号)")
    ] = None,
) -> Any:
    operations_actor(tenant, refused=REFUSED)
    total, rows = await queries.ops_submissions(
        pool, state=state, limit=paging.page_size, offset=paging.offset, serial_no=serial_no or None
    )
    return paging.of([_view(r) for r in rows], total)


@router.post(
    "/{submission_id}/resend",
    summary="Send a parked (or retrying) submission to MOFCOM again now, with a fresh round of retries",
    response_model=OpsSubmission,
    responses=errors(404, 409, e409="already answered, stored or closed: nothing to do"),
)
async def resend_ops_submission(
    submission_id: UUID, body: Why, pool: Pool, tenant: CurrentTenant, deps: DepsDep
) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    await deps.handle(ResendSubmission(submission_id=submission_id, reason=body.reason, actor=actor))
    return await _one(pool, submission_id)


@router.post(
    "/{submission_id}/close",
    summary="Give up on a parked (or retrying) submission: back to draft, with the reason",
    response_model=OpsSubmission,
    responses=errors(404, 409, e409="already answered, stored or closed: nothing to do"),
)
async def close_ops_submission(
    submission_id: UUID, body: Why, pool: Pool, tenant: CurrentTenant, deps: DepsDep
) -> Any:
    actor = operations_actor(tenant, refused=REFUSED)
    await deps.handle(CloseSubmission(submission_id=submission_id, reason=body.reason, actor=actor))
    return await _one(pool, submission_id)
