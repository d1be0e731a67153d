"""Batch submit: ``POST /api/v1/applications/submit`` with ``{"ids": [...]}`` (up to 10,000).

Each id is submitted on its own (a savepoint each): the same preconditions as the single submit
(submission-time validation, an e-key bound to the enterprise), and a result for every id, in the
order given. The whole answer is 202; per-id ``result`` is ``submitted`` or ``refused`` with the
error (code, message, field problems). Repeating a batch never submits an application twice: an
id already in flight is refused with its status named; with an ``Idempotency-Key`` the first
answer is replayed.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ail_application.adapters.repository import SCHEMA
from ail_application.service_layer import handlers
from ail_shared.auth import Tenant
from ail_shared.errors import AilError, InvalidInput
from ail_shared.http import CurrentTenant, Pool, RuntimeDep, detail
from ail_shared.idempotency import idempotent_response
from ail_shared.inputs import IdentifierText

router = APIRouter(prefix="/api/v1", tags=["submission"])
MAX_IDS = 10_000


class BatchSubmit(BaseModel):
    ids: list[IdentifierText] = Field(
        min_length=1, max_length=MAX_IDS, examples=[["0b8e4f3c-2a5d-4c61-9f7e-1d2c3b4a5968"]]
    )


def _error(exc: AilError) -> dict[str, Any]:
    problems = exc.problems if isinstance(exc, InvalidInput) else []
    return {
        "code": exc.code,
        "message": exc.message,
        "details": [detail(p) for p in problems],
    }


async def submit_each(
    conn: Any, tenant: Tenant, ids: list[str], ctx: handlers.Context | None = None
) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    done: dict[str, dict[str, Any]] = {}
    for raw in ids:
        if raw in done:
            results.append(done[raw])
            continue
        try:
            app_id = UUID(raw)
        except ValueError:
            out: dict[str, Any] = {
                "id": raw,
                "result": "refused",
                "error": {
                    "code": "invalid_input",
                    "message": f"{raw!r} is not an application id",
                    "details": [],
                },
            }
        else:
            try:
                async with conn.transaction():
                    app = await handlers.submit(conn, tenant, handlers.SubmitApplication(app_id), ctx)
                out = {"id": raw, "result": "submitted", "status": app.status.value}
            except AilError as exc:
                out = {"id": raw, "result": "refused", "error": _error(exc)}
        done[raw] = out
        results.append(out)
    return results


@router.post("/applications/submit", status_code=202)
async def submit_batch(
    pool: Pool,
    tenant: CurrentTenant,
    runtime: RuntimeDep,
    body: Annotated[BatchSubmit, Body()],
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    async def work(conn: Any) -> tuple[int, Any]:
        results = await submit_each(conn, tenant, body.ids, runtime.extra.get("context"))
        submitted = sum(1 for r in results if r["result"] == "submitted")
        return 202, {"submitted": submitted, "refused": len(results) - submitted, "results": results}

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path="/api/v1/applications/submit",
        body=body.model_dump(),
        work=work,
    )
