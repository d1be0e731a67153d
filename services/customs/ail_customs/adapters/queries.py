"""Read-side SQL for the query endpoints (tenant-scoped)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import asyncpg

from ail_customs.adapters.repository import SCHEMA
from ail_shared.errors import NotFound

STATUS_FILTER = f"""
FROM {SCHEMA}.applications a LEFT JOIN {SCHEMA}.licenses l ON l.license_no = a.license_no
WHERE a.enterprise_code = ANY($1::text[])
  AND a.application_status IN ('approved', 'license_issued')
  AND ($2::int IS NULL OR a.year = $2)
  AND ($3::text IS NULL OR a.serial_no = $3)
  AND ($4::text IS NULL OR a.license_no = $4)
  AND ($5::date IS NULL OR (a.applied_at AT TIME ZONE 'Asia/Shanghai')::date >= $5)
  AND ($6::date IS NULL OR (a.applied_at AT TIME ZONE 'Asia/Shanghai')::date <= $6)
"""


async def customs_status_page(
    conn: asyncpg.Connection,
    *,
    enterprise_codes: tuple[str, ...],
    year: int | None,
    serial_no: str | None,
    license_no: str | None,
    applied_from: date | None,
    applied_to: date | None,
    page: int,
    page_size: int,
) -> tuple[int, list[dict[str, Any]]]:
    args = (list(enterprise_codes), year, serial_no, license_no, applied_from, applied_to)
    total = await conn.fetchval(f"SELECT count(*) {STATUS_FILTER}", *args)
    rows = await conn.fetch(
        "SELECT a.application_id, a.serial_no, a.license_no, a.form_no, a.year, a.commodity_code,"
        " a.commodity_name, a.application_status, a.applied_at, l.customs_status,"
        " l.last_delivery_detail, l.delivery_rounds, l.next_delivery_at"
        f" {STATUS_FILTER} ORDER BY a.applied_at DESC NULLS LAST, a.application_id"
        " LIMIT $7 OFFSET $8",
        *args,
        page_size,
        (page - 1) * page_size,
    )
    return int(total), [dict(r) for r in rows]


async def application_of_license(
    conn: asyncpg.Connection, license_no: str, enterprise_codes: tuple[str, ...]
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT application_id, enterprise_code FROM {SCHEMA}.licenses"
        " WHERE license_no = $1 AND enterprise_code = ANY($2::text[])"
        f" UNION ALL SELECT application_id, enterprise_code FROM {SCHEMA}.applications"
        " WHERE license_no = $1 AND enterprise_code = ANY($2::text[]) LIMIT 1",
        license_no,
        list(enterprise_codes),
    )
    if row is None:
        raise NotFound(f"license {license_no} not found")
    return row


async def history(
    conn: asyncpg.Connection, application_id: str, since: datetime | None, until: datetime | None
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"SELECT occurred_at, kind, summary, license_no, data FROM {SCHEMA}.history"
        " WHERE application_id = $1 AND ($2::timestamptz IS NULL OR occurred_at >= $2)"
        " AND ($3::timestamptz IS NULL OR occurred_at < $3) ORDER BY occurred_at, id",
        application_id,
        since,
        until,
    )
    return [dict(r) for r in rows]
