"""The license usage ledger fed by Customs' clearance feed (sandbox), through the real broker and
database: the rules of DOMAIN 9, reversals, duplicate delivery, events on ail.customs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from ail_shared import topics
from tests.integration.customs.support import declare, events_of, licensed, wait_ledger, wait_status
from tests.support import eventually


async def stored_license(
    producer: Any, sandbox: httpx.AsyncClient, client: httpx.AsyncClient, **kw: Any
) -> str:
    app = await licensed(producer, sandbox, **kw)
    await wait_status(client, app.license_no, "stored")
    return app.license_no


def kinds(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["kind"], e["reason"]) for e in view["entries"]]


async def license_state_in_status_view(
    client: httpx.AsyncClient, application_id: str, state: str
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        r = await client.get(f"/api/v1/applications/{application_id}/status")
        return r.json() if r.status_code == 200 and r.json().get("license_state") == state else None

    return await eventually(check, what=f"license state {state} in the status view of {application_id}")


async def test_the_seventh_use_is_refused(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    no = await stored_license(kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("1000"))
    for i in range(6):
        await declare(customs_sandbox, no, "50", "50" if i == 0 else "0.5")
    seventh = await declare(customs_sandbox, no, "1")
    view = await wait_ledger(enterprise_a, no, 7)
    assert kinds(view) == [("use", "")] * 6 + [("refused", "uses_exhausted")]
    ledger = view["ledger"]
    assert (ledger["uses"], ledger["remaining_uses"]) == (6, 0)
    assert Decimal(ledger["remaining_quantity"]) == Decimal("1000") - Decimal("100") - 5 * Decimal("50.5")
    clearances = (await enterprise_a.get("/api/v1/customs/clearances", params={"license_no": no})).json()
    by_no = {d["declaration_no"]: d for d in clearances["items"]}
    assert len(by_no) == 7
    refused = by_no[seventh["declaration_no"]]
    assert (refused["state"], refused["refusal_reason"]) == ("refused", "uses_exhausted")
    first = clearances["items"][0]
    assert [(line["line_no"], line["quantity"]) for line in first["lines"]] == [(1, "50"), (2, "50")]
    assert first["port"] == "2200" and first["quantity"] == "100"
    avail = (await enterprise_a.get(f"/api/v1/licenses/{no}/availability", params={"quantity": "1"})).json()
    assert (avail["can_cover"], avail["reason"]) == (False, "uses_exhausted")


async def test_one_batch_license_second_use_refused_and_reversal_restores(
    kafka_producer: Any,
    customs_sandbox: httpx.AsyncClient,
    enterprise_a: httpx.AsyncClient,
    kafka_bootstrap: str,
) -> None:
    started = datetime.now(UTC)
    no = await stored_license(
        kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("500"), one_batch=True
    )
    first = await declare(customs_sandbox, no, "300")
    await declare(customs_sandbox, no, "10")
    view = await wait_ledger(enterprise_a, no, 2)
    assert kinds(view) == [("use", ""), ("refused", "one_batch_already_used")]
    assert (view["ledger"]["remaining_uses"], view["ledger"]["remaining_quantity"]) == (0, "200")
    await license_state_in_status_view(enterprise_a, view["application_id"], "used_up")

    # Customs invalidates the first declaration: quantity and the use come back (compensating entry).
    r = await customs_sandbox.post(f"/control/declarations/{first['declaration_no']}/invalidate", json={})
    r.raise_for_status()
    view = await wait_ledger(enterprise_a, no, 3)
    # ... and the used-up license is valid again, announced (LicenseReopened) and shown everywhere.
    assert view["license_state"] == "valid"
    status = await license_state_in_status_view(enterprise_a, view["application_id"], "valid")
    assert status["license_no"] == no
    assert kinds(view)[2] == ("reversal", "invalidated")
    assert view["entries"][0]["quantity"] == "300"  # the use itself is never edited
    assert (
        view["ledger"]["uses"],
        view["ledger"]["remaining_uses"],
        view["ledger"]["remaining_quantity"],
    ) == (
        0,
        1,
        "500",
    )
    avail = (await enterprise_a.get(f"/api/v1/licenses/{no}/availability", params={"quantity": "520"})).json()
    assert avail["can_cover"] is True and avail["would_be_last_use"] is True
    again = await declare(customs_sandbox, no, "520")  # within the 5 % tolerance of iron ore
    view = await wait_ledger(enterprise_a, no, 4)
    assert kinds(view)[3] == ("use", "") and view["ledger"]["remaining_quantity"] == "-20"

    async def published() -> list[tuple[str, str]] | None:
        events = await events_of(kafka_bootstrap, topics.CUSTOMS, view["application_id"], since=started)
        found = [
            (e["event_type"], e["payload"]["declaration_no"])
            for e in events
            if e["event_type"].startswith("Clearance") and e["payload"]["license_no"] == no
        ]
        return found if len(found) >= 4 else None

    mine = await eventually(published, what="four Clearance events on ail.customs")
    assert ("ClearanceRecorded", first["declaration_no"]) in mine
    assert ("ClearanceReversed", first["declaration_no"]) in mine
    assert ("ClearanceRecorded", again["declaration_no"]) in mine
    assert sum(1 for t, _ in mine if t == "ClearanceRefused") == 1


async def test_overflow_just_within_tolerance_accepted_just_over_refused(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    # Steel (HS 72..), no tolerance in the event: the table gives 3 %; ceiling 1030.
    no = await stored_license(
        kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("1000"), commodity_code="7208100000"
    )
    await declare(customs_sandbox, no, "600")
    await wait_ledger(enterprise_a, no, 1)
    avail = (
        await enterprise_a.get(f"/api/v1/licenses/{no}/availability", params={"quantity": "430.001"})
    ).json()
    assert (avail["can_cover"], avail["reason"], avail["tolerance_pct"]) == (False, "exceeds_tolerance", "3")
    assert avail["available_quantity"] == "430"
    await declare(customs_sandbox, no, "430.001")
    await declare(customs_sandbox, no, "430")
    view = await wait_ledger(enterprise_a, no, 3)
    assert kinds(view) == [("use", ""), ("refused", "exceeds_tolerance"), ("use", "")]
    assert view["ledger"]["remaining_quantity"] == "-30" and view["ledger"]["remaining_uses"] == 0
    assert "within tolerance" in view["entries"][2]["detail"]

    # The catalogue's tolerance, when the event carries it, wins over the table.
    no5 = await stored_license(
        kafka_producer,
        customs_sandbox,
        enterprise_a,
        quantity=Decimal("1000"),
        commodity_code="7208100000",
        tolerance=Decimal("5"),
    )
    await declare(customs_sandbox, no5, "1050")
    view = await wait_ledger(enterprise_a, no5, 1)
    assert kinds(view) == [("use", "")] and view["ledger"]["tolerance_source"] == "catalogue"


async def test_a_license_issued_with_the_catalogues_3_percent_is_held_to_3_percent(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    """Issue 11: the ledger fed through the real consumer by a LicenseIssued carrying the
    catalogue's 3 % uses 3 %, for iron ore, whose HS prefix would give 5 %; an event without the
    field gets the table's 5 %. The license's last day is the event's valid_until."""
    valid_until = (datetime.now(UTC) + timedelta(days=120)).date()
    no3 = await stored_license(
        kafka_producer,
        customs_sandbox,
        enterprise_a,
        quantity=Decimal("1000"),
        tolerance=Decimal("3"),
        valid_until=valid_until,
    )
    await declare(customs_sandbox, no3, "1030.001")  # within 5 %, beyond 3 %
    await declare(customs_sandbox, no3, "1030")
    view = await wait_ledger(enterprise_a, no3, 2)
    assert kinds(view) == [("refused", "exceeds_tolerance"), ("use", "")]
    assert (view["ledger"]["tolerance_pct"], view["ledger"]["tolerance_source"]) == ("3", "catalogue")
    assert view["ledger"]["valid_until"] == valid_until.isoformat()

    # no tolerance in the event: the HS-prefix table
    no5 = await stored_license(kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("1000"))
    await declare(customs_sandbox, no5, "1030.001")
    view = await wait_ledger(enterprise_a, no5, 1)
    assert kinds(view) == [("use", "")]
    assert (view["ledger"]["tolerance_pct"], view["ledger"]["tolerance_source"]) == ("5", "hs_prefix_table")


