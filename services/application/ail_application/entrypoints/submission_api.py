"""Batch submit: ``POST /api/v1/applications/submit`` with ``{"ids": [...]}`` (up to 10,000).

Each id is submitted on its own (a savepoint each): the same preconditions as the single submit
(submission-time validation, an e-key bound to the enterprise), and a result for every id, in the
order given. The whole answer is 202; per-id ``result`` is ``submitted`` or ``refused`` with the
error (code, message, field problems). Repeating a batch never submits an application twice: an
id already in flight is refused with its status named; with an ``Idempotency-Key`` the first
answer is replayed.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ail_application.domain import commands
from ail_application.domain.model import Application
from ail_application.entrypoints.common import AppDeps, idempotent
from ail_application.service_layer.handlers import handle
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.errors import AilError, InvalidInput
from ail_shared.http import CurrentTenant, detail
from ail_shared.inputs import IdentifierText
from ail_shared.openapi import ErrorDetail

router = APIRouter(prefix="/api/v1", tags=["submission"])
MAX_IDS = 10_000


class BatchSubmit(BaseModel):
    ids: list[IdentifierText] = Field(
        min_length=1, max_length=MAX_IDS, examples=[["0b8e4f3c-2a5d-4c61-9f7e-1d2c3b4a5968"]]
    )


class BatchItemResult(BaseModel):
    id: str
    result: Literal["submitted", "refused"]
    status: str | None = Field(None, description="the application's status once submitted")
    error: ErrorDetail | None = Field(None, description="why it was refused (the error body's error)")


class BatchSubmitResult(BaseModel):
    submitted: int
    refused: int
    results: list[BatchItemResult]


def _error(exc: AilError) -> dict[str, Any]:
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    return {
        "code": exc.code,
        "message": exc.message,
        "details": [detail(p) for p in problems],
    }


def _result(raw: str, outcome: Application | AilError) -> dict[str, Any]:
    if isinstance(outcome, AilError):
        return {"id": raw, "result": "refused", "error": _error(outcome)}
    return {"id": raw, "result": "submitted", "status": outcome.status.value}


@router.post(
    "/applications/submit",
    summary="Submit several applications",
    status_code=202,
    response_model=BatchSubmitResult,
)
async def submit_batch(
    deps: AppDeps,
    tenant: CurrentTenant,
    body: Annotated[BatchSubmit, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        outcomes = await handle(uow, commands.SubmitApplications(tenant, body.ids), deps.ctx)
        results = [_result(raw, outcome) for raw, outcome in outcomes]
        submitted = sum(1 for r in results if r["result"] == "submitted")
        return 202, {"submitted": submitted, "refused": len(results) - submitted, "results": results}

    return await idempotent(
        deps, tenant, idempotency_key, "/api/v1/applications/submit", body.model_dump(), work
    )
