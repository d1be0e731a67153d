from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from ail_shared.http import CurrentTenant, Pool
from ail_status.adapters.repository import StatusRepository

router = APIRouter(prefix="/api/v1", tags=["status"])


@router.get("/applications/{application_id}/status")
async def application_status(application_id: str, pool: Pool, tenant: CurrentTenant) -> Any:
    async with pool.acquire() as conn:
        return await StatusRepository(conn).get(application_id, tenant.enterprise_codes)
