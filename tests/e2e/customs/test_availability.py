"""The availability check through the entry point (issue 16): the route reads the API key and the
license in one statement (``queries.license_for_caller``) and checks the tenant on the row it got,
so these tests hold it to what the two-statement route did: another tenant's license and an
unknown one get the same 404, an agency sees the enterprises that authorised it, a revoked key
is refused at the next check (nothing cached), and a use or its reversal shows in the very next
check."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from ail_shared.auth import new_api_key
from tests.integration.customs.support import (
    ENTERPRISE_A,
    ENTERPRISE_B,
    declare,
    licensed,
    new_license_no,
    wait_ledger,
    wait_status,
)
from tests.support import api_client


async def check(client: httpx.AsyncClient, no: str, quantity: str, **headers: str) -> httpx.Response:
    return await client.get(
        f"/api/v1/licenses/{no}/availability", params={"quantity": quantity}, headers=headers
    )


async def test_the_check_is_scoped_to_the_tenant_and_refuses_a_revoked_key_at_once(
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    enterprise_b: httpx.AsyncClient,
    agency: httpx.AsyncClient,
    entry_url: str,
    db: asyncpg.Pool,
) -> None:
    app = await licensed(kafka_producer, customs_sandbox, quantity=Decimal("1000"))
    no = app.license_no
    await wait_status(enterprise_a, no, "stored")

    mine = await check(enterprise_a, no, "10")
    assert mine.status_code == 200, mine.text
    assert (mine.json()["license_no"], mine.json()["can_cover"]) == (no, True)

    # Another tenant's license and one that does not exist: the same answer, nothing leaks.
    unknown = new_license_no()
    for client, number in ((enterprise_b, no), (enterprise_a, unknown), (enterprise_b, unknown)):
        r = await check(client, number, "10")
        assert r.status_code == 404, r.text
        assert r.json()["error"] == {
            "code": "not_found",
            "message": f"license {number} not found",
            "details": [],
        }

    # An agency: for the enterprise that authorised it, and for all of them without the header;
    # for one that did not authorise it, refused before anything is read.
    r = await check(agency, no, "10", **{"X-Enterprise-Code": ENTERPRISE_A})
    assert r.status_code == 200 and r.json()["license_no"] == no, r.text
    r = await check(agency, no, "10")
    assert r.status_code == 200, r.text
    r = await check(agency, no, "10", **{"X-Enterprise-Code": "9999999999999"})
    assert r.status_code == 403, r.text
    r = await check(enterprise_b, no, "10", **{"X-Enterprise-Code": ENTERPRISE_A})
    assert r.status_code == 403, r.text  # an enterprise key acts for itself only
    r = await check(enterprise_b, no, "10", **{"X-Enterprise-Code": ENTERPRISE_B})
    assert r.status_code == 404, r.text

    # Credentials: none, malformed, mistyped secret, then a key of A revoked between two checks.
    async with httpx.AsyncClient(base_url=entry_url, timeout=30) as anonymous:
        assert (await check(anonymous, no, "10")).status_code == 401
        assert (await check(anonymous, no, "10", Authorization="Bearer nonsense")).status_code == 401
    raw, key_id, digest = new_api_key()
    await db.execute(
        "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, label)"
        " VALUES ($1, $2, 'enterprise', $3, 'availability-test')",
        key_id,
        digest,
        ENTERPRISE_A,
    )
    async with api_client(entry_url, raw[:-2] + ("AA" if not raw.endswith("AA") else "BB")) as mistyped:
        r = await check(mistyped, no, "10")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated", r.text
    async with api_client(entry_url, raw) as fresh:
        assert (await check(fresh, no, "10")).status_code == 200
        await db.execute("UPDATE iam.api_keys SET revoked_at = now() WHERE key_id = $1", key_id)
        r = await check(fresh, no, "10")
        assert r.status_code == 401, r.text
        assert r.json()["error"]["code"] == "unauthenticated"


async def test_a_use_and_its_reversal_show_in_the_next_check(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    app = await licensed(kafka_producer, customs_sandbox, quantity=Decimal("1000"))
    no = app.license_no
    await wait_status(enterprise_a, no, "stored")
    before = (await check(enterprise_a, no, "1000")).json()
    assert (before["can_cover"], before["used_quantity"], before["uses"]) == (True, "0", 0)

    used = await declare(customs_sandbox, no, "600")
    await wait_ledger(enterprise_a, no, 1)  # the ledger has the use: the next check must show it
    after = (await check(enterprise_a, no, "1000")).json()
    assert (after["used_quantity"], after["remaining_quantity"], after["uses"]) == ("600", "400", 1)
    assert after["can_cover"] is False and after["reason"] is not None
    assert (await check(enterprise_a, no, "400")).json()["can_cover"] is True

    r = await customs_sandbox.post(f"/control/declarations/{used['declaration_no']}/invalidate", json={})
    r.raise_for_status()
    await wait_ledger(enterprise_a, no, 2)
    restored = (await check(enterprise_a, no, "1000")).json()
    assert (restored["used_quantity"], restored["uses"], restored["can_cover"]) == ("0", 0, True)
