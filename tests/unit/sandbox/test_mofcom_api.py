"""The MOFCOM sandbox's HTTP API in process (httpx over ASGI): revoking a submission that is
past ``pending_first_review`` is refused with 409 and names its status."""

from __future__ import annotations

import asyncio
import base64
import uuid

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ail_sandbox.mofcom.app import create_app
from ail_shared.canonical import canonical_json
from tests.unit.support import make_cert

CODE = "1100776367555"


async def test_revoke_after_first_review_is_refused_with_the_status() -> None:
    app = create_app()
    state = app.state.sandbox
    key, pem = make_cert(CODE)
    payload = canonical_json({"enterprise_code": CODE, "commodity_code": "2601110000", "year": 2026})
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        try:
            assert (await client.post("/control", json={"first_delay": 600})).status_code == 200
            r = await client.post(
                "/mofcom/certificates",
                json={"enterprise_code": CODE, "ekey_serial": "k1", "certificate_pem": pem},
            )
            assert r.status_code == 200, r.text
            r = await client.post(
                "/mofcom/submissions",
                headers={"Idempotency-Key": str(uuid.uuid4())},
                json={
                    "application_id": str(uuid.uuid4()),
                    "enterprise_code": CODE,
                    "ekey_serial": "k1",
                    "payload": base64.b64encode(payload).decode(),
                    "signature": signature,
                },
            )
            assert r.status_code == 201, r.text
            form = r.json()["form_no"]
            state.by_form[form].status = "pending_second_review"  # as after a passed first review

            r = await client.post(f"/mofcom/submissions/{form}/revoke")
            assert r.status_code == 409, r.text
            assert r.json()["error"] == {
                "code": "not_revocable",
                "message": f"form {form} is pending_second_review",
                "status": "pending_second_review",
            }
            assert state.by_form[form].status == "pending_second_review"
        finally:
            for task in list(state.tasks):
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)


async def test_a_commodity_off_the_catalogue_is_refused_in_chinese_with_the_rules_code() -> None:
    """Acceptance runs ail_shared.formrules.commodity, the rule our validation runs."""
    app = create_app()
    key, pem = make_cert(CODE)
    payload = canonical_json({"enterprise_code": CODE, "commodity_code": "2303300010", "year": 2019})
    signature = base64.b64encode(key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        r = await client.post(
            "/mofcom/certificates",
            json={"enterprise_code": CODE, "ekey_serial": "k1", "certificate_pem": pem},
        )
        assert r.status_code == 200, r.text
        r = await client.post(
            "/mofcom/submissions",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "application_id": str(uuid.uuid4()),
                "enterprise_code": CODE,
                "ekey_serial": "k1",
                "payload": base64.b64encode(payload).decode(),
                "signature": signature,
            },
        )
    assert r.status_code == 422, r.text
    message = "商品代码 2303300010 不在2019年度自动进口许可管理货物目录内"
    assert r.json()["error"] == {
        "code": "commodity_not_on_catalogue",
        "message": message,
        "details": [{"field": "commodity_code", "reason": message, "code": "commodity_not_on_catalogue"}],
    }
    assert not app.state.sandbox.by_form, "nothing accepted, no form no. given"
