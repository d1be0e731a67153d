"""asyncpg repository for applications. Every read is scoped to the tenant's enterprises."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from ail_application.domain.model import Application
from ail_shared.errors import NotFound
from ail_shared.lifecycle import ApplicationStatus

SCHEMA = "application"

COLUMNS = (
    "id, serial_no, enterprise_code, status, year, form, form_no, license_no, applied_at,"
    " status_reason, submission_id, version, importer_name, one_batch_one_license, issuing_agency,"
    " electronic_license, computed, contract, iron_ore_contract, copied_from, trade_mode,"
    " import_user_code, import_user_name, commodity_code, commodity_name, unit, total_quantity,"
    " total_value_usd, created_at, updated_at"
)
INSERT = f"""
INSERT INTO {SCHEMA}.applications (id, serial_no, enterprise_code, status, year, form, importer_name,
    one_batch_one_license, issuing_agency, electronic_license, computed, contract, iron_ore_contract,
    copied_from, trade_mode, import_user_code, import_user_name, commodity_code, commodity_name, unit,
    total_quantity, total_value_usd)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)
RETURNING created_at, updated_at
"""
GET = f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE id = $1 AND enterprise_code = ANY($2::text[])"
GET_FOR_UPDATE = GET + " FOR UPDATE"
GET_MANY = (
    f"SELECT {COLUMNS} FROM {SCHEMA}.applications WHERE id = ANY($1::uuid[])"
    " AND enterprise_code = ANY($2::text[])"
)
UPDATE = f"""
UPDATE {SCHEMA}.applications
SET status = $2, status_reason = $3, form = $4, form_no = $5, license_no = $6, applied_at = $7,
    submission_id = $8, computed = $9, contract = $10, iron_ore_contract = $11, trade_mode = $12,
    import_user_code = $13, import_user_name = $14, commodity_code = $15, commodity_name = $16,
    unit = $17, total_quantity = $18, total_value_usd = $19, issuing_agency = $20,
    version = version + 1, updated_at = now()
WHERE id = $1
RETURNING version, updated_at
"""
DELETE = f"DELETE FROM {SCHEMA}.applications WHERE id = $1"
LAST_PROFILE = f"SELECT applicant FROM {SCHEMA}.enterprise_profiles WHERE enterprise_code = $1"
SAVE_PROFILE = f"""
INSERT INTO {SCHEMA}.enterprise_profiles (enterprise_code, applicant) VALUES ($1, $2)
ON CONFLICT (enterprise_code) DO UPDATE SET applicant = EXCLUDED.applicant, updated_at = now()
"""
ENTERPRISE_NAME = "SELECT name FROM iam.enterprises WHERE code = $1"


def _to_domain(row: asyncpg.Record) -> Application:
    return Application(
        id=row["id"],
        serial_no=row["serial_no"],
        enterprise_code=row["enterprise_code"],
        year=row["year"],
        importer_name=row["importer_name"],
        status=ApplicationStatus(row["status"]),
        one_batch_one_license=row["one_batch_one_license"],
        issuing_agency=row["issuing_agency"],
        electronic_license=row["electronic_license"],
        form=row["form"],
        computed=row["computed"],
        contract=row["contract"],
        iron_ore_contract=row["iron_ore_contract"],
        form_no=row["form_no"],
        license_no=row["license_no"],
        applied_at=row["applied_at"],
        status_reason=row["status_reason"],
        submission_id=row["submission_id"],
        copied_from=row["copied_from"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _num(v: Any) -> Decimal | None:
    return Decimal(str(v)) if v is not None else None


def _query_columns(app: Application) -> tuple[Any, ...]:
    f, c = app.form, app.computed
    return (
        f.get("trade_mode"),
        f.get("import_user_code"),
        f.get("import_user_name"),
        f.get("commodity_code"),
        c.get("commodity_name"),
        c.get("unit"),
        _num(c.get("total_quantity")),
        _num(c.get("total_value_usd")),
    )


class ApplicationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def next_serial(self) -> int:
        value: int = await self.conn.fetchval(f"SELECT nextval('{SCHEMA}.serial_no_seq')")
        return value

    async def enterprise_name(self, code: str) -> str:
        return await self.conn.fetchval(ENTERPRISE_NAME, code) or ""

    async def add(self, app: Application) -> None:
        row = await self.conn.fetchrow(
            INSERT,
            app.id,
            app.serial_no,
            app.enterprise_code,
            app.status.value,
            app.year,
            app.form,
            app.importer_name,
            app.one_batch_one_license,
            app.issuing_agency,
            app.electronic_license,
            app.computed,
            app.contract,
            app.iron_ore_contract,
            app.copied_from,
            *_query_columns(app),
        )
        app.created_at, app.updated_at = row["created_at"], row["updated_at"]

    async def get(
        self, *, id: UUID, enterprise_codes: Sequence[str], for_update: bool = False
    ) -> Application:
        row = await self.conn.fetchrow(GET_FOR_UPDATE if for_update else GET, id, list(enterprise_codes))
        if row is None:
            raise NotFound(f"application {id} not found")
        return _to_domain(row)

    async def get_many(self, *, ids: Sequence[UUID], enterprise_codes: Sequence[str]) -> list[Application]:
        rows = await self.conn.fetch(GET_MANY, list(ids), list(enterprise_codes))
        return [_to_domain(r) for r in rows]

    async def save(self, app: Application) -> None:
        row = await self.conn.fetchrow(
            UPDATE,
            app.id,
            app.status.value,
            app.status_reason,
            app.form,
            app.form_no,
            app.license_no,
            app.applied_at,
            app.submission_id,
            app.computed,
            app.contract,
            app.iron_ore_contract,
            *_query_columns(app),
            app.issuing_agency,
        )
        app.version, app.updated_at = row["version"], row["updated_at"]

    async def delete(self, app: Application) -> None:
        await self.conn.execute(DELETE, app.id)

    async def last_applicant(self, enterprise_code: str) -> dict[str, Any] | None:
        value: dict[str, Any] | None = await self.conn.fetchval(LAST_PROFILE, enterprise_code)
        return value

    async def save_applicant(self, enterprise_code: str, applicant: dict[str, Any]) -> None:
        await self.conn.execute(SAVE_PROFILE, enterprise_code, applicant)


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


async def query(
    conn: asyncpg.Connection, f: QueryFilters, enterprise_codes: Sequence[str], *, page: int, page_size: int
) -> tuple[int, list[asyncpg.Record]]:
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
    return total, rows
