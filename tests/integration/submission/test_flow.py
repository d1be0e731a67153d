"""One application from draft to license_issued, and each way it can be turned back: through the
entry point, the real broker, the signer (SoftHSM2 e-key) and the MOFCOM sandbox. MOFCOM is
changed for each test's own application only (scopes): the module runs in the parallel phase,
but for the two tests that change a demo enterprise's e-key binding (serial)."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest

from tests.integration.submission.support import create_draft, get_app, valid_form, wait_status
from tests.support import MofcomScopes, eventually, read_topic

FORM_NO = re.compile(r"^\d{2}1100776367555\d{6}$")
LICENSE_NO = re.compile(r"^\d{2}[A-Z]+\d{4,}$")


async def events_of(kafka_bootstrap: str, topic: str, app_id: str, expect: int) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]] | None:
        recs = await read_topic(kafka_bootstrap, topic, timeout=3.0, idle=0.2)
        mine = [json.loads(r.value) for r in recs if r.key == app_id.encode()]
        return mine if len(mine) >= expect else None

    return await eventually(read, timeout=30, what=f"{expect} events of {app_id} on {topic}")


async def test_happy_path_reaches_license_issued(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    app_id = await create_draft(enterprise_a)
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    assert resp.status_code == 202, resp.text
    assert resp.json()["status"] == "submitting"

    draft = await get_app(enterprise_a, app_id)
    app = await wait_status(enterprise_a, app_id, "license_issued")
    assert FORM_NO.match(app["form_no"]), app["form_no"]
    assert LICENSE_NO.match(app["license_no"]), app["license_no"]
    assert app["applied_at"]
    assert app["handler_name"] == "张三" and app["goods"] == draft["goods"]

    submission = await events_of(kafka_bootstrap, "ail.submission", app_id, 4)
    types = [e["event_type"] for e in submission]
    assert types == ["SubmissionAccepted", "ReviewResultReceived", "ReviewResultReceived", "LicenseIssued"]
    issued = submission[-1]["payload"]
    assert issued["license_no"] == app["license_no"] and issued["form_no"] == app["form_no"]
    assert issued["commodity_code"] == "2303300010" and issued["enterprise_code"] == "1100776367555"
    assert issued["quantity"] == app["total_quantity"] and issued["unit"] == app["unit"]
    assert issued["valid_until"] > issued["issued_at"][:10]
    assert submission[2]["payload"]["application"]["serial_no"] == app["serial_no"]

    signer_events = await events_of(kafka_bootstrap, "ail.signer", app_id, 1)
    signed = [e for e in signer_events if e["event_type"] == "ApplicationSigned"]
    assert len({e["event_id"] for e in signed}) == 1
    assert signed[0]["payload"]["ekey_serial"] == enterprise_a_ekey


async def test_first_review_rejects_contract_totals_that_do_not_match_goods(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, mofcom_scopes: MofcomScopes
) -> None:
    """A stricter MOFCOM (the sandbox's "equal" fault mode): goods drawing on part of a contract
    are rejected at first review, the opinion its code and then Chinese text."""
    app_id = await create_draft(enterprise_a, quantity_off_by=Decimal(1))
    await mofcom_scopes.add({"contract_totals_rule": "equal"}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(
        enterprise_a, app_id, "first_review_rejected", "pending_second_review", "license_issued"
    )
    assert app["status"] == "first_review_rejected"
    assert app["status_reason"].startswith("contract_totals_not_equal: 初审不通过：合同总数量"), app
    assert "不符" in app["status_reason"] and app["form_no"] and app["license_no"] is None


async def test_first_review_random_rejection(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, mofcom_scopes: MofcomScopes
) -> None:
    app_id = await create_draft(enterprise_a)
    await mofcom_scopes.add({"first_reject_rate": 1.0}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(
        enterprise_a, app_id, "first_review_rejected", "pending_second_review", "license_issued"
    )
    assert app["status"] == "first_review_rejected" and "初审不通过" in app["status_reason"]


async def test_second_review_rejection(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, mofcom_scopes: MofcomScopes
) -> None:
    app_id = await create_draft(enterprise_a)
    await mofcom_scopes.add({"second_reject_rate": 1.0}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(enterprise_a, app_id, "second_review_rejected", "license_issued")
    assert app["status"] == "second_review_rejected"
    assert app["license_no"] is None and "复审不通过" in app["status_reason"]


# Serial: it points enterprise B's binding at an unplugged e-key for a while, and every other test
# that submits for enterprise B would wait for that e-key meanwhile.
@pytest.mark.serial
async def test_missing_ekey_returns_to_draft_with_reason_and_keeps_every_field(
    enterprise_b: httpx.AsyncClient,
    enterprise_b_ekey: str,
    db: asyncpg.Pool,
    mofcom_sandbox: httpx.AsyncClient,
) -> None:
    """The bound e-key has been on no signer host for longer than the grace period (10 minutes,
    issue 10 item 3): fail fast with ekey_not_present."""
    form = valid_form(remarks="保留我 keep me")
    app_id = await create_draft(enterprise_b, form)
    before = await get_app(enterprise_b, app_id)
    unplugged = f"unplugged-{app_id[:8]}"
    await db.execute(
        "INSERT INTO submission.ekey_presence (host_id, serial, last_seen, ttl_seconds)"
        " VALUES ('gone-host', $1, now() - interval '1 hour', 15)",
        unplugged,
    )
    await db.execute(
        "UPDATE submission.ekey_bindings SET ekey_serial = $2 WHERE enterprise_code = $1",
        "3100123456789",
        unplugged,
    )
    try:
        assert (await enterprise_b.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
        app = await wait_status(enterprise_b, app_id, "draft")
    finally:
        await db.execute(
            "UPDATE submission.ekey_bindings SET ekey_serial = $2 WHERE enterprise_code = $1",
            "3100123456789",
            enterprise_b_ekey,
        )
    assert app["status_reason"].startswith("ekey_not_present")
    for key, value in before.items():
        if key not in ("status", "status_reason", "version", "updated_at"):
            assert app[key] == value, key
    row = await db.fetchrow(
        "SELECT state, reason, signature FROM submission.submissions WHERE application_id = $1", UUID(app_id)
    )
    assert (
        row["state"] == "signing_failed" and row["reason"] == "ekey_not_present" and row["signature"] is None
    )


# Serial: it deletes enterprise A's binding for a moment (any other test's submit would be refused).
@pytest.mark.serial
async def test_submit_without_a_bound_ekey_is_refused_up_front(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, db: asyncpg.Pool
) -> None:
    app_id = await create_draft(enterprise_a)
    saved = await db.fetchrow(
        "SELECT * FROM application.ekey_bindings WHERE enterprise_code = '1100776367555'"
    )
    await db.execute("DELETE FROM application.ekey_bindings WHERE enterprise_code = '1100776367555'")
    try:
        resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")
    finally:
        await db.execute(
            "INSERT INTO application.ekey_bindings VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            *saved.values(),
        )
    assert resp.status_code == 409, resp.text
    assert "ekey-bindings" in resp.json()["error"]["message"]
    assert (await get_app(enterprise_a, app_id))["status"] == "draft"


async def test_payload_changed_after_signing_is_refused_by_the_sandbox(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    db: asyncpg.Pool,
    mofcom_sandbox: httpx.AsyncClient,
    mofcom_scopes: MofcomScopes,
) -> None:
    app_id = await create_draft(enterprise_a)
    # MOFCOM fails this application's sends: it is held signed, after signing.
    scope = await mofcom_scopes.add({"faults": {"error_rate": 1.0}}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202

    async def signed_and_tried() -> Any:
        return await db.fetchrow(
            "SELECT submission_id FROM submission.submissions WHERE application_id = $1 AND state = 'signed'"
            " AND attempts >= 1 AND last_error IS NOT NULL",
            UUID(app_id),
        )

    row = await eventually(signed_and_tried, what="signed submission that MOFCOM answered 500")
    await db.execute(
        "UPDATE submission.submissions SET snapshot = jsonb_set(snapshot, '{goods,0,quantity}', '999999')"
        " WHERE submission_id = $1",
        row["submission_id"],
    )
    await mofcom_scopes.change(scope, {"faults": {"error_rate": 0.0}})
    app = await wait_status(enterprise_a, app_id, "draft", "pending_first_review", timeout=60)
    assert app["status"] == "draft" and app["status_reason"].startswith("signature_invalid")
    assert app["goods"][0]["quantity"] == "1000"  # the application's own form is untouched
    counts = (await mofcom_sandbox.get("/control/received", params={"key": str(row["submission_id"])})).json()
    assert counts["submissions"][str(row["submission_id"])]["created"] == 0


async def test_approval_status_asks_mofcom_now(
    enterprise_a: httpx.AsyncClient, enterprise_a_ekey: str, mofcom_sandbox: httpx.AsyncClient
) -> None:
    draft = await create_draft(enterprise_a)
    resp = await enterprise_a.post(f"/api/v1/applications/{draft}/approval-status")
    assert resp.status_code == 409 and "draft" in resp.json()["error"]["message"]

    app_id = await create_draft(enterprise_a)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(enterprise_a, app_id, "license_issued")
    resp = await enterprise_a.post(f"/api/v1/applications/{app_id}/approval-status")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["status"] == "license_issued" and body["mofcom"]["status"] == "approved"
    assert body["mofcom"]["license_no"] == app["license_no"]


async def test_another_tenants_application_is_not_found(
    enterprise_a: httpx.AsyncClient, enterprise_b: httpx.AsyncClient, enterprise_a_ekey: str
) -> None:
    app_id = await create_draft(enterprise_a)
    for path in ("revoke", "approval-status"):
        resp = await enterprise_b.post(f"/api/v1/applications/{app_id}/{path}")
        assert resp.status_code == 404, resp.text


async def test_duplicate_and_out_of_order_results_never_move_backwards(
    enterprise_a: httpx.AsyncClient,
    enterprise_a_ekey: str,
    mofcom_sandbox: httpx.AsyncClient,
    mofcom_scopes: MofcomScopes,
    kafka_bootstrap: str,
    db: asyncpg.Pool,
) -> None:
    app_id = await create_draft(enterprise_a)
    await mofcom_scopes.add({"faults": {"duplicate_rate": 1.0, "out_of_order": True}}, application_id=app_id)
    assert (await enterprise_a.post(f"/api/v1/applications/{app_id}/submit")).status_code == 202
    app = await wait_status(enterprise_a, app_id, "license_issued")

    async def all_four_delivered() -> bool:
        form = await mofcom_sandbox.get(f"/mofcom/submissions/{app['form_no']}")
        return (
            len(form.json()["results"]) == 2
            and (await mofcom_sandbox.get("/control/received")).status_code == 200
        )

    await eventually(all_four_delivered, what="both results delivered")
    events = await events_of(kafka_bootstrap, "ail.submission", app_id, 4)
    reviews = [
        (e["payload"]["stage"], e["payload"]["result"])
        for e in events
        if e["event_type"] == "ReviewResultReceived"
    ]
    assert reviews == [("second", "passed"), ("first", "passed")]  # out of order, each once
    assert [e["event_type"] for e in events].count("LicenseIssued") == 1
    stored = await db.fetchval(
        "SELECT count(*) FROM submission.review_results WHERE form_no = $1", app["form_no"]
    )
    assert stored == 2
    late_first = next(e["event_id"] for e in events if e["payload"].get("stage") == "first")

    async def applied_by_application_service() -> Any:
        return await db.fetchval("SELECT 1 FROM application.inbox WHERE event_id = $1", UUID(late_first))

    await eventually(
        applied_by_application_service, what="the late first-review result reached the application"
    )
    assert (await get_app(enterprise_a, app_id))["status"] == "license_issued"
