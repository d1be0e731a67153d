"""Helpers every router of this service uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import asyncpg
from fastapi import Header, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ail_application.adapters.repository import SCHEMA
from ail_application.service_layer.handlers import Context
from ail_shared.auth import Tenant
from ail_shared.idempotency import idempotent_response

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Retry-safe writes: the same key and body replay the first response",
    ),
]


def context(request: Request) -> Context:
    ctx: Context = request.app.state.runtime.extra["context"]
    return ctx


async def idempotent(
    pool: asyncpg.Pool,
    tenant: Tenant,
    key: str | None,
    path: str,
    body: Any,
    work: Callable[[asyncpg.Connection], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    return await idempotent_response(
        pool, schema=SCHEMA, tenant=tenant, key=key, path=path, body=body, work=work
    )


def operation_id(route: APIRoute) -> str:
    """OpenAPI operationId = the handler's name, so generated clients read like the API."""
    return route.name
