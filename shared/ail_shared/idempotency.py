"""``Idempotency-Key`` for HTTP writes.

The key row is inserted at the start of the write's own transaction. A concurrent retry blocks
on the primary key until the first commits, then replays the stored response; if the first
rolls back, the retry runs as new. The same key with a different request body is refused (422).

Scope: a key belongs to the principal *and* the enterprise it acts for (:func:`scope`). An
agency acting for enterprise A and then for B with the same key makes two writes; a replay of
A's response to a request for B would hand B's caller A's data and lose B's write.

Secrets: a response part that must not be stored (the signing secret of a new webhook
subscription) is taken out by ``stored(response)`` before the record is written, and a replay
is rebuilt by ``replay(conn, stored_response)`` (the caller decides what a replay shows).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from ail_shared.auth import Tenant
from ail_shared.errors import InvalidInput

IdempotentWork = Callable[[asyncpg.Connection], Awaitable[tuple[int, Any]]]
StoredView = Callable[[Any], Any]
Replay = Callable[[asyncpg.Connection, Any], Awaitable[Any]]


def scope(tenant: Tenant) -> str:
    """Whose key this is: the principal and the enterprise(s) the request acts for. An
    enterprise acts only for itself, so its scope stays its principal id (records written
    before scoping keep replaying); an agency's scope names the enterprise (X-Enterprise-Code)."""
    principal = tenant.principal
    if principal.kind == "enterprise" and tenant.enterprise_codes == (principal.enterprise_code,):
        return principal.id
    return f"{principal.id}@{','.join(tenant.enterprise_codes)}"


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def run_idempotent(
    pool: asyncpg.Pool,
    *,
    schema: str,
    tenant: Tenant,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    work: IdempotentWork,
    stored: StoredView | None = None,
    replay: Replay | None = None,
) -> tuple[int, Any, bool]:
    """Run ``work(conn)`` in a transaction at most once per (scope, key).

    Returns (status code, response body, replayed?)."""
    principal = scope(tenant)
    async with pool.acquire() as conn, conn.transaction():
        if not key:
            status, response = await work(conn)
            return status, response, False
        if len(key) > 200:
            raise InvalidInput("Idempotency-Key is longer than 200 characters")
        digest = fingerprint({"method": method, "path": path, "body": body})
        inserted = await conn.fetchval(
            f"INSERT INTO {schema}.idempotency_keys (principal, key, method, path, request_hash)"
            " VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING RETURNING 1",
            principal,
            key,
            method,
            path,
            digest,
        )
        if inserted is None:
            row = await conn.fetchrow(
                f"SELECT request_hash, status_code, response FROM {schema}.idempotency_keys"
                " WHERE principal = $1 AND key = $2",
                principal,
                key,
            )
            assert row is not None
            if row["request_hash"] != digest:
                raise InvalidInput("Idempotency-Key was already used for a different request; use a new key")
            response = row["response"]
            if replay is not None:
                response = await replay(conn, response)
            return row["status_code"], response, True
        status, response = await work(conn)
        await conn.execute(
            f"UPDATE {schema}.idempotency_keys SET status_code = $3, response = $4"
            " WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            stored(response) if stored is not None else response,
        )
        return status, response, False


async def idempotent_response(
    pool: asyncpg.Pool,
    *,
    schema: str,
    tenant: Tenant,
    key: str | None,
    path: str,
    body: Any,
    work: IdempotentWork,
    method: str = "POST",
    stored: StoredView | None = None,
    replay: Replay | None = None,
) -> JSONResponse:
    """``run_idempotent`` as an HTTP response; a replay carries ``Idempotent-Replayed: true``."""
    status, response, replayed = await run_idempotent(
        pool,
        schema=schema,
        tenant=tenant,
        key=key,
        method=method,
        path=path,
        body=body,
        work=work,
        stored=stored,
        replay=replay,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(jsonable_encoder(response), status_code=status, headers=headers)
