"""Attachments: stored in PostgreSQL (bytea) with the application, so they share its backups,
its tenant scoping and its deletion."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from ail_application.adapters.repository import SCHEMA, ApplicationRepository
from ail_application.domain.attachments import ALLOWED, MAX_BYTES, sniff
from ail_shared.auth import Tenant
from ail_shared.errors import Conflict, FieldProblem, InvalidInput, NotFound
from ail_shared.inputs import ATTACHMENTS_MAX, text_problem

META = "id, application_id, filename, content_type, size, sha256, created_at"


def _view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "application_id": str(row["application_id"]),
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size": row["size"],
        "sha256": row["sha256"],
        "created_at": row["created_at"].isoformat(),
    }


async def add(
    conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, filename: str, content: bytes
) -> dict[str, Any]:
    app = await ApplicationRepository(conn).get(id=application_id, enterprise_codes=tenant.enterprise_codes)
    if not app.electronic_license:
        raise Conflict("attachments are only for electronic-license applications; this one is on paper")
    problems = []
    if len(content) > MAX_BYTES:
        problems.append(
            FieldProblem("file", f"{len(content)} bytes is over the limit of {MAX_BYTES} bytes (1 MB)")
        )
    media_type = sniff(content)
    if media_type is None:
        problems.append(
            FieldProblem("file", f"the content is not an allowed type ({ALLOWED}), whatever its name")
        )
    if not content:
        problems = [FieldProblem("file", "the file is empty")]
    reason = text_problem(filename)
    if reason is not None:
        problems.append(FieldProblem("file.filename", reason))
    held = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.attachments WHERE application_id = $1", app.id)
    if held >= ATTACHMENTS_MAX:
        problems.append(
            FieldProblem(
                "file", f"the application has {held} attachments, the most it may have; delete one first"
            )
        )
    if problems:
        raise InvalidInput("the attachment is refused", problems)
    row = await conn.fetchrow(
        f"INSERT INTO {SCHEMA}.attachments (id, application_id, enterprise_code, filename, content_type,"
        f" size, sha256, content) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {META}",
        uuid4(),
        app.id,
        app.enterprise_code,
        filename[:255] or "attachment",
        media_type,
        len(content),
        hashlib.sha256(content).hexdigest(),
        content,
    )
    return _view(row)


async def list_for(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID) -> list[dict[str, Any]]:
    await ApplicationRepository(conn).get(id=application_id, enterprise_codes=tenant.enterprise_codes)
    rows = await conn.fetch(
        f"SELECT {META} FROM {SCHEMA}.attachments WHERE application_id = $1 ORDER BY created_at, id",
        application_id,
    )
    return [_view(r) for r in rows]


async def get(
    conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, attachment_id: UUID
) -> tuple[dict[str, Any], bytes]:
    row = await conn.fetchrow(
        f"SELECT {META}, content FROM {SCHEMA}.attachments WHERE id = $1 AND application_id = $2"
        " AND enterprise_code = ANY($3::text[])",
        attachment_id,
        application_id,
        list(tenant.enterprise_codes),
    )
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found")
    return _view(row), bytes(row["content"])


async def delete(conn: asyncpg.Connection, tenant: Tenant, application_id: UUID, attachment_id: UUID) -> None:
    done = await conn.fetchval(
        f"DELETE FROM {SCHEMA}.attachments WHERE id = $1 AND application_id = $2"
        " AND enterprise_code = ANY($3::text[]) RETURNING 1",
        attachment_id,
        application_id,
        list(tenant.enterprise_codes),
    )
    if done is None:
        raise NotFound(f"attachment {attachment_id} not found")
