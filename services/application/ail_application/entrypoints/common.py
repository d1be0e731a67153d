"""Helpers every router of this service uses: the typed dependencies, idempotent writes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ail_application.adapters.repository import SCHEMA
from ail_application.bootstrap import Deps, deps_of
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.auth import Tenant
from ail_shared.http import RuntimeDep
from ail_shared.idempotency import idempotent_response

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe writes: the same key and body replay the first response",
    ),
]


def get_deps(runtime: RuntimeDep) -> Deps:
    return deps_of(runtime)


AppDeps = Annotated[Deps, Depends(get_deps)]


async def idempotent(
    deps: Deps,
    tenant: Tenant,
    key: str | None,
    path: str,
    body: Any,
    work: Callable[[UnitOfWork], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    """Run ``work`` at most once per Idempotency-Key: its unit of work is a savepoint of the
    transaction that records the key, so the change, its events and the stored answer commit
    together."""
    return await idempotent_response(
        deps.pool,
        schema=SCHEMA,
        tenant=tenant,
        key=key,
        path=path,
        body=body,
        work=lambda conn: work(UnitOfWork(conn)),
    )


def operation_id(route: APIRoute) -> str:
    """OpenAPI operationId = the handler's name, so generated clients read like the API."""
    return route.name
