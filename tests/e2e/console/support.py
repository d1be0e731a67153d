"""What the console's browser tests share around their scripts."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from tests.integration.submission.support import wait_for_ekey
from tests.support import eventually

ENTERPRISE_A = "1100776367555"


async def bind_demo_ekey(client: httpx.AsyncClient, stack: dict[str, str], db: asyncpg.Pool) -> None:
    """Enterprise A's demo e-key bound (a submit is signed with it) and known to the application
    service. Idempotent: binding the bound key again changes nothing."""
    serial = stack["AIL_DEMO_EKEY_SERIALS"].split(",")[0]
    await wait_for_ekey(client, serial)
    resp = await client.post("/api/v1/ekey-bindings", json={"ekey_serial": serial})
    assert resp.status_code in (200, 201), resp.text

    async def known() -> Any:
        return await db.fetchval(
            "SELECT 1 FROM application.ekey_bindings WHERE enterprise_code = $1 AND ekey_serial = $2",
            ENTERPRISE_A,
            serial,
        )

    await eventually(known, what="the application service learns the binding")
