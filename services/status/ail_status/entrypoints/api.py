"""The lifecycle view of one application: its current status and its history."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from ail_shared.http import CurrentTenant, Pool
from ail_shared.inputs import IdentifierText
from ail_shared.openapi import errors
from ail_shared.paging import ListPage
from ail_status.adapters import queries
from ail_status.entrypoints.views import History, StatusView

router = APIRouter(prefix="/api/v1", tags=["status"])
ApplicationId = Annotated[IdentifierText, Path(description="the application id")]


@router.get(
    "/applications/{application_id}/status",
    response_model=StatusView,
    summary="Read an application's current status",
    responses=errors(404),
)
async def application_status(application_id: ApplicationId, pool: Pool, tenant: CurrentTenant) -> Any:
    async with pool.acquire() as conn:
        return await queries.application_status(
            conn, application_id=application_id, enterprise_codes=tenant.enterprise_codes
        )


@router.get(
    "/applications/{application_id}/history",
    response_model=History,
    summary="Read an application's history",
    responses=errors(404),
)
async def application_history(
    application_id: ApplicationId, pool: Pool, tenant: CurrentTenant, paging: ListPage
) -> Any:
    """Every lifecycle event of the application in the order it happened: the status it set
    (``status``; null for customs events, which set none), the application's status after it
    (``current_status``), when (``occurred_at``; ``recorded_at`` is when this service learned
    it), the causing event (``event.id``, ``event.type``), the reason or review opinion, and the
    form or license number that came with it. An event that arrived late and did not move the
    current status is still listed where it happened. What operations did with a dead-lettered
    message of the application (redrive, skip) is listed where it happened too: ``operations``
    says what, who (``actor``), when (``at``) and why (``reason``); ``event`` is that message's
    event, and the entry sets no status. The entries are the page's ``items`` (``page``,
    ``page_size``, ``total``: docs/architecture.md "Lists")."""
    async with pool.acquire() as conn:
        current = await queries.application_status(
            conn, application_id=application_id, enterprise_codes=tenant.enterprise_codes
        )
        entries = await queries.history(
            conn, application_id=application_id, enterprise_code=current["enterprise_code"]
        )
    return paging.whole(
        entries,
        application_id=application_id,
        enterprise_code=current["enterprise_code"],
        serial_no=current["serial_no"],
        status=current["status"],
        customs_status=current["customs_status"],
        license_state=current["license_state"],
        form_no=current["form_no"],
        license_no=current["license_no"],
    )
