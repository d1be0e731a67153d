"""Read-side queries of the application service (tenant-scoped): the application query (page and
export), single applications for views and print, contracts, attachments and key-agri filings.
They take the pool, read in their own (read-only) transaction and change nothing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg

from ail_application.adapters.repository import (
    COLUMNS,
    FILING_COLUMNS,
    FILING_GET,
    GET_MANY,
    SCHEMA,
    ApplicationRepository,
    application_from,
    filing_from,
)
from ail_application.domain.key_agri import KeyAgriFiling
from ail_application.domain.model import Application, Attachment
from ail_shared.errors import NotFound

BY_LICENSE = f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE license_no = $1 LIMIT 1"


async def application(
    pool: asyncpg.Pool, *, application_id: UUID, enterprise_codes: Sequence[str]
) -> Application:
    async with pool.acquire() as conn:
        return await ApplicationRepository(conn).get(
            application_id=application_id, enterprise_codes=enterprise_codes
        )


async def application_by_license(pool: asyncpg.Pool, *, license_no: str) -> Application | None:
    """The application that holds ``license_no``, whatever its tenant: only for the public
    license check, which has verified the license's token first (domain/license.py)."""
    row = await pool.fetchrow(BY_LICENSE, license_no)
    return application_from(row) if row is not None else None


async def applications(
    pool: asyncpg.Pool, *, ids: Sequence[UUID], enterprise_codes: Sequence[str]
) -> dict[UUID, Application]:
    """The applications of ``ids`` this tenant may see, by id (missing ones are absent)."""
    rows = await pool.fetch(GET_MANY, list(ids), list(enterprise_codes))
    return {r["id"]: application_from(r) for r in rows}


async def contract(
    pool: asyncpg.Pool, *, application_id: UUID, enterprise_codes: Sequence[str]
) -> dict[str, Any]:
    """The contract information; before the first save, pre-filled (``Application.contract_form``)."""
    async with pool.acquire() as conn:
        repo = ApplicationRepository(conn)
        app = await repo.get(application_id=application_id, enterprise_codes=enterprise_codes)
        last = (
            None
            if app.contract is not None
            else await repo.last_applicant(enterprise_code=app.enterprise_code)
        )
    info, saved, prefilled = app.contract_form(last)
    return {
        "saved": saved,
        "prefilled": prefilled,
        **info.model_dump(mode="json"),
        "raw_inputs": app.contract_raw_inputs(),
        "version": app.version,
    }


@dataclass(frozen=True)
class QueryFilters:
    status: str | None = None
    serial_no: str | None = None
    form_no: str | None = None
    issuing_agency: str | None = None
    import_user_code: str | None = None
    import_user_name: str | None = None
    trade_mode: str | None = None
    year: int | None = None
    applied_from: date | None = None
    applied_to: date | None = None


LIST_COLUMNS = (
    "id, serial_no, form_no, status, license_no, commodity_code, commodity_name, total_quantity, unit,"
    " total_value_usd, applied_at, enterprise_code, year, issuing_agency, trade_mode,"
    " import_user_code, import_user_name, created_at"
)


def build_query(f: QueryFilters, enterprise_codes: Sequence[str]) -> tuple[str, list[Any]]:
    """WHERE clause and parameters of the application query (DOMAIN section 8)."""
    # One enterprise (the usual case) as "=": the planner can then walk the page index in order.
    if len(enterprise_codes) == 1:
        params: list[Any] = [enterprise_codes[0]]
        where = ["enterprise_code = $1"]
    else:
        params = [list(enterprise_codes)]
        where = ["enterprise_code = ANY($1::text[])"]

    def add(sql: str, value: Any) -> None:
        params.append(value)
        where.append(sql.replace("?", f"${len(params)}"))

    if f.status:
        add("status = ?", f.status)
    if f.serial_no:
        add("serial_no = ?", f.serial_no)
    if f.form_no:
        add("form_no = ?", f.form_no)
    if f.issuing_agency:
        add("issuing_agency = ?", f.issuing_agency)
    if f.import_user_code:
        add("import_user_code = ?", f.import_user_code)
    if f.import_user_name:
        add("import_user_name LIKE ?", f"%{f.import_user_name}%")
    if f.trade_mode:
        add("trade_mode = ?", f.trade_mode)
    if f.year:
        add("year = ?", f.year)
    # Application dates are calendar days in China time.
    if f.applied_from:
        add("applied_at >= (?::date)::timestamp AT TIME ZONE 'Asia/Shanghai'", f.applied_from)
    if f.applied_to:
        add("applied_at < (?::date + 1)::timestamp AT TIME ZONE 'Asia/Shanghai'", f.applied_to)
    return " AND ".join(where), params


