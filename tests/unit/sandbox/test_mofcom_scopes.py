"""The MOFCOM sandbox's scoped control in process (httpx over ASGI): a scope's settings apply to
the submissions that match it (their acceptance, reviews and callbacks), the global ``/control``
to every other one, so tests that change MOFCOM only for their own applications can run beside
the others (the parallel phase of ``./dev test``)."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ail_sandbox.mofcom.app import create_app
from ail_shared.canonical import canonical_json
from tests.support import eventually
from tests.unit.support import make_cert

CODE = "1100776367555"
GLOBAL_URL = "http://submission.test/internal/mofcom/results"


@dataclass
class Sandbox:
    client: httpx.AsyncClient
    state: Any
    key: ec.EllipticCurvePrivateKey
    callbacks: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def submit(self, app_id: str, **snapshot: Any) -> httpx.Response:
        payload = canonical_json(
            {"enterprise_code": CODE, "commodity_code": "2601110000", "year": 2026, **snapshot}
        )
        signature = base64.b64encode(self.key.sign(payload, ec.ECDSA(hashes.SHA256()))).decode()
        return await self.client.post(
            "/mofcom/submissions",
            headers={"Idempotency-Key": str(uuid.uuid4())},
            json={
                "application_id": app_id,
                "enterprise_code": CODE,
                "ekey_serial": "k1",
                "payload": base64.b64encode(payload).decode(),
                "signature": signature,
            },
        )

    async def scope(self, match: dict[str, str], control: dict[str, Any]) -> str:
        r = await self.client.post("/control/scopes", json={"match": match, "control": control})
        assert r.status_code == 201, r.text
        return str(r.json()["id"])

    def status(self, app_id: str) -> str:
        return next(s.status for s in self.state.by_form.values() if s.application_id == app_id)

    def delivered(self, app_id: str) -> list[tuple[str, str]]:
        return [(url, r["stage"]) for url, r in self.callbacks if r.get("application_id") == app_id]


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    app = create_app()
    state = app.state.sandbox
    key, pem = make_cert(CODE)
    box: Sandbox

    def receive(request: httpx.Request) -> httpx.Response:
        box.callbacks.append((str(request.url), json.loads(request.content)))
        return httpx.Response(200, json={"ok": True})

    app.state.clients["c"] = httpx.AsyncClient(transport=httpx.MockTransport(receive))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        box = Sandbox(c, state, key)
        cert = {"enterprise_code": CODE, "ekey_serial": "k1", "certificate_pem": pem}
        r = await c.post("/mofcom/certificates", json=cert)
        assert r.status_code == 200, r.text
        r = await c.post("/control", json={"first_delay": 0, "second_delay": 0, "callback_url": GLOBAL_URL})
        assert r.status_code == 200, r.text
        try:
            yield box
        finally:
            for task in list(state.tasks):
                task.cancel()
            await asyncio.gather(*state.tasks, return_exceptions=True)
            await app.state.clients["c"].aclose()


def _id() -> str:
    return str(uuid.uuid4())


async def test_a_scoped_review_rule_decides_only_the_matching_submission(sandbox: Sandbox) -> None:
    mine, theirs = _id(), _id()
    await sandbox.scope({"application_id": mine}, {"second_reject_rate": 1.0})
    assert (await sandbox.submit(mine)).status_code == 201
    assert (await sandbox.submit(theirs)).status_code == 201

    decided = {"approved", "second_review_rejected"}
    await until(lambda: {sandbox.status(mine), sandbox.status(theirs)} <= decided, "both reviews")
    assert sandbox.status(mine) == "second_review_rejected"
    assert sandbox.status(theirs) == "approved"


async def test_a_scope_matches_a_field_of_the_signed_snapshot(sandbox: Sandbox) -> None:
    marker = f"scope-{uuid.uuid4().hex[:8]}"
    await sandbox.scope({"remarks": marker}, {"first_reject_rate": 1.0})
    mine, theirs = _id(), _id()
    assert (await sandbox.submit(mine, remarks=marker)).status_code == 201
    assert (await sandbox.submit(theirs, remarks="another test's")).status_code == 201
    await until(
        lambda: sandbox.status(theirs) == "approved" and sandbox.status(mine) != "pending_first_review",
        "both first reviews",
    )
    assert sandbox.status(mine) == "first_review_rejected"


async def test_scoped_faults_refuse_only_the_matching_requests_and_the_route_still_reads_the_body(
    sandbox: Sandbox,
) -> None:
    mine, theirs = _id(), _id()
    await sandbox.scope({"application_id": mine}, {"faults": {"error_rate": 1.0}})
    refused = await sandbox.submit(mine)
    assert refused.status_code == 500 and refused.json()["error"]["code"] == "internal_error"
    # The fault middleware read the other request's body to match it: the route still gets it.
    accepted = await sandbox.submit(theirs)
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["application_id"] == theirs
    assert not [s for s in sandbox.state.by_form.values() if s.application_id == mine]


async def test_a_changed_scope_faults_the_revoke_of_its_own_submission_only(sandbox: Sandbox) -> None:
    await sandbox.client.post("/control", json={"first_delay": 600})
    mine, theirs = _id(), _id()
    scope = await sandbox.scope({"application_id": mine}, {"first_delay": 600})
    form_mine = (await sandbox.submit(mine)).json()["form_no"]
    form_theirs = (await sandbox.submit(theirs)).json()["form_no"]
    r = await sandbox.client.patch(f"/control/scopes/{scope}", json={"faults": {"error_rate": 1.0}})
    assert r.status_code == 200, r.text
    assert r.json()["control"] == {"first_delay": 600, "faults": {"error_rate": 1.0}}
    assert (await sandbox.client.post(f"/mofcom/submissions/{form_mine}/revoke")).status_code == 500
    assert (await sandbox.client.post(f"/mofcom/submissions/{form_theirs}/revoke")).status_code == 200
    await sandbox.client.patch(f"/control/scopes/{scope}", json={"faults": {"error_rate": 0.0}})
    assert (await sandbox.client.post(f"/mofcom/submissions/{form_mine}/revoke")).status_code == 200


async def test_scoped_callbacks_go_where_and_as_often_as_the_scope_says(sandbox: Sandbox) -> None:
    mine, theirs = _id(), _id()
    scoped_url = "http://elsewhere.test/results"
    await sandbox.scope(
        {"application_id": mine},
        {"callback_url": scoped_url, "faults": {"duplicate_rate": 1.0, "out_of_order": True}},
    )
    await sandbox.submit(mine)
    await sandbox.submit(theirs)
    await until(
        lambda: len(sandbox.delivered(mine)) == 4 and len(sandbox.delivered(theirs)) == 2,
        "every result delivered",
    )
    assert sandbox.delivered(mine) == [(scoped_url, "second")] * 2 + [(scoped_url, "first")] * 2
    assert sandbox.delivered(theirs) == [(GLOBAL_URL, "first"), (GLOBAL_URL, "second")]


async def test_what_a_scope_leaves_out_is_the_global_controls(sandbox: Sandbox) -> None:
    await sandbox.client.post("/control", json={"first_reject_rate": 1.0})
    mine = _id()
    await sandbox.scope({"application_id": mine}, {"second_reject_rate": 1.0})
    await sandbox.submit(mine)
    await until(lambda: sandbox.status(mine) != "pending_first_review", "the first review")
    assert sandbox.status(mine) == "first_review_rejected"


async def test_a_deleted_scope_no_longer_applies_and_reset_keeps_the_others(sandbox: Sandbox) -> None:
    mine, kept = _id(), _id()
    gone = await sandbox.scope({"application_id": mine}, {"faults": {"error_rate": 1.0}})
    stays = await sandbox.scope({"application_id": kept}, {"faults": {"error_rate": 1.0}})
    # Another test resets the global control: the scopes are not its to clear.
    assert (await sandbox.client.post("/control/reset")).status_code == 200
    listed = (await sandbox.client.get("/control/scopes")).json()["items"]
    assert {s["id"] for s in listed} == {gone, stays}
    assert (await sandbox.client.delete(f"/control/scopes/{gone}")).status_code == 204
    assert (await sandbox.client.get(f"/control/scopes/{gone}")).status_code == 404
    assert (await sandbox.client.delete(f"/control/scopes/{gone}")).status_code == 404
    assert (await sandbox.submit(mine)).status_code == 201
    assert (await sandbox.submit(kept)).status_code == 500
    assert (await sandbox.client.get(f"/control/scopes/{stays}")).json()["hits"] == 1


async def test_non_electronic_can_be_scoped_to_an_enterprise(sandbox: Sandbox) -> None:
    await sandbox.scope({"enterprise_code": "3100123456789"}, {"non_electronic": ["2601110000"]})

    async def allowed(enterprise: str) -> bool:
        body = {"commodity_codes": ["2601110000"], "year": 2026, "enterprise_code": enterprise}
        r = await sandbox.client.post("/mofcom/eligibility", json=body)
        return bool(r.json()["results"][0]["electronic_allowed"])

    assert not await allowed("3100123456789")
    assert await allowed(CODE)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"match": {}, "control": {}}, "match"),
        ({"control": {"first_delay": 1}}, "match"),
        ({"match": {"application_id": "x"}, "control": {"faults": {"error_rate": 2}}}, "faults.error_rate"),
        ({"match": {"application_id": "x"}, "control": {"first_delay": "soon"}}, "first_delay"),
        ({"match": {"application_id": "x"}, "control": {"fist_delay": 1}}, "control"),
        ({"match": {"application_id": "x"}, "control": {"faults": {"eror_rate": 1}}}, "control"),
    ],
)
async def test_a_bad_scope_is_refused_naming_the_field(
    sandbox: Sandbox, body: dict[str, Any], field: str
) -> None:
    r = await sandbox.client.post("/control/scopes", json=body)
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_scope" and field in [d["field"] for d in error["details"]], error
    assert not (await sandbox.client.get("/control/scopes")).json()["items"]


async def test_a_bad_change_leaves_the_scope_as_it_was(sandbox: Sandbox) -> None:
    scope = await sandbox.scope({"application_id": _id()}, {"first_delay": 5})
    r = await sandbox.client.patch(f"/control/scopes/{scope}", json={"contract_totals_rule": "loose"})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "contract_totals_rule"
    assert (await sandbox.client.get(f"/control/scopes/{scope}")).json()["control"] == {"first_delay": 5}
    missing = await sandbox.client.patch(f"/control/scopes/{_id()}", json={"first_delay": 1})
    assert missing.status_code == 404 and "GET /control/scopes" in missing.json()["error"]["message"]


async def until(check: Callable[[], bool], what: str) -> None:
    """The reviews run in the sandbox's tasks, delays 0: a few event-loop turns."""

    async def poll() -> bool:
        return check()

    await eventually(poll, timeout=5, interval=0.01, what=what)
