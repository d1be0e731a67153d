"""HTTP API of the application service (/api/v1)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse

from ail_application.adapters.repository import SCHEMA, ApplicationRepository, to_view
from ail_application.service_layer import handlers
from ail_shared.http import CurrentTenant, Pool
from ail_shared.idempotency import run_idempotent

router = APIRouter(prefix="/api/v1", tags=["applications"])
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]


@router.post("/applications", status_code=201)
async def create_application(
    pool: Pool,
    tenant: CurrentTenant,
    form: Annotated[dict[str, Any], Body(examples=[{"handler_name": "张三", "remarks": ""}])],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(conn: Any) -> tuple[int, Any]:
        app = await handlers.create_draft(conn, tenant, handlers.CreateDraft(form=form))
        return 201, to_view(app)

    status, body, _ = await run_idempotent(
        pool,
        schema=SCHEMA,
        principal=tenant.principal.id,
        key=idempotency_key,
        method="POST",
        path="/api/v1/applications",
        body=form,
        work=work,
    )
    return JSONResponse(body, status_code=status)


@router.get("/applications/{application_id}")
async def get_application(application_id: UUID, pool: Pool, tenant: CurrentTenant) -> Any:
    async with pool.acquire() as conn:
        app = await ApplicationRepository(conn).get(
            id=application_id, enterprise_codes=tenant.enterprise_codes
        )
    return to_view(app)


@router.post("/applications/{application_id}/submit", status_code=202)
async def submit_application(
    application_id: UUID,
    pool: Pool,
    tenant: CurrentTenant,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    async def work(conn: Any) -> tuple[int, Any]:
        app = await handlers.submit(conn, tenant, handlers.SubmitApplication(application_id))
        return 202, to_view(app)

    status, body, _ = await run_idempotent(
        pool,
        schema=SCHEMA,
        principal=tenant.principal.id,
        key=idempotency_key,
        method="POST",
        path=f"/api/v1/applications/{application_id}/submit",
        body=None,
        work=work,
    )
    return JSONResponse(body, status_code=status)
