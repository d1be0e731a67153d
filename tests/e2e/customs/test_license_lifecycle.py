"""The license after issue (issue 15), through the entry point against the real stack: reissue
of a partly used license, surrender (and its refusal for a used one), cancellation by MOFCOM,
expiry, and a kill -9 of the customs service between the old license's cancellation at Customs
and the new license's delivery."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx
import pytest

from ail_shared.calendar import china_date
from ail_shared.events import LicenseIssued, envelope_for
from tests.e2e.customs.support import (
    customs_with,
    issued_application,
    pid_alive,
    sandbox_license,
    wait_license,
)
from tests.integration.customs.support import (
    approve,
    declare,
    issue,
    licensed,
    new_license_no,
    publish,
    wait_ledger,
)
from tests.integration.submission.support import get_app, wait_status
from tests.support import eventually

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)


async def _declare_refused(customs_sandbox: httpx.AsyncClient, license_no: str) -> None:
    r = await customs_sandbox.post(
        "/control/declarations", json={"license_no": license_no, "lines": [{"quantity": "1"}]}
    )
    assert r.status_code == 409 and r.json()["detail"]["error"] == "license_cancelled", r.text


async def test_reissue_of_a_partly_used_license(
    enterprise_a: httpx.AsyncClient, customs_sandbox: httpx.AsyncClient, stack: dict[str, str]
) -> None:
    old_app = await issued_application(enterprise_a)
    old_no = old_app["license_no"]
    await wait_license(enterprise_a, old_no, customs_status="stored")
    await declare(customs_sandbox, old_no, "500.5")
    await wait_ledger(enterprise_a, old_no, 1)

    r = await enterprise_a.post(f"/api/v1/licenses/{old_no}/reissue")
    assert r.status_code == 202, r.text
    answer = r.json()
    assert (answer["max_quantity"], answer["max_uses"], answer["created"]) == ("1000.0", 5, True)
    again = await enterprise_a.post(f"/api/v1/licenses/{old_no}/reissue")
    assert again.json()["application_id"] == answer["application_id"] and not again.json()["created"]

    draft_id = answer["application_id"]

    async def draft() -> dict[str, Any] | None:
        r = await enterprise_a.get(f"/api/v1/applications/{draft_id}")
        return r.json() if r.status_code == 200 else None

    new = await eventually(draft, timeout=60, interval=0.3, what="the reissue draft")
    assert (new["status"], new["replaces_license_no"]) == ("draft", old_no)
    assert any(p["code"] == "exceeds_replaced_license" for p in new["problems"]), new["problems"]
    # The applicant changes what the rules allow: here the goods, down to what is left.
    line = {**new["goods"][0], "quantity": "1000"}
    line = {k: line[k] for k in ("spec", "unit", "quantity", "unit_price")}
    r = await enterprise_a.patch(f"/api/v1/applications/{draft_id}", json={"goods": [line]})
    assert r.status_code == 200, r.text
    assert not [p for p in r.json()["problems"] if p["code"] == "exceeds_replaced_license"]
    r = await enterprise_a.post(f"/api/v1/applications/{draft_id}/submit")
    assert r.status_code == 202, r.text
    new_app = await wait_status(enterprise_a, draft_id, "license_issued", timeout=120)
    new_no = new_app["license_no"]

    # MOFCOM saw that it replaces the old license.
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=10) as mofcom:
        subs = (await mofcom.get(f"/control/applications/{draft_id}")).json()["submissions"]
    assert subs[-1]["replaces_license_no"] == old_no

    old = await wait_license(enterprise_a, old_no, license_state="cancelled", cancellation_status="stored")
    assert (old["license_state_reason"], old["replaced_by"]) == ("replaced", new_no)
    lic = await wait_license(enterprise_a, new_no, customs_status="stored")
    assert lic["replaces_license_no"] == old_no
    assert (lic["ledger"]["licensed_quantity"], lic["ledger"]["max_uses"]) == ("1000", 5)
    journal = [
        (i["kind"], i["license_no"]) for i in (await customs_sandbox.get("/control/journal")).json()["items"]
    ]
    assert journal.index(("cancelled", old_no)) < journal.index(("stored", new_no))

    await _declare_refused(customs_sandbox, old_no)
    await declare(customs_sandbox, new_no, "400")
    await wait_ledger(enterprise_a, new_no, 1)
    r = await enterprise_a.get(f"/api/v1/licenses/{new_no}")
    assert r.json()["ledger"]["remaining_quantity"] == "600"
    assert (await get_app(enterprise_a, old_app["id"]))["license_state"] == "cancelled"


async def test_surrender_of_an_unused_license_and_refusal_for_a_used_one(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    unused = await licensed(kafka_producer, customs_sandbox, mode="stored")
    used = await licensed(kafka_producer, customs_sandbox, mode="stored")
    await wait_license(enterprise_a, unused.license_no, customs_status="stored")
    await wait_license(enterprise_a, used.license_no, customs_status="stored")
    await declare(customs_sandbox, used.license_no, "10")
    await wait_ledger(enterprise_a, used.license_no, 1)

    r = await enterprise_a.post(f"/api/v1/licenses/{used.license_no}/surrender", json={"reason": "合同取消"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "license_used", r.text
    r = await enterprise_a.post(f"/api/v1/licenses/{unused.license_no}/surrender", json={})
    assert r.status_code == 422 and r.json()["error"]["details"][0]["field"] == "reason", r.text

    r = await enterprise_a.post(
        f"/api/v1/licenses/{unused.license_no}/surrender", json={"reason": "合同取消"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["license_state"], r.json()["unused_quantity"]) == ("surrendered", "1000")
    again = await enterprise_a.post(
        f"/api/v1/licenses/{unused.license_no}/surrender", json={"reason": "合同取消"}
    )
    assert again.status_code == 200 and again.json()["license_state"] == "surrendered"
    await wait_license(enterprise_a, unused.license_no, cancellation_status="stored")
    at_customs = await sandbox_license(customs_sandbox, unused.license_no)
    assert at_customs["cancellation"]["state"] == "surrendered"
    await _declare_refused(customs_sandbox, unused.license_no)
    r = await enterprise_a.get(f"/api/v1/licenses/{unused.license_no}/availability", params={"quantity": "1"})
    assert r.json()["can_cover"] is False and r.json()["reason"] == "license_surrendered", r.text
    r = await enterprise_a.get("/api/v1/customs/status", params={"license_no": unused.license_no})
    assert r.json()["items"][0]["license_state"] == "surrendered"


async def test_mofcom_cancellation_reaches_customs_and_the_applicant(
    enterprise_a: httpx.AsyncClient, customs_sandbox: httpx.AsyncClient, stack: dict[str, str]
) -> None:
    app = await issued_application(enterprise_a)
    no = app["license_no"]
    await wait_license(enterprise_a, no, customs_status="stored")
    async with httpx.AsyncClient(base_url=stack["AIL_MOFCOM_URL"], timeout=30) as mofcom:
        r = await mofcom.post(f"/control/licenses/{no}/cancel", json={"reason": "申请材料不实"})
        assert r.status_code == 200, r.text
        await mofcom.post(f"/control/licenses/{no}/cancel", json={})  # MOFCOM says it again
    lic = await wait_license(enterprise_a, no, license_state="cancelled", cancellation_status="stored")
    assert (lic["license_state_reason"], lic["license_state_detail"]) == ("mofcom", "申请材料不实")
    at_customs = await sandbox_license(customs_sandbox, no)
    assert at_customs["cancellation"]["reason"] == "mofcom"
    await _declare_refused(customs_sandbox, no)

    async def applicant_told() -> dict[str, Any] | None:
        a = await get_app(enterprise_a, app["id"])
        return a if a["license_state"] == "cancelled" else None

    await eventually(applicant_told, timeout=60, interval=0.3, what="the application shows the cancellation")

    async def in_history() -> list[dict[str, Any]] | None:
        r = await enterprise_a.get(f"/api/v1/applications/{app['id']}/history")
        items = r.json()["items"] if r.status_code == 200 else []
        found = [i for i in items if i["event"]["type"] == "LicenseCancelled"]
        return found or None

    found = await eventually(
        in_history, timeout=60, interval=0.3, what="LicenseCancelled in the status history"
    )
    assert len(found) == 1 and found[0]["details"]["license_state"] == "cancelled"


async def test_expiry_and_a_kill_between_the_old_ones_cancellation_and_the_new_ones_delivery(
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    stack: dict[str, str],
    db: asyncpg.Pool,
) -> None:
    # One customs process of the test's own: a short expiry interval, and killed (SIGKILL) right
    # after Customs acknowledged the first cancellation, before it is recorded.
    extra = {"AIL_EXPIRY_POLL_SECONDS": "0.5", "AIL_FAILPOINTS": "customs_after_cancellation_sent=1"}
    async with customs_with(stack, extra) as pid:
        # Expiry: a license whose last day (China date) was yesterday lapses, with its unused quantity.
        old = await licensed(kafka_producer, customs_sandbox, mode="stored")
        yesterday = china_date(datetime.now(UTC)) - timedelta(days=1)
        expired = await approve(kafka_producer)
        await issue(
            kafka_producer, expired, valid_until=yesterday, issued_at=datetime.now(UTC) - timedelta(days=60)
        )
        lic = await wait_license(enterprise_a, expired.license_no, license_state="expired")
        assert lic["unused_quantity"] == "1000"

        # The replacement of a stored license: Customs gets the old one's cancellation, and the
        # service dies before it records it.
        await wait_license(enterprise_a, old.license_no, customs_status="stored")
        new_no = new_license_no()
        event = LicenseIssued(
            application_id=str(uuid.uuid4()),
            enterprise_code=old.enterprise_code,
            form_no=old.form_no,
            license_no=new_no,
            issued_at=datetime.now(UTC),
            valid_until=(datetime.now(UTC) + timedelta(days=150)).date(),
            commodity_code="2601111000",
            unit="千克",
            quantity=Decimal("1000"),
            one_batch_one_license=False,
            replaces_license_no=old.license_no,
            max_uses=6,
        )
        await publish(
            kafka_producer, envelope_for(event, aggregate_id=event.application_id, tenant=old.enterprise_code)
        )

        async def killed() -> bool:
            return not pid_alive(pid)

        await eventually(killed, timeout=90, interval=0.2, what="customs killed at the failpoint")
        at_customs = await sandbox_license(customs_sandbox, old.license_no)
        assert at_customs["cancellation"] is not None  # Customs has it; the service did not record it
        assert (await sandbox_license(customs_sandbox, new_no))["store_count"] == 0
    # ./dev start customs (no failpoint): the round is re-sent when its lease ends, then the new one goes.
    await wait_license(enterprise_a, old.license_no, license_state="cancelled", cancellation_status="stored")
    await wait_license(enterprise_a, new_no, customs_status="stored")
    old_at, new_at = (
        await sandbox_license(customs_sandbox, old.license_no),
        await sandbox_license(customs_sandbox, new_no),
    )
    assert old_at["cancellation_requests"] >= 2 and new_at["store_count"] == 1
    journal = [
        (i["kind"], i["license_no"]) for i in (await customs_sandbox.get("/control/journal")).json()["items"]
    ]
    assert journal.count(("cancelled", old.license_no)) == 1 and journal.count(("stored", new_no)) == 1
    assert journal.index(("cancelled", old.license_no)) < journal.index(("stored", new_no))
    # Exactly once on our side too: one cancellation event, one stored delivery of the new license.
    counts = await db.fetchrow(
        "WITH e AS (SELECT event_type, convert_from(value, 'UTF8')::jsonb -> 'payload' AS p"
        " FROM customs.outbox WHERE event_type IN ('LicenseCancelled', 'CustomsStored'))"
        " SELECT count(*) FILTER (WHERE event_type = 'LicenseCancelled' AND p ->> 'license_no' = $1)"
        " AS cancelled, count(*) FILTER (WHERE event_type = 'CustomsStored' AND p ->> 'license_no' = $2"
        " AND p ->> 'result' = 'stored') AS stored FROM e",
        old.license_no,
        new_no,
    )
    assert (counts["cancelled"], counts["stored"]) == (1, 1)
    await _declare_refused(customs_sandbox, old.license_no)
