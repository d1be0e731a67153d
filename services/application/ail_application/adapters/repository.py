"""asyncpg repository for applications. Every read is scoped to the tenant's enterprises."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import asyncpg

from ail_application.domain.model import Application
from ail_shared.errors import NotFound
from ail_shared.vocabulary import ApplicationStatus

SCHEMA = "application"

INSERT = f"""
INSERT INTO {SCHEMA}.applications (id, serial_no, enterprise_code, status, year, form)
VALUES ($1, $2, $3, $4, $5, $6)
"""
GET_FOR_UPDATE = f"""
SELECT * FROM {SCHEMA}.applications WHERE id = $1 AND enterprise_code = ANY($2::text[])
FOR UPDATE
"""
GET = f"SELECT * FROM {SCHEMA}.applications WHERE id = $1 AND enterprise_code = ANY($2::text[])"
UPDATE = f"""
UPDATE {SCHEMA}.applications
SET status = $2, status_reason = $3, form = $4, form_no = $5, license_no = $6, applied_at = $7,
    submission_id = $8, version = version + 1, updated_at = now()
WHERE id = $1
"""


def _to_domain(row: asyncpg.Record) -> Application:
    return Application(
        id=row["id"],
        serial_no=row["serial_no"],
        enterprise_code=row["enterprise_code"],
        year=row["year"],
        status=ApplicationStatus(row["status"]),
        form=row["form"],
        form_no=row["form_no"],
        license_no=row["license_no"],
        applied_at=row["applied_at"],
        status_reason=row["status_reason"],
        submission_id=row["submission_id"],
        version=row["version"],
    )


class ApplicationRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def next_serial(self) -> int:
        value: int = await self.conn.fetchval(f"SELECT nextval('{SCHEMA}.serial_no_seq')")
        return value

    async def add(self, app: Application) -> None:
        await self.conn.execute(
            INSERT, app.id, app.serial_no, app.enterprise_code, app.status.value, app.year, app.form
        )

    async def get(
        self, *, id: UUID, enterprise_codes: tuple[str, ...], for_update: bool = False
    ) -> Application:
        row = await self.conn.fetchrow(GET_FOR_UPDATE if for_update else GET, id, list(enterprise_codes))
        if row is None:
            raise NotFound(f"application {id} not found")
        return _to_domain(row)

    async def save(self, app: Application) -> None:
        await self.conn.execute(
            UPDATE,
            app.id,
            app.status.value,
            app.status_reason,
            app.form,
            app.form_no,
            app.license_no,
            app.applied_at,
            app.submission_id,
        )


def to_view(app: Application) -> dict[str, Any]:
    return {
        "id": str(app.id),
        "serial_no": app.serial_no,
        "enterprise_code": app.enterprise_code,
        "year": app.year,
        "status": app.status.value,
        "status_reason": app.status_reason,
        "form_no": app.form_no,
        "license_no": app.license_no,
        "applied_at": app.applied_at.isoformat() if app.applied_at else None,
        **app.form,
    }
