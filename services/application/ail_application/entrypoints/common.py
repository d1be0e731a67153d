"""Helpers every router of this service uses: the typed dependencies, idempotent writes."""

from __future__ import annotations

import json
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
from ail_shared.openapi import located

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


def with_location(response: JSONResponse, collection: str, *, key: str | None = None) -> JSONResponse:
    """A 201 names what it created: ``Location: <collection>/<id>``, the id read from the body (so
    a replayed answer names the same object); ``key`` picks the first of a list (copies)."""
    if response.status_code != 201:
        return response
    body = json.loads(response.body)
    created = body[key][0] if key else body
    return located(response, f"{collection}/{created['id']}")


def operation_id(route: APIRoute) -> str:
    """OpenAPI operationId = the handler's name, so generated clients read like the API."""
    return route.name
