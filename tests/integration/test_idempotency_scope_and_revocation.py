"""Issue 10, item 9: an agency's Idempotency-Key is scoped to the enterprise it acts for, and
revoking an agency's authorisation or an API key takes effect at once (no cache)."""

from __future__ import annotations

import random
import uuid

import asyncpg
import httpx

from ail_shared.auth import new_api_key
from tests.support import api_client


async def _enterprise(conn: asyncpg.Connection) -> str:
    code = "98" + "".join(random.choices("0123456789", k=11))
    await conn.execute(
        "INSERT INTO iam.enterprises (code, name) VALUES ($1, $2)", code, f"幂等测试企业 {code}"
    )
    return code


async def _agency_with_key(db: asyncpg.Pool) -> tuple[str, str, str, str]:
    """(agency code, raw key, enterprise A, enterprise B): a fresh agency authorised by two
    fresh enterprises, so revoking here touches no other test's data."""
    agency = f"AG{uuid.uuid4().hex[:10]}"
    raw, key_id, digest = new_api_key()
    async with db.acquire() as conn, conn.transaction():
        a, b = await _enterprise(conn), await _enterprise(conn)
        await conn.execute("INSERT INTO iam.agencies (code, name) VALUES ($1, $2)", agency, "测试代理")
        for code in (a, b):
            await conn.execute(
                "INSERT INTO iam.agency_authorizations (agency_code, enterprise_code) VALUES ($1, $2)",
                agency,
                code,
            )
        await conn.execute(
            "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, agency_code, label)"
            " VALUES ($1, $2, 'agency', $3, 'idempotency tests')",
            key_id,
            digest,
            agency,
        )
    return agency, raw, a, b


async def test_agency_key_is_scoped_to_the_enterprise_and_revocation_is_immediate(
    db: asyncpg.Pool, entry_url: str
) -> None:
    agency, raw, a, b = await _agency_with_key(db)
    key = f"draft-{uuid.uuid4()}"
    body = {"remarks": "代理同一请求"}
    async with api_client(entry_url, raw) as client:

        async def create(enterprise: str) -> httpx.Response:
            return await client.post(
                "/api/v1/applications",
                json=body,
                headers={"X-Enterprise-Code": enterprise, "Idempotency-Key": key},
            )

        first = await create(a)
        assert first.status_code == 201, first.text
        assert first.json()["enterprise_code"] == a
        for_b = await create(b)  # same key, same body, another enterprise: a new write
        assert for_b.status_code == 201, for_b.text
        assert for_b.headers.get("idempotent-replayed") is None
        assert for_b.json()["enterprise_code"] == b and for_b.json()["id"] != first.json()["id"]
        got = await client.get(f"/api/v1/applications/{for_b.json()['id']}", headers={"X-Enterprise-Code": b})
        assert got.status_code == 200 and got.json()["enterprise_code"] == b  # B's draft exists
        replay = await create(a)  # a retry for A still replays A's answer
        assert replay.status_code == 201 and replay.headers.get("idempotent-replayed") == "true"
        assert replay.json()["id"] == first.json()["id"]

        # A revokes the agency: the very next request for A is refused, B still works.
        await db.execute(
            "UPDATE iam.agency_authorizations SET revoked_at = now()"
            " WHERE agency_code = $1 AND enterprise_code = $2",
            agency,
            a,
        )
        refused = await create(a)
        assert refused.status_code == 403, refused.text
        r = await client.get(f"/api/v1/applications/{first.json()['id']}", headers={"X-Enterprise-Code": a})
        assert r.status_code == 403
        assert (await client.get("/api/v1/applications", headers={"X-Enterprise-Code": b})).status_code == 200

        # The key itself revoked: refused at once.
        await db.execute(
            "UPDATE iam.api_keys SET revoked_at = now() WHERE agency_code = $1 AND revoked_at IS NULL", agency
        )
        r = await client.get("/api/v1/applications", headers={"X-Enterprise-Code": b})
        assert r.status_code == 401, r.text
        assert (await create(b)).status_code == 401
