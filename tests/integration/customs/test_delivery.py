"""Delivery of licenses to the Customs sandbox, through the real broker and database: every
customs status is reached and queryable; re-send (operator and automatic)."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ail_shared import topics
from ail_shared.events import ReviewResultReceived, envelope_for
from tests.integration.customs.support import (
    approve,
    events_of,
    issue,
    licensed,
    publish,
    set_mode,
    wait_status,
)
from tests.support import eventually, read_topic


async def _status_row(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    r = await client.get("/api/v1/customs/status", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 1, body
    row: dict[str, Any] = body["items"][0]
    return row


async def test_every_customs_status_is_reached_and_queried(
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    started = datetime.now(UTC)
    # none: approved, no license delivered yet
    approved = await approve(kafka_producer)

    async def approved_row() -> dict[str, Any] | None:
        r = await enterprise_a.get("/api/v1/customs/status", params={"serial_no": approved.serial_no})
        return r.json()["items"][0] if r.json()["total"] == 1 else None

    item = await eventually(approved_row, what="the approved application in the customs status query")
    assert (item["application_status"], item["customs_status"], item["customs_status_label"]) == (
        "approved",
        None,
        "-",
    )
    assert item["license_no"] == approved.license_no

    # The others at once: held (not_arrived, then stored), failed, unavailable, timeout.
    held = await licensed(kafka_producer, customs_sandbox, mode="hold")
    failed = await licensed(kafka_producer, customs_sandbox, mode="failed")
    unavailable = await licensed(kafka_producer, customs_sandbox, mode="unavailable")
    silent = await licensed(kafka_producer, customs_sandbox, mode="timeout")

    async def is_held() -> bool:
        r = await customs_sandbox.get(f"/control/licenses/{held.license_no}")
        return bool(r.json()["held"])

    await eventually(is_held, what="the sandbox holding the license")
    item = await _status_row(enterprise_a, license_no=held.license_no)
    assert (item["application_status"], item["customs_status"]) == ("license_issued", "not_arrived")
    await customs_sandbox.post(f"/control/licenses/{held.license_no}/release", json={"outcome": "stored"})
    await wait_status(enterprise_a, held.license_no, "stored")
    assert (await _status_row(enterprise_a, license_no=held.license_no))["customs_status"] == "stored"

    view = await wait_status(enterprise_a, failed.license_no, "store_failed")
    assert "storage refused" in view["customs_detail"]
    assert (await _status_row(enterprise_a, serial_no=failed.serial_no))["customs_status"] == "store_failed"
    view = await wait_status(enterprise_a, unavailable.license_no, "send_failed")
    assert "503" in view["customs_detail"]
    view = await wait_status(enterprise_a, silent.license_no, "send_failed")
    assert "did not answer in time" in view["customs_detail"]
    row = await _status_row(enterprise_a, license_no=silent.license_no)
    assert row["customs_status"] == "send_failed" and row["next_auto_resend_at"] is not None

    # Each outcome was published as CustomsStored on ail.customs.
    wanted = {
        held.application_id: "stored",
        failed.application_id: "store_failed",
        unavailable.application_id: "send_failed",
        silent.application_id: "send_failed",
    }

    async def published() -> dict[str, set[str]] | None:
        seen: dict[str, set[str]] = {}
        for application_id in wanted:
            for env in await events_of(kafka_bootstrap, topics.CUSTOMS, application_id, since=started):
                if env["event_type"] == "CustomsStored":
                    seen.setdefault(application_id, set()).add(env["payload"]["result"])
                    assert env["tenant"] == "1100776367555"
        return seen if all(wanted[a] in seen.get(a, set()) for a in wanted) else None

    await eventually(published, what="CustomsStored of each outcome on ail.customs")


async def test_operator_resend_after_send_failed(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    app = await licensed(kafka_producer, customs_sandbox, mode="unavailable")
    await wait_status(enterprise_a, app.license_no, "send_failed")
    await set_mode(customs_sandbox, app.license_no, "stored")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await enterprise_a.post(f"/api/v1/licenses/{app.license_no}/resend", headers=key)
    assert first.status_code == 202, first.text
    assert first.json()["resend"] in ("scheduled", "already_scheduled")
    again = await enterprise_a.post(f"/api/v1/licenses/{app.license_no}/resend", headers=key)
    assert (again.status_code, again.json()) == (202, first.json())  # replayed, not re-done
    await wait_status(enterprise_a, app.license_no, "stored")
    stored = await enterprise_a.post(f"/api/v1/licenses/{app.license_no}/resend")
    assert stored.status_code == 409 and "already stored" in stored.json()["error"]["message"]
    received = (await customs_sandbox.get(f"/control/licenses/{app.license_no}")).json()["received"]
    assert received[-1]["mode"] == "stored" and len(received) >= 4  # 3 tries failed, then stored


async def test_automatic_resend_after_backoff(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    # First round: three 503s (the adapter's bounded retries) -> send_failed; then Customs is back.
    app = await licensed(kafka_producer, customs_sandbox, mode="stored", script=["unavailable"] * 3)
    await wait_status(enterprise_a, app.license_no, "stored", timeout=60)
    r = await enterprise_a.get("/api/v1/history", params={"license_no": app.license_no})
    deliveries = [i for i in r.json()["items"] if i["kind"] == "customs_delivery"]
    assert [d["data"]["result"] for d in deliveries] == ["send_failed", "stored"]
    assert deliveries[0]["data"]["next_auto_resend_at"] is not None


async def test_reviews_that_arrive_the_other_way_round_are_listed_in_the_order_made(
    kafka_producer: Any, enterprise_a: httpx.AsyncClient
) -> None:
    # MOFCOM's callbacks out of order (the chaos run's mofcom-out-of-order fault): the second
    # review reaches the customs service before the first. The history lists the first first.
    app = await approve(kafka_producer)  # accepted, then the second review (applied_at + 1 day)
    first = ReviewResultReceived(
        application_id=app.application_id,
        form_no=app.form_no,
        stage="first",
        result="passed",
        opinion="初审通过",
        reviewed_at=app.applied_at + timedelta(hours=2),
    )
    await publish(
        kafka_producer,
        envelope_for(first, aggregate_id=app.application_id, tenant=app.enterprise_code),
    )

    async def both() -> list[dict[str, Any]] | None:
        r = await enterprise_a.get("/api/v1/history", params={"license_no": app.license_no})
        items = r.json().get("items", []) if r.status_code == 200 else []
        return items if sum(i["kind"] == "review_result" for i in items) == 2 else None

    items = await eventually(both, what="both reviews in the customs history")
    assert [i["data"]["stage"] for i in items if i["kind"] == "review_result"] == ["first", "second"]
    assert [i["kind"] for i in items] == ["submission_accepted", "review_result", "review_result"]
    times = [datetime.fromisoformat(i["occurred_at"]) for i in items]
    assert times == sorted(times)
    recorded = [datetime.fromisoformat(i["recorded_at"]) for i in items if i["kind"] == "review_result"]
    assert recorded[0] >= recorded[1]  # recorded the other way round (or in one batch): by when it happened


async def test_status_query_filters_and_paging(kafka_producer: Any, enterprise_a: httpx.AsyncClient) -> None:
    year = random.randrange(2000, 2099)
    day = datetime(year, random.randrange(1, 12), random.randrange(1, 28), 3, tzinfo=UTC)
    apps = [await approve(kafka_producer, year=year, applied_at=day + timedelta(days=i)) for i in range(3)]
    params = {
        "year": year,
        "applied_from": day.date().isoformat(),
        "applied_to": (day + timedelta(days=1)).date().isoformat(),
        "page_size": 1,
    }

    async def two() -> dict[str, Any] | None:
        r = await enterprise_a.get("/api/v1/customs/status", params=params)
        return r.json() if r.json().get("total") == 2 else None

    body = await eventually(two, what="two applications in the date range")
    assert len(body["items"]) == 1 and body["items"][0]["serial_no"] == apps[1].serial_no  # newest first
    page2 = (await enterprise_a.get("/api/v1/customs/status", params={**params, "page": 2})).json()
    assert page2["items"][0]["serial_no"] == apps[0].serial_no and page2["total"] == 2
    bad = await enterprise_a.get(
        "/api/v1/customs/status", params={"applied_from": "2026-02-02", "applied_to": "2026-02-01"}
    )
    assert bad.status_code == 422 and bad.json()["error"]["details"][0]["field"] == "applied_to"
    bad = await enterprise_a.get("/api/v1/customs/status", params={"page": 0, "year": "x"})
    assert bad.status_code == 422
    assert {d["field"] for d in bad.json()["error"]["details"]} == {"query.page", "query.year"}


async def test_a_license_that_cannot_be_applied_goes_to_the_dead_letter_topic(
    kafka_producer: Any, enterprise_a: httpx.AsyncClient, kafka_bootstrap: str
) -> None:
    app = await approve(kafka_producer)
    await issue(kafka_producer, app, quantity=Decimal("0"))

    async def dead_lettered() -> bool:
        records = await read_topic(kafka_bootstrap, f"{topics.SUBMISSION}.dlt", timeout=3, idle=0)
        for r in records:  # other tests dead-letter malformed bytes here too
            headers = dict(r.headers or ())
            if headers.get("dlt-consumer") != b"customs.intake":
                continue
            if app.application_id.encode() in (r.value or b"") and b"must be greater than 0" in headers.get(
                "dlt-reason", b""
            ):
                return True
        return False

    await eventually(dead_lettered, timeout=60, what="the LicenseIssued on ail.submission.dlt")
    assert (await enterprise_a.get(f"/api/v1/licenses/{app.license_no}")).status_code == 404
