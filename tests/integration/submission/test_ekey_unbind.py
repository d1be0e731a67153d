"""Issue 18: unbinding an e-key (DELETE /api/v1/ekey-bindings/{serial}) through the entry point.

Each test binds a certificate of its own enterprise (a fresh one, with its own API key; the
binding made by certificate like ``./dev up``'s demo binding), so unbinding changes nothing for
the tests beside it that submit for the demo enterprises."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest

from tests.integration.status.support import Enterprise, fresh_enterprise
from tests.integration.submission.support import create_draft, get_app
from tests.support import eventually, service_headers
from tests.unit.support import make_cert


@pytest.fixture
async def bound(stack: dict[str, str], db: asyncpg.Pool) -> tuple[Enterprise, str]:
    """A fresh enterprise with an e-key bound (its certificate registered with MOFCOM), and the
    binding known to the application service."""
    ent = await fresh_enterprise(db)
    serial = f"unbind-{uuid4().hex[:12]}"
    _, pem = make_cert(ent.code)
    async with httpx.AsyncClient(base_url=stack["AIL_SUBMISSION_URL"], timeout=30.0) as internal:
        resp = await internal.post(
            "/internal/ekey-bindings",
            json={"enterprise_code": ent.code, "ekey_serial": serial, "certificate_pem": pem},
            headers=service_headers(stack),
        )
    assert resp.status_code == 201, resp.text
    await eventually(lambda: _replica(db, ent.code), what="the application service learns the binding")
    return ent, serial


async def _replica(db: asyncpg.Pool, enterprise: str) -> Any:
    return await db.fetchval(
        "SELECT ekey_serial FROM application.ekey_bindings WHERE enterprise_code = $1", enterprise
    )


async def _certificates(stack: dict[str, str], enterprise: str) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10.0) as mofcom:
        resp = await mofcom.get("/control/certificates", params={"enterprise_code": enterprise})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_unbind_withdraws_at_mofcom_is_recorded_idempotent_and_submit_then_asks_to_bind(
    bound: tuple[Enterprise, str], entry_url: str, stack: dict[str, str], db: asyncpg.Pool
) -> None:
    ent, serial = bound
    assert serial in (await _certificates(stack, ent.code))["registered"]
    async with ent.client(entry_url) as client:
        draft = await create_draft(client)
        resp = await client.delete(f"/api/v1/ekey-bindings/{serial}")
        assert resp.status_code == 200, resp.text
        withdrawn = resp.json()
        assert withdrawn["enterprise_code"] == ent.code and withdrawn["ekey_serial"] == serial
        assert withdrawn["unbound_by"] and withdrawn["unbound_at"] >= withdrawn["bound_at"]

        # A retry (the answer was lost) gets the same withdrawal, and nothing happens twice.
        again = await client.delete(f"/api/v1/ekey-bindings/{serial}")
        assert again.status_code == 200 and again.json() == withdrawn, again.text
        assert (await client.get("/api/v1/ekey-bindings")).json()["items"] == []
        rows = await db.fetch("SELECT * FROM submission.ekey_unbindings WHERE enterprise_code = $1", ent.code)
        assert [(r["ekey_serial"], r["unbound_by"]) for r in rows] == [(serial, withdrawn["unbound_by"])]
        certs = await _certificates(stack, ent.code)
        assert serial not in certs["registered"]
        assert [w["ekey_serial"] for w in certs["withdrawn"]] == [serial]

        # Submitting now is refused up front, saying to bind an e-key (once the application
        # service has applied EkeyUnbound).
        async def forgotten() -> bool:
            return await _replica(db, ent.code) is None

        await eventually(forgotten, what="the application service drops the binding")
        submit = await client.post(f"/api/v1/applications/{draft}/submit")
        assert submit.status_code == 409, submit.text
        assert "POST /api/v1/ekey-bindings" in submit.json()["error"]["message"]
        assert (await get_app(client, draft))["status"] == "draft"


async def test_another_enterprises_binding_is_not_found_and_stays_bound(
    bound: tuple[Enterprise, str], entry_url: str, enterprise_b: httpx.AsyncClient, stack: dict[str, str]
) -> None:
    ent, serial = bound
    resp = await enterprise_b.delete(f"/api/v1/ekey-bindings/{serial}")
    assert resp.status_code == 404, resp.text
    assert resp.json()["error"]["code"] == "not_found"
    async with ent.client(entry_url) as client:
        listed = (await client.get("/api/v1/ekey-bindings")).json()["items"]
        assert [b["ekey_serial"] for b in listed] == [serial]
        unknown = await client.delete(f"/api/v1/ekey-bindings/never-bound-{uuid4().hex[:8]}")
        assert unknown.status_code == 404, unknown.text
        assert "GET /api/v1/ekey-bindings" in unknown.json()["error"]["message"]
    assert serial in (await _certificates(stack, ent.code))["registered"]