async def _page(
    conn: asyncpg.Connection, f: QueryFilters, enterprise_codes: Sequence[str], *, page: int, page_size: int
) -> tuple[int, list[dict[str, Any]]]:
    where, params = build_query(f, enterprise_codes)
    total: int = await conn.fetchval(f"SELECT count(*) FROM {SCHEMA}.applications WHERE {where}", *params)
    n = len(params)
    rows = await conn.fetch(
        f"SELECT {LIST_COLUMNS} FROM {SCHEMA}.applications WHERE {where}"
        f" ORDER BY created_at DESC, id DESC LIMIT ${n + 1} OFFSET ${n + 2}",
        *params,
        page_size,
        (page - 1) * page_size,
    )
    return total, [dict(r) for r in rows]


async def query(
    pool: asyncpg.Pool, f: QueryFilters, enterprise_codes: Sequence[str], *, page: int, page_size: int
) -> tuple[int, list[dict[str, Any]]]:
    """One page of the application query, with the total."""
    async with pool.acquire() as conn:
        return await _page(conn, f, enterprise_codes, page=page, page_size=page_size)


async def export(
    pool: asyncpg.Pool, f: QueryFilters, enterprise_codes: Sequence[str], *, limit: int
) -> tuple[int, list[dict[str, Any]]]:
    """Every matching row (up to ``limit``) with the total, read in one snapshot."""
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        return await _page(conn, f, enterprise_codes, page=1, page_size=limit)


# -- attachments ---------------------------------------------------------------------------------
ATTACHMENT_META = "id, application_id, filename, content_type, size, sha256, created_at"


def attachment_view(
    *,
    id: UUID,
    application_id: UUID,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    created_at: datetime | None,
) -> dict[str, Any]:
    """The JSON view of an attachment's metadata (a new one and a stored one alike)."""
    return {
        "id": str(id),
        "application_id": str(application_id),
        "filename": filename,
        "content_type": content_type,
        "size": size,
        "sha256": sha256,
        "created_at": created_at.isoformat() if created_at else None,
    }


def new_attachment_view(a: Attachment) -> dict[str, Any]:
    return attachment_view(
        id=a.id,
        application_id=a.application_id,
        filename=a.filename,
        content_type=a.content_type,
        size=a.size,
        sha256=a.sha256,
        created_at=a.created_at,
    )


async def attachments(
    pool: asyncpg.Pool, *, application_id: UUID, enterprise_codes: Sequence[str]
) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        await ApplicationRepository(conn).get(
            application_id=application_id, enterprise_codes=enterprise_codes
        )
        rows = await conn.fetch(
            f"SELECT {ATTACHMENT_META} FROM {SCHEMA}.attachments WHERE application_id = $1"
            " ORDER BY created_at, id",
            application_id,
        )
    return [attachment_view(**dict(r)) for r in rows]


async def attachment(
    pool: asyncpg.Pool, *, application_id: UUID, attachment_id: UUID, enterprise_codes: Sequence[str]
) -> tuple[dict[str, Any], bytes]:
    row = await pool.fetchrow(
        f"SELECT {ATTACHMENT_META}, content FROM {SCHEMA}.attachments WHERE id = $1 AND application_id = $2"
        " AND enterprise_code = ANY($3::text[])",
        attachment_id,
        application_id,
        list(enterprise_codes),
    )
    if row is None:
        raise NotFound(f"attachment {attachment_id} not found")
    meta = {k: v for k, v in dict(row).items() if k != "content"}
    return attachment_view(**meta), bytes(row["content"])


# -- key-agri filings ----------------------------------------------------------------------------
async def filing(pool: asyncpg.Pool, *, filing_id: UUID, enterprise_codes: Sequence[str]) -> KeyAgriFiling:
    row = await pool.fetchrow(FILING_GET, filing_id, list(enterprise_codes))
    if row is None:
        raise NotFound(f"key-agri filing {filing_id} not found")
    return filing_from(row)


async def filings(
    pool: asyncpg.Pool, *, enterprise_codes: Sequence[str], since: date | None, offset: int, limit: int
) -> tuple[int, list[KeyAgriFiling]]:
    """Filings (since ``since``), newest first: how many in all, and ``limit`` after ``offset``."""
    where = " WHERE enterprise_code = ANY($1::text[]) AND ($2::date IS NULL OR created_at >= $2::date)"
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        total = await conn.fetchval(
            f"SELECT count(*) FROM {SCHEMA}.key_agri_filings{where}", list(enterprise_codes), since
        )
        rows = await conn.fetch(
            f"SELECT {FILING_COLUMNS} FROM {SCHEMA}.key_agri_filings{where}"
            " ORDER BY created_at DESC, id LIMIT $3 OFFSET $4",
            list(enterprise_codes),
            since,
            limit,
            offset,
        )
    return int(total), [filing_from(r) for r in rows]
