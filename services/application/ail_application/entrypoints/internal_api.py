"""Internal routes of the application service (/internal, the service credential; not routed by
the entry point): the attachment bytes the submission service sends to MOFCOM (issue 13,
item 7). The signed snapshot names each attachment by its sha256; the caller checks the bytes
against it before sending."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ail_application.adapters import queries
from ail_application.entrypoints.common import AppDeps
from ail_shared.auth import ServiceCredential
from ail_shared.inputs import CodeText

router = APIRouter(prefix="/internal", tags=["internal"], dependencies=[ServiceCredential])


@router.get(
    "/applications/{application_id}/attachments/{attachment_id}",
    operation_id="get_attachment_content_internal",
    summary="An attachment's bytes, for the submission service",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "the stored bytes"}},
)
async def attachment_content(
    application_id: UUID,
    attachment_id: UUID,
    deps: AppDeps,
    enterprise_code: Annotated[CodeText, Query(description="the application's enterprise")],
) -> Response:
    meta, content = await queries.attachment(
        deps.pool,
        application_id=application_id,
        attachment_id=attachment_id,
        enterprise_codes=[enterprise_code],
    )
    return Response(content, media_type=meta["content_type"], headers={"X-Content-SHA256": meta["sha256"]})
