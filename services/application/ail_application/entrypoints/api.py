"""HTTP API of the application service (/api/v1): drafts, copies, deletion, query, submission."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header, Query
from fastapi.responses import JSONResponse, Response

from ail_application.adapters import queries
from ail_application.adapters.queries import QueryFilters
from ail_application.domain import commands
from ail_application.domain.form import DraftCreate, FormFields
from ail_application.entrypoints import query_export
from ail_application.entrypoints.common import (
    AppDeps,
    IdempotencyKey,
    idempotent,
    operation_id,
    with_location,
)
from ail_application.entrypoints.schemas import (
    ApplicationPage,
    ApplicationRow,
    ApplicationView,
    BatchResults,
    CopyRequest,
    CopyResult,
    IdList,
    view,
)
from ail_application.service_layer.handlers import handle
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.errors import FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant
from ail_shared.inputs import CodeText, Day, IdentifierText, NameText, Page, PageSize, Year
from ail_shared.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["applications"], generate_unique_id_function=operation_id)

DRAFT_EXAMPLE = {
    "commodity_code": "2601110000",
    "handler_name": "张三",
    "import_user_code": "1100776367555",
    "import_user_name": "北京示例进出口有限公司",
    "trade_country": "601",
    "origin_country": "601",
    "customs_ports": ["4200"],
    "expected_arrival_date": "2026-12-20",
    "goods": [{"spec": "Fe 62% 粉矿", "unit": "070", "quantity": "150000", "unit_price": "105.5"}],
}
# 401, 413 and 422 each route gets from ail_shared.openapi.describe.
ERRORS = errors(404, 409, e404="no such application for this tenant")


@router.post(
    "/applications",
    summary="Create a draft (暂存)",
    status_code=201,
    response_model=ApplicationView,
    responses=ERRORS,
)
async def create_application(
    deps: AppDeps,
    tenant: CurrentTenant,
    form: Annotated[DraftCreate, Body(examples=[DRAFT_EXAMPLE])],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Temporary save (暂存) of a new draft: an incomplete form is kept as it is; defaults are
    filled (trade mode 10, forex source, commodity usage, currency) and totals computed."""

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        app = await handle(uow, commands.CreateDraft(tenant, form), deps.ctx)
        return 201, view(app, deps.ctx)

    body = form.model_dump(mode="json", exclude_unset=True)
    response = await idempotent(deps, tenant, idempotency_key, "/api/v1/applications", body, work)
    return with_location(response, "/api/v1/applications")


@router.get(
    "/applications",
    summary="Query applications (申请单查询)",
    response_model=ApplicationPage,
    responses={
        200: {
            "content": {query_export.CSV: {}, query_export.XLSX: {}},
            "description": "JSON page; with Accept text/csv or XLSX: every matching row as a file",
        }
    },
)
async def query_applications(
    deps: AppDeps,
    tenant: CurrentTenant,
    status: CodeText | None = None,
    serial_no: IdentifierText | None = None,
    form_no: IdentifierText | None = None,
    issuing_agency: CodeText | None = None,
    import_user_code: CodeText | None = None,
    import_user_name: Annotated[NameText | None, Query(description="part of the name")] = None,
    trade_mode: CodeText | None = None,
    year: Year | None = None,
    applied_from: Day | None = None,
    applied_to: Day | None = None,
    page: Page = 1,
    page_size: PageSize = 10,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    """Application query (申请单查询): every filter, paged (10 a page by default), with the total.
    With ``Accept: text/csv`` or the XLSX media type: every matching row (not a page) as a file,
    the same columns, the total in ``X-Total-Count``."""
    f = QueryFilters(
        status,
        serial_no,
        form_no,
        issuing_agency,
        import_user_code,
        import_user_name,
        trade_mode,
        year,
        applied_from,
        applied_to,
    )
    kind = query_export.wanted(accept)
    if kind is not None:
        total, rows = await queries.export(
            deps.pool, f, tenant.enterprise_codes, limit=query_export.EXPORT_MAX
        )
        if total > query_export.EXPORT_MAX:
            raise InvalidInput(
                f"{total} applications match; a file holds at most {query_export.EXPORT_MAX}",
                [
                    FieldProblem(
                        "year", "narrow the query (year, status, applied_from/applied_to) and export in parts"
                    )
                ],
            )
        data = [ApplicationRow.model_validate(r).model_dump(mode="json") for r in rows]
        return query_export.render(kind, data, total)
    total, rows = await queries.query(deps.pool, f, tenant.enterprise_codes, page=page, page_size=page_size)
    items = [ApplicationRow.model_validate(r).model_dump(mode="json") for r in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}


@router.get(
    "/applications/{application_id}",
    summary="Read an application",
    response_model=ApplicationView,
    responses=ERRORS,
)
async def get_application(application_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Any:
    app = await queries.application(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    return view(app, deps.ctx)


@router.patch(
    "/applications/{application_id}", summary="Edit a draft", response_model=ApplicationView, responses=ERRORS
)
async def edit_application(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    changes: Annotated[
        FormFields, Body(examples=[{"remarks": "分两批到港", "customs_ports": ["4200", "2200"]}])
    ],
) -> Any:
    """Temporary save of changes: given fields replace stored ones (``null`` clears one); read-only
    fields are refused by name. Allowed in draft, revoked and first_review_rejected."""
    app = await handle(deps.unit_of_work(), commands.EditDraft(tenant, application_id, changes), deps.ctx)
    return view(app, deps.ctx)


@router.delete("/applications/{application_id}", summary="Delete a draft", status_code=204, responses=ERRORS)
async def delete_application(application_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Response:
    """Final deletion; only in draft, revoked and first_review_rejected."""
    await handle(deps.unit_of_work(), commands.DeleteApplication(tenant, application_id), deps.ctx)
    return Response(status_code=204)


@router.post("/applications/batch-delete", summary="Delete several drafts", response_model=BatchResults)
async def batch_delete(
    deps: AppDeps, tenant: CurrentTenant, body: IdList, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Deletes each id on its own and gives a result for each."""

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        return 200, {"results": await handle(uow, commands.DeleteApplications(tenant, body.ids), deps.ctx)}

    return await idempotent(
        deps, tenant, idempotency_key, "/api/v1/applications/batch-delete", body.model_dump(mode="json"), work
    )


@router.post(
    "/applications/{application_id}/copies",
    summary="Copy an application",
    status_code=201,
    response_model=CopyResult,
    responses=ERRORS,
)
async def copy_application(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    body: CopyRequest,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """1 to 50 copies (any status): new drafts with new serial numbers, no form/license numbers."""

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        copies = await handle(uow, commands.CopyApplication(tenant, application_id, body.count), deps.ctx)
        return 201, {"copies": [view(a, deps.ctx) for a in copies]}

    path = f"/api/v1/applications/{application_id}/copies"
    response = await idempotent(deps, tenant, idempotency_key, path, body.model_dump(), work)
    # Location: the first copy (each copy's id is in the body).
    return with_location(response, "/api/v1/applications", key="copies")


@router.post(
    "/applications/{application_id}/submit",
    summary="Submit an application",
    status_code=202,
    response_model=ApplicationView,
    responses=ERRORS,
)
async def submit_application(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Validates the whole form (422 with every problem) and hands it to signing and MOFCOM."""

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        app = await handle(uow, commands.SubmitApplication(tenant, application_id), deps.ctx)
        return 202, view(app, deps.ctx)

    path = f"/api/v1/applications/{application_id}/submit"
    return await idempotent(deps, tenant, idempotency_key, path, None, work)
