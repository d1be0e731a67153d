"""``Idempotency-Key`` for HTTP writes.

The key row is inserted at the start of the write's own transaction. A concurrent retry blocks
on the primary key until the first commits, then replays the stored response; if the first
rolls back, the retry runs as new. The same key with a different request body is refused (422).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse

from ail_shared.errors import InvalidInput

IdempotentWork = Callable[[asyncpg.Connection], Awaitable[tuple[int, Any]]]


def fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


async def run_idempotent(
    pool: asyncpg.Pool,
    *,
    schema: str,
    principal: str,
    key: str | None,
    method: str,
    path: str,
    body: Any,
    work: IdempotentWork,
) -> tuple[int, Any, bool]:
    """Run ``work(conn)`` in a transaction at most once per (principal, key).

    Returns (status code, response body, replayed?)."""
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
            return row["status_code"], row["response"], True
        status, response = await work(conn)
        await conn.execute(
            f"UPDATE {schema}.idempotency_keys SET status_code = $3, response = $4"
            " WHERE principal = $1 AND key = $2",
            principal,
            key,
            status,
            response,
        )
        return status, response, False


async def idempotent_response(
    pool: asyncpg.Pool,
    *,
    schema: str,
    principal: str,
    key: str | None,
    path: str,
    body: Any,
    work: IdempotentWork,
    method: str = "POST",
) -> JSONResponse:
    """``run_idempotent`` as an HTTP response; a replay carries ``Idempotent-Replayed: true``."""
    status, response, replayed = await run_idempotent(
        pool,
        schema=schema,
        principal=principal,
        key=key,
        method=method,
        path=path,
        body=body,
        work=work,
    )
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    return JSONResponse(jsonable_encoder(response), status_code=status, headers=headers)