async def test_expiry_is_enforced(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    yesterday = (datetime.now(UTC) - timedelta(days=1)).date()
    no = await stored_license(
        kafka_producer,
        customs_sandbox,
        enterprise_a,
        valid_until=yesterday,
        issued_at=datetime.now(UTC) - timedelta(days=30),
    )
    in_time = datetime.combine(yesterday, datetime.min.time(), UTC)  # 08:00 in China, still valid
    await declare(customs_sandbox, no, "10", declared_at=in_time.isoformat())
    await declare(customs_sandbox, no, "10")  # today: expired
    view = await wait_ledger(enterprise_a, no, 2)
    assert kinds(view) == [("use", ""), ("refused", "license_expired")]
    avail = (await enterprise_a.get(f"/api/v1/licenses/{no}/availability", params={"quantity": "1"})).json()
    assert (avail["can_cover"], avail["reason"]) == (False, "license_expired")
    assert avail["detail"].startswith("the license was valid until")


async def test_amendment_gives_back_and_uses_again(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient
) -> None:
    no = await stored_license(kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("100"))
    d = await declare(customs_sandbox, no, "60")
    r = await customs_sandbox.post(
        f"/control/declarations/{d['declaration_no']}/amend", json={"lines": [{"quantity": "40"}]}
    )
    r.raise_for_status()
    view = await wait_ledger(enterprise_a, no, 3)
    assert kinds(view) == [("use", ""), ("reversal", "amended"), ("use", "")]
    assert (view["ledger"]["used_quantity"], view["ledger"]["uses"]) == ("40", 1)
    decl = (await enterprise_a.get("/api/v1/customs/clearances", params={"license_no": no})).json()["items"]
    assert [(x["state"], x["quantity"], x["revision"]) for x in decl] == [("recorded", "40", 2)]
    # The history reads in the order the ledger recorded it (issue 13 item 17): the new use of
    # the amended declaration carries the original declaration's time but comes after the
    # reversal, so the running balances in the summaries read 40, 100, 60 remaining.
    history = (await enterprise_a.get("/api/v1/history", params={"license_no": no})).json()
    clearing = [x for x in history["items"] if x["kind"].startswith("clearance_")]
    assert [x["kind"] for x in clearing] == ["clearance_recorded", "clearance_reversed", "clearance_recorded"]
    assert ["remaining 40" in clearing[0]["summary"], "remaining 100" in clearing[1]["summary"]] == [
        True,
        True,
    ]
    assert "remaining 60" in clearing[2]["summary"]
    assert clearing[2]["occurred_at"] == clearing[0]["occurred_at"] < clearing[1]["occurred_at"]
    assert all(x["recorded_at"] for x in history["items"])
    assert clearing[1]["recorded_at"] <= clearing[2]["recorded_at"]


async def test_a_clearance_message_delivered_twice_is_counted_once(
    kafka_producer: Any, customs_sandbox: httpx.AsyncClient, enterprise_a: httpx.AsyncClient, db: Any
) -> None:
    no = await stored_license(kafka_producer, customs_sandbox, enterprise_a, quantity=Decimal("100"))
    d = await declare(customs_sandbox, no, "10")
    r = await customs_sandbox.post("/control/feed/redeliver", json={"message_id": d["message_id"]})
    assert r.status_code == 201 and r.json()["position"] > d["position"]
    marker = await declare(
        customs_sandbox, no, "1"
    )  # after the copy on the feed: when it is in, so is the copy
    view = await wait_ledger(enterprise_a, no, 2)
    assert [e["declaration_no"] for e in view["entries"]] == [d["declaration_no"], marker["declaration_no"]]
    assert (view["ledger"]["uses"], view["ledger"]["used_quantity"]) == (2, "11")
    position = await db.fetchval("SELECT position FROM customs.feed_cursor")
    assert position >= marker["position"]
    count = await db.fetchval(
        "SELECT count(*) FROM customs.clearance_messages WHERE message_id = $1", d["message_id"]
    )
    assert count == 1


async def test_ledger_entries_are_append_only(db: Any) -> None:
    import asyncpg
    import pytest

    row = await db.fetchrow("SELECT license_no, entry_no FROM customs.ledger_entries LIMIT 1")
    if row is None:
        pytest.skip("no ledger entry yet")
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute(
            "UPDATE customs.ledger_entries SET quantity = 0 WHERE license_no = $1", row["license_no"]
        )
    with pytest.raises(asyncpg.RaiseError, match="append-only"):
        await db.execute("DELETE FROM customs.ledger_entries WHERE license_no = $1", row["license_no"])
