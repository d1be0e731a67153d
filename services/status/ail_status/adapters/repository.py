from __future__ import annotations

from typing import Any

import asyncpg

from ail_shared.errors import NotFound

SCHEMA = "status"

UPSERT = f"""
INSERT INTO {SCHEMA}.applications AS a (application_id, enterprise_code, serial_no, status,
    status_reason, form_no, license_no, last_event_id, last_event_type, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (application_id) DO UPDATE SET
    status = EXCLUDED.status, status_reason = EXCLUDED.status_reason,
    serial_no = COALESCE(EXCLUDED.serial_no, a.serial_no),
    form_no = COALESCE(EXCLUDED.form_no, a.form_no),
    license_no = COALESCE(EXCLUDED.license_no, a.license_no),
    last_event_id = EXCLUDED.last_event_id, last_event_type = EXCLUDED.last_event_type,
    updated_at = EXCLUDED.updated_at
"""


class StatusRepository:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def current(self, application_id: str) -> asyncpg.Record | None:
        return await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1 FOR UPDATE", application_id
        )

    async def upsert(self, **row: Any) -> None:
        await self.conn.execute(
            UPSERT,
            row["application_id"],
            row["enterprise_code"],
            row.get("serial_no"),
            row["status"],
            row.get("status_reason"),
            row.get("form_no"),
            row.get("license_no"),
            row["last_event_id"],
            row["last_event_type"],
            row["updated_at"],
        )

    async def get(self, application_id: str, enterprise_codes: tuple[str, ...]) -> dict[str, Any]:
        row = await self.conn.fetchrow(
            f"SELECT * FROM {SCHEMA}.applications WHERE application_id = $1"
            " AND enterprise_code = ANY($2::text[])",
            application_id,
            list(enterprise_codes),
        )
        if row is None:
            raise NotFound(f"application {application_id} not found")
        return {k: (str(v) if k == "last_event_id" else v) for k, v in dict(row).items()}
