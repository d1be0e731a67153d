"""Helpers every router of this service uses: the typed dependencies, idempotent writes."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, Header, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ail_application.adapters.repository import SCHEMA
from ail_application.bootstrap import Deps, deps_of
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.auth import Tenant
from ail_shared.errors import FieldProblem, InvalidInput
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

IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description="the ETag of the application as you read it: the write is refused (412) if it"
        " changed since; without If-Match the write applies to whatever is stored (docs/application.md,"
        " 'Concurrent edits')",
    ),
]


def etag(version: int) -> str:
    """The application's entity tag: a strong tag of its version (every save increments it,
    whichever part changed: form, contract, iron-ore contract, status)."""
    return f'"{version}"'


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def expected_version(if_match: str | None) -> int | None:
    """The version an If-Match asks for; None for no header or ``*`` (any version: the
    application exists, which the write checks anyway)."""
    if if_match is None or if_match.strip() == "*":
        return None
    value = if_match.strip()
    if len(value) >= 3 and value[0] == value[-1] == '"' and value[1:-1].isdigit() and len(value) <= 21:
        return int(value[1:-1])
    raise InvalidInput(
        "If-Match is not an ETag of this API",
        [
            FieldProblem(
                "If-Match",
                'expected one strong ETag as GET gave it in its ETag header (e.g. "7"), or *',
            )
        ],
    )


async def get_deps(runtime: RuntimeDep) -> Deps:
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
    body = json.loads(bytes(response.body))
    created = body[key][0] if key else body
    return located(response, f"{collection}/{created['id']}")


def operation_id(route: APIRoute) -> str:
    """OpenAPI operationId = the handler's name, so generated clients read like the API."""
    return route.name
