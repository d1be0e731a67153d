"""Print (PDF, or HTML with ``Accept: text/html``) and attachments."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Any
from urllib.parse import quote
from uuid import UUID

from fastapi import APIRouter, File, Header, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel

from ail_application.adapters import queries
from ail_application.adapters.printing import render_html, render_pdf
from ail_application.domain import commands
from ail_application.domain.attachments import MAX_BYTES
from ail_application.domain.model import Application
from ail_application.entrypoints.api import ERRORS
from ail_application.entrypoints.common import (
    AppDeps,
    IdempotencyKey,
    idempotent,
    operation_id,
    with_location,
)
from ail_application.entrypoints.schemas import IdList
from ail_application.service_layer.handlers import handle
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.errors import NotFound
from ail_shared.http import CurrentTenant

router = APIRouter(prefix="/api/v1", generate_unique_id_function=operation_id)
PRINTED: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"application/pdf": {}, "text/html": {}},
        "description": "the numbered form (boxes 1-24); HTML when the request accepts text/html",
    }
}


async def _printed(deps: AppDeps, apps: list[Application], accept: str | None) -> Response:
    ref = deps.ref
    if accept and "text/html" in accept:
        return HTMLResponse(render_html(apps, ref))
    pdf = await asyncio.to_thread(render_pdf, apps, ref)
    name = apps[0].serial_no if len(apps) == 1 else "applications"
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}.pdf"'}
    )


@router.get(
    "/applications/{application_id}/print",
    summary="Print an application (PDF)",
    response_class=Response,
    responses={**ERRORS, **PRINTED},
    tags=["print"],
)
async def print_application(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Print the form, any status."""
    app = await queries.application(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    return await _printed(deps, [app], accept)


@router.post(
    "/applications/print",
    summary="Print several applications (one PDF)",
    response_class=Response,
    responses={**ERRORS, **PRINTED},
    tags=["print"],
)
async def print_applications(
    deps: AppDeps,
    tenant: CurrentTenant,
    body: IdList,
    accept: Annotated[str | None, Header()] = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Batch print: one document, the applications in the order given. Any id not found for this
    tenant refuses the whole print (404 naming them). Printing changes nothing, so a retry with
    the same Idempotency-Key gives the same document."""
    found = await queries.applications(deps.pool, ids=body.ids, enterprise_codes=tenant.enterprise_codes)
    missing = [str(i) for i in body.ids if i not in found]
    if missing:
        raise NotFound(f"applications not found: {', '.join(missing)}")
    return await _printed(deps, [found[i] for i in body.ids], accept)


class AttachmentView(BaseModel):
    id: UUID
    application_id: UUID
    filename: str
    content_type: str
    size: int
    sha256: str
    created_at: str


@router.post(
    "/applications/{application_id}/attachments",
    summary="Attach a file",
    status_code=201,
    response_model=AttachmentView,
    responses=ERRORS,
    tags=["attachments"],
)
async def upload_attachment(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    file: Annotated[UploadFile, File(description="PDF, JPEG, PNG or OFD, at most 1 MB; type by content")],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Electronic-license applications only."""
    content = await file.read(MAX_BYTES + 1)
    filename = file.filename or "attachment"

    command = commands.AddAttachment(tenant, application_id, filename, content)

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        return 201, queries.new_attachment_view(await handle(uow, command, deps.ctx))

    body = {"filename": filename, "sha256": hashlib.sha256(content).hexdigest()}
    path = f"/api/v1/applications/{application_id}/attachments"
    response = await idempotent(deps, tenant, idempotency_key, path, body, work)
    return with_location(response, path)


@router.get(
    "/applications/{application_id}/attachments",
    summary="List the attachments",
    response_model=list[AttachmentView],
    responses=ERRORS,
    tags=["attachments"],
)
async def list_attachments(application_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Any:
    return await queries.attachments(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )


@router.get(
    "/applications/{application_id}/attachments/{attachment_id}",
    summary="Download an attachment",
    responses={
        **ERRORS,
        200: {"content": {"application/octet-stream": {}}, "description": "the stored bytes"},
    },
    tags=["attachments"],
)
async def download_attachment(
    application_id: UUID, attachment_id: UUID, deps: AppDeps, tenant: CurrentTenant
) -> Response:
    meta, content = await queries.attachment(
        deps.pool,
        application_id=application_id,
        attachment_id=attachment_id,
        enterprise_codes=tenant.enterprise_codes,
    )
    disposition = f"attachment; filename*=UTF-8''{quote(meta['filename'])}"
    return Response(content, media_type=meta["content_type"], headers={"Content-Disposition": disposition})


@router.delete(
    "/applications/{application_id}/attachments/{attachment_id}",
    summary="Delete an attachment",
    status_code=204,
    responses=ERRORS,
    tags=["attachments"],
)
async def delete_attachment(
    application_id: UUID, attachment_id: UUID, deps: AppDeps, tenant: CurrentTenant
) -> Response:
    command = commands.DeleteAttachment(tenant, application_id, attachment_id)
    await handle(deps.unit_of_work(), command, deps.ctx)
    return Response(status_code=204)
