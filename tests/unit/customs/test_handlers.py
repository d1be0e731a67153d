"""Every command and event handler of the customs service, on in-memory fakes (``fakes.py``):
no database, no Kafka, no HTTP. The handlers are found through ``EVENT_HANDLERS`` /
``COMMAND_HANDLERS``, as the consumer and the entrypoints find them."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from ail_customs.domain.commands import (
    ApplyFeedPage,
    ClaimDueCancellations,
    ClaimDueLicenses,
    CloseDelivery,
    ExpireLicenses,
    OpsResendDelivery,
    RecordCancellation,
    RecordDelivery,
    RequestReissue,
    RequestResend,
    SurrenderLicense,
)
from ail_customs.domain.delivery import DeliveryOutcome, ResendPolicy
from ail_customs.domain.feed import FEED, FeedCursor
from ail_customs.service_layer.handlers import COMMAND_HANDLERS, EVENT_HANDLERS
from ail_shared.calendar import valid_until_of
from ail_shared.consumer import PermanentError
from ail_shared.errors import Conflict, NotFound
from ail_shared.events import (
    ApplicationSummary,
    ClearanceRecorded,
    ClearanceReversed,
    CustomsStored,
    Event,
    LicenseCancellationReceived,
    LicenseIssued,
    LicenseReopened,
    ReviewResultReceived,
    SubmissionAccepted,
    decode_envelope,
    envelope_for,
    parse_payload,
)
from ail_shared.licenses import LicenseState
from ail_shared.lifecycle import ApplicationStatus
from tests.unit.customs.fakes import FakeCustoms, FakeUnitOfWork

ENTERPRISE = "1100776367555"
OTHER = "3100123456789"
APP_ID = "a-1"
LICENSE_NO = "26AANW0001"
IRON_ORE = "2601111000"  # the HS-prefix table: bulk goods, 5 %
STEEL = "7208100000"  # the HS-prefix table: 3 %
ISSUED_AT = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
POLICY = ResendPolicy(base_seconds=5, max_rounds=3)


async def consume(uow: FakeUnitOfWork, event: Event, tenant: str = ENTERPRISE) -> None:
    """What the consumer does: find the handler by the event's type, give it a unit of work."""
    env = envelope_for(event, aggregate_id=APP_ID, tenant=tenant)
    await EVENT_HANDLERS[type(event)](uow, parse_payload(env), env)


async def handle(uow: FakeUnitOfWork, cmd: Any) -> Any:
    return await COMMAND_HANDLERS[type(cmd)](uow, cmd)


def accepted(applied_at: datetime = ISSUED_AT - timedelta(days=3)) -> SubmissionAccepted:
    return SubmissionAccepted(application_id=APP_ID, submission_id="s-1", form_no="F1", applied_at=applied_at)


def review(stage: str = "second", result: str = "passed") -> ReviewResultReceived:
    return ReviewResultReceived(
        application_id=APP_ID,
        form_no="F1",
        stage=stage,
        result=result,
        opinion="同意",
        license_no=LICENSE_NO if result == "passed" and stage == "second" else None,
        reviewed_at=ISSUED_AT - timedelta(days=1),
        application=ApplicationSummary(
            enterprise_code=ENTERPRISE,
            serial_no="NA26000000000000001",
            year=2026,
            commodity_code=IRON_ORE,
            commodity_name="铁矿砂",
            unit="千克",
            total_quantity=Decimal("1000"),
        ),
    )


def issued(
    *,
    quantity: str = "1000",
    commodity_code: str = IRON_ORE,
    tolerance: str | None = None,
    license_no: str = LICENSE_NO,
    one_batch: bool = False,
    valid_until: date = date(2026, 8, 31),
    issued_at: datetime = ISSUED_AT,
) -> LicenseIssued:
    return LicenseIssued(
        application_id=APP_ID,
        enterprise_code=ENTERPRISE,
        form_no="F1",
        license_no=license_no,
        issued_at=issued_at,
        valid_until=valid_until,
        commodity_code=commodity_code,
        commodity_name="铁矿砂",
        unit="千克",
        quantity=Decimal(quantity),
        one_batch_one_license=one_batch,
        overflow_tolerance_pct=Decimal(tolerance) if tolerance is not None else None,
    )


def declared(
    n: int,
    quantity: str,
    *,
    license_no: str = LICENSE_NO,
    at: datetime = ISSUED_AT + timedelta(days=5),
    **kw: Any,
) -> dict[str, Any]:
    return {
        "message_id": f"m{n}",
        "position": n,
        "kind": "declared",
        "declaration_no": f"D{n}",
        "license_no": license_no,
        "declared_at": at.isoformat(),
        "port": "2200",
        "lines": [{"quantity": quantity}],
        **kw,
    }


async def feed(uow: FakeUnitOfWork, *messages: dict[str, Any], epoch: str = "e1") -> int:
    cursor = uow.feed.cursors.get(FEED)
    after = cursor.position if cursor else 0
    result: int = await handle(
        uow, ApplyFeedPage(epoch=epoch, after=after, messages=messages, expected=cursor)
    )
    return result


def outcome_of(uow: FakeUnitOfWork, message_id: str) -> tuple[str, str]:
    o = uow.feed.outcomes[message_id]
    return o.outcome, o.detail


def test_every_handler_is_in_a_table_keyed_by_its_type() -> None:
    assert set(EVENT_HANDLERS) == {
        SubmissionAccepted,
        ReviewResultReceived,
        LicenseIssued,
        LicenseCancellationReceived,
    }
    assert set(COMMAND_HANDLERS) == {
        RequestResend,
        ClaimDueLicenses,
        RecordDelivery,
        ApplyFeedPage,
        SurrenderLicense,
        RequestReissue,
        ClaimDueCancellations,
        RecordCancellation,
        ExpireLicenses,
        OpsResendDelivery,
        CloseDelivery,
    }


# ------------------------------------------------------------------ SubmissionAccepted


async def test_submission_accepted_stores_the_application_pending_first_review() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, accepted())
    app = uow.applications.rows[APP_ID]
    assert (app.status, app.form_no, app.enterprise_code) == (
        ApplicationStatus.PENDING_FIRST_REVIEW,
        "F1",
        ENTERPRISE,
    )
    assert app.applied_at == ISSUED_AT - timedelta(days=3)
    assert uow.history.kinds() == ["submission_accepted"] and uow.committed == 1


# ------------------------------------------------------------------ ReviewResultReceived


async def test_second_review_passed_makes_the_application_approved_with_its_summary() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, accepted())
    await consume(uow, review())
    app = uow.applications.rows[APP_ID]
    assert app.status is ApplicationStatus.APPROVED
    assert (app.license_no, app.serial_no, app.year, app.commodity_code, app.commodity_name) == (
        LICENSE_NO,
        "NA26000000000000001",
        2026,
        IRON_ORE,
        "铁矿砂",
    )
    assert app.applied_at == ISSUED_AT - timedelta(days=3)  # kept from the acceptance
    assert uow.history.entries[-1].summary == "second review passed: 同意"


async def test_a_first_review_result_is_history_only() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, accepted())
    await consume(uow, review(stage="first", result="passed"))
    assert uow.applications.rows[APP_ID].status is ApplicationStatus.PENDING_FIRST_REVIEW
    assert uow.history.kinds() == ["submission_accepted", "review_result"]
    assert uow.history.entries[-1].summary == "first review passed: 同意"


async def test_late_events_never_move_the_status_backwards() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    await consume(uow, review())  # the approval arrives after the license
    await consume(uow, accepted())  # and the acceptance after both
    app = uow.applications.rows[APP_ID]
    assert app.status is ApplicationStatus.LICENSE_ISSUED
    # what the late events knew is still taken
    assert (app.serial_no, app.applied_at) == ("NA26000000000000001", ISSUED_AT - timedelta(days=3))


# ------------------------------------------------------------------ LicenseIssued


async def test_license_issued_stores_the_license_due_for_delivery_and_wakes_the_worker() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    lic = uow.licenses.rows[LICENSE_NO]
    assert lic.next_delivery_at is not None and lic.customs_status is None
    assert uow.applications.rows[APP_ID].status is ApplicationStatus.LICENSE_ISSUED
    assert uow.history.kinds() == ["license_issued"] and uow.wakes == 1


async def test_the_catalogue_tolerance_of_the_event_is_the_ledgers_3_percent_not_the_tables_5() -> None:
    """Issue 11: a customs ledger fed by a LicenseIssued with a catalogue tolerance of 3 % uses
    3 %, for iron ore, whose HS prefix would give 5 %."""
    uow = FakeUnitOfWork()
    await consume(uow, issued(tolerance="3"))
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.tolerance_pct, lic.tolerance_source) == (Decimal("3"), "catalogue")
    await feed(uow, declared(1, "1030.001"), declared(2, "1030"))
    assert outcome_of(uow, "m1") == ("refused", "exceeds_tolerance")  # within 5 %, beyond 3 %
    assert outcome_of(uow, "m2") == ("applied", "")
    assert uow.licenses.rows[LICENSE_NO].used_quantity == Decimal("1030")


async def test_a_catalogue_tolerance_of_0_is_honoured_where_the_table_would_give_3() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued(commodity_code=STEEL, tolerance="0"))
    await feed(uow, declared(1, "1000.001"), declared(2, "1000"))
    assert [outcome_of(uow, m)[0] for m in ("m1", "m2")] == ["refused", "applied"]


@pytest.mark.parametrize(("code", "pct"), [(IRON_ORE, "5"), (STEEL, "3")])
async def test_an_event_without_the_tolerance_gets_the_hs_prefix_tables(code: str, pct: str) -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued(commodity_code=code))
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.tolerance_pct, lic.tolerance_source) == (Decimal(pct), "hs_prefix_table")
    assert f"overflow tolerance {pct}% (hs_prefix_table)" in uow.history.entries[-1].summary


# A LicenseIssued as the producer wrote it before schema 1.1 (stored, never to be changed).
STORED_1_0 = """{"event_id": "2f1c5d0e-8d8a-4b55-9a43-7e8d4f2f0a11", "event_type": "LicenseIssued",
 "schema_version": "1.0", "occurred_at": "2026-03-01T02:00:00+00:00", "aggregate_id": "a-1",
 "tenant": "1100776367555", "trace_context": {},
 "payload": {"application_id": "a-1", "enterprise_code": "1100776367555", "form_no": "F1",
  "license_no": "26AANW0001", "issued_at": "2026-03-01T02:00:00+00:00", "valid_until": "2026-08-31",
  "commodity_code": "2601111000", "commodity_name": "铁矿砂", "unit": "千克", "quantity": "1000",
  "one_batch_one_license": false}}"""


async def test_a_stored_1_0_license_issued_is_parsed_and_gets_the_tables_tolerance() -> None:
    env = decode_envelope(STORED_1_0.encode())
    event = parse_payload(env)
    assert isinstance(event, LicenseIssued) and event.overflow_tolerance_pct is None
    uow = FakeUnitOfWork()
    await EVENT_HANDLERS[LicenseIssued](uow, event, env)
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.tolerance_pct, lic.tolerance_source, lic.valid_until) == (
        Decimal("5"),
        "hs_prefix_table",
        date(2026, 8, 31),
    )
    await feed(uow, declared(1, "1050"))
    assert outcome_of(uow, "m1") == ("applied", "")


async def test_the_ledgers_expiry_is_the_events_valid_until_never_recomputed() -> None:
    """A 2027 application issued on 20 November 2026: the license's last day is what the calendar
    gives for the application's year (what the applicant saw), and the ledger enforces exactly
    the event's day, in China time."""
    issued_at = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
    valid_until = valid_until_of(issued_at, 2027)
    assert valid_until == date(2027, 5, 20)
    uow = FakeUnitOfWork()
    await consume(uow, issued(issued_at=issued_at, valid_until=valid_until))
    assert uow.licenses.rows[LICENSE_NO].valid_until == valid_until
    last_minute = datetime(2027, 5, 20, 15, 59, tzinfo=UTC)  # 23:59 on 20 May in Beijing
    next_day = datetime(2027, 5, 20, 16, 0, tzinfo=UTC)  # 00:00 on 21 May in Beijing
    await feed(uow, declared(1, "10", at=last_minute), declared(2, "10", at=next_day))
    assert outcome_of(uow, "m1") == ("applied", "")
    assert outcome_of(uow, "m2") == ("refused", "license_expired")


async def test_the_same_license_announced_again_changes_nothing() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    await consume(uow, issued(quantity="5"))  # another event id, same license number
    assert uow.licenses.rows[LICENSE_NO].quantity == Decimal("1000")
    assert uow.history.kinds() == ["license_issued"] and uow.wakes == 1


@pytest.mark.parametrize(
    ("quantity", "tolerance"), [("0", None), ("-1", None), ("1000", "101"), ("1000", "-1")]
)
async def test_a_license_that_cannot_be_kept_is_refused_for_the_dead_letter_topic(
    quantity: str, tolerance: str | None
) -> None:
    uow = FakeUnitOfWork()
    with pytest.raises(PermanentError):
        await consume(uow, issued(quantity=quantity, tolerance=tolerance))
    assert uow.licenses.rows == {} and uow.applications.rows == {} and uow.committed == 0


# ------------------------------------------------------------------ RequestResend


async def stored_license(uow: FakeUnitOfWork, status: str | None, *, next_at: datetime | None = None) -> None:
    await consume(uow, issued())
    lic = uow.licenses.rows[LICENSE_NO]
    lic.customs_status, lic.next_delivery_at, lic.failed_rounds = status, next_at, 5


def resend(enterprise: str = ENTERPRISE) -> RequestResend:
    return RequestResend(license_no=LICENSE_NO, enterprise_codes=(enterprise,), principal="op-1")


async def test_resend_of_a_failed_license_makes_it_due_now() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "send_failed")
    wakes = uow.wakes
    answer = await handle(uow, resend())
    assert (answer.customs_status, answer.scheduled) == ("send_failed", True)
    lic = uow.licenses.rows[LICENSE_NO]
    assert lic.next_delivery_at is not None and lic.next_delivery_at <= datetime.now(UTC)
    assert lic.failed_rounds == 0  # the automatic re-sends start over
    assert uow.history.entries[-1].summary == "re-send to Customs requested by op-1 (was send_failed)"
    assert uow.wakes == wakes + 1


async def test_resend_of_a_license_in_flight_or_due_is_already_scheduled() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "store_failed", next_at=datetime.now(UTC) - timedelta(seconds=1))
    history = len(uow.history.entries)
    answer = await handle(uow, resend())
    assert answer.scheduled is False and len(uow.history.entries) == history
    assert uow.licenses.rows[LICENSE_NO].failed_rounds == 5


async def test_resend_of_a_stored_license_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "stored")
    with pytest.raises(Conflict, match="already stored"):
        await handle(uow, resend())
    assert uow.licenses.rows[LICENSE_NO].next_delivery_at is None


async def test_resend_of_another_tenants_license_is_not_found() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "send_failed")
    with pytest.raises(NotFound):
        await handle(uow, resend(OTHER))


# ------------------------------------------------------------------ operations


async def test_operations_close_a_parked_delivery_with_a_reason_the_application_hears() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "send_failed")  # rounds spent: parked
    uow.events.clear()
    await handle(uow, CloseDelivery(LICENSE_NO, reason="Customs has it on paper", actor="ops-1"))
    lic = uow.licenses.rows[LICENSE_NO]
    assert lic.next_delivery_at is None and lic.customs_status == "send_failed"
    assert uow.ops_actions.rows == [(LICENSE_NO, "close", "Customs has it on paper", "ops-1")]
    [(_, event)] = uow.events
    assert isinstance(event, CustomsStored) and event.result == "send_failed"
    assert event.detail == "delivery closed by operations: Customs has it on paper"
    assert uow.history.kinds()[-1] == "customs_delivery_closed"


async def test_operations_cannot_close_a_delivery_in_flight_or_stored() -> None:
    for status in ("not_arrived", "stored", None):
        uow = FakeUnitOfWork()
        await stored_license(uow, status)
        with pytest.raises(Conflict):
            await handle(uow, CloseDelivery(LICENSE_NO, reason="why not", actor="ops-1"))
        assert uow.ops_actions.rows == []


async def test_operations_resend_any_tenants_failed_delivery_now_recorded() -> None:
    uow = FakeUnitOfWork()
    await stored_license(uow, "store_failed")
    wakes = uow.wakes
    await handle(uow, OpsResendDelivery(LICENSE_NO, reason="Customs fixed their store", actor="ops-1"))
    lic = uow.licenses.rows[LICENSE_NO]
    assert lic.next_delivery_at is not None and lic.failed_rounds == 0 and uow.wakes == wakes + 1
    assert uow.ops_actions.rows == [(LICENSE_NO, "resend", "Customs fixed their store", "ops-1")]
    with pytest.raises(Conflict):  # due already: nothing recorded twice
        await handle(uow, OpsResendDelivery(LICENSE_NO, reason="again", actor="ops-1"))
    assert len(uow.ops_actions.rows) == 1
    with pytest.raises(NotFound):
        await handle(uow, OpsResendDelivery("NO-SUCH", reason="again", actor="ops-1"))


# ------------------------------------------------------------------ delivery


async def test_claiming_takes_due_licenses_for_a_leased_round() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    claimed = await handle(uow, ClaimDueLicenses(limit=8, lease_seconds=60))
    assert [(lic.license_no, lic.delivery_rounds, lic.customs_status) for lic in claimed] == [
        (LICENSE_NO, 1, "not_arrived")
    ]
    assert await handle(uow, ClaimDueLicenses(limit=8, lease_seconds=60)) == []  # leased


async def claimed_round(uow: FakeUnitOfWork) -> int:
    await consume(uow, issued())
    (lic,) = await handle(uow, ClaimDueLicenses(limit=8, lease_seconds=60))
    return int(lic.delivery_rounds)


def delivery(round_: int, outcome: DeliveryOutcome) -> RecordDelivery:
    return RecordDelivery(
        license_no=LICENSE_NO, round=round_, outcome=outcome, started_at=ISSUED_AT, policy=POLICY
    )


async def test_a_stored_delivery_is_recorded_with_its_event() -> None:
    uow = FakeUnitOfWork()
    round_ = await claimed_round(uow)
    assert await handle(uow, delivery(round_, DeliveryOutcome("stored", "", 1, "R9"))) is True
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.customs_status, lic.next_delivery_at, lic.failed_rounds) == ("stored", None, 0)
    ((aggregate_id, event),) = uow.events
    assert aggregate_id == APP_ID and isinstance(event, CustomsStored)
    assert (event.result, event.attempt, event.license_no) == ("stored", 1, LICENSE_NO)
    assert uow.history.entries[-1].summary == "delivery round 1: Customs stored the license"
    assert uow.history.entries[-1].data["receipt_no"] == "R9"


async def test_a_failed_delivery_schedules_the_automatic_resend_until_the_rounds_run_out() -> None:
    uow = FakeUnitOfWork()
    round_ = await claimed_round(uow)
    before = datetime.now(UTC)
    await handle(uow, delivery(round_, DeliveryOutcome("send_failed", "Customs did not answer", 3)))
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.customs_status, lic.failed_rounds) == ("send_failed", 1)
    assert lic.next_delivery_at is not None
    assert before + timedelta(seconds=5) <= lic.next_delivery_at <= datetime.now(UTC) + timedelta(seconds=5)
    assert "automatic re-send at" in uow.history.entries[-1].summary
    lic.failed_rounds = POLICY.max_rounds - 1  # the last automatic round fails too
    await handle(uow, delivery(round_, DeliveryOutcome("store_failed", "bad data")))
    last = uow.licenses.rows[LICENSE_NO]
    assert (last.customs_status, last.next_delivery_at) == ("store_failed", None)
    assert [e.result for _, e in uow.events if isinstance(e, CustomsStored)] == [
        "send_failed",
        "store_failed",
    ]


async def test_the_outcome_of_a_round_a_newer_round_took_over_is_dropped() -> None:
    uow = FakeUnitOfWork()
    round_ = await claimed_round(uow)
    uow.licenses.rows[LICENSE_NO].delivery_rounds = round_ + 1  # the lease ran out, round 2 runs
    assert await handle(uow, delivery(round_, DeliveryOutcome("stored"))) is False
    assert uow.licenses.rows[LICENSE_NO].customs_status == "not_arrived" and uow.events == []


# ------------------------------------------------------------------ the clearance feed


async def test_a_declaration_is_a_use_with_its_event_declaration_and_cursor() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    assert await feed(uow, declared(1, "100")) == 1
    assert outcome_of(uow, "m1") == ("applied", "")
    ((no, entry, message_id),) = uow.licenses.entries[LICENSE_NO]
    assert (no, entry.kind.value, entry.quantity, message_id) == (1, "use", Decimal("100"), "m1")
    assert uow.declarations.rows["D1"].state == "recorded"
    assert uow.feed.cursors[FEED] == FeedCursor("e1", 1)
    ((aggregate_id, event),) = uow.events
    assert aggregate_id == APP_ID and isinstance(event, ClearanceRecorded)
    assert (event.quantity, event.port, [line.quantity for line in event.lines]) == (
        Decimal("100"),
        "2200",
        [Decimal("100")],
    )
    assert uow.history.kinds()[-1] == "clearance_recorded"


async def test_a_declaration_the_ledger_cannot_cover_is_refused_with_its_event() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued(one_batch=True))
    await feed(uow, declared(1, "10"), declared(2, "10"))
    assert outcome_of(uow, "m2") == ("refused", "one_batch_already_used")
    assert uow.declarations.rows["D2"].refusal_reason == "one_batch_already_used"
    # The one use of a one-batch license used it up (issue 15: a state of its own).
    assert uow.event_types() == ["ClearanceRecorded", "LicenseUsedUp", "ClearanceRefused"]
    assert uow.licenses.rows[LICENSE_NO].uses == 1


async def test_a_message_delivered_twice_and_a_declaration_reported_twice_count_once() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    await feed(uow, declared(1, "100"), declared(1, "100"))  # the same message twice in a page
    await feed(uow, {**declared(1, "100"), "position": 2})  # and again on a later page
    await feed(uow, {**declared(1, "100"), "message_id": "m9", "position": 3})  # another id, same declaration
    assert outcome_of(uow, "m9") == ("ignored", "declaration D1 was already reported")
    assert uow.licenses.rows[LICENSE_NO].used_quantity == Decimal("100")
    assert uow.event_types() == ["ClearanceRecorded"]
    assert uow.feed.cursors[FEED].position == 3


async def test_unknown_licenses_and_malformed_messages_are_set_aside_and_the_feed_goes_on() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    bad = {**declared(2, "1"), "declared_at": "2026-03-06T00:00:00"}  # no time zone
    await feed(uow, declared(1, "1", license_no="NOPE"), bad, declared(3, "5"))
    assert outcome_of(uow, "m1") == ("unknown_license", "no license NOPE")
    assert outcome_of(uow, "m2")[0] == "malformed"
    assert outcome_of(uow, "m3") == ("applied", "")


async def test_an_invalidated_declaration_gives_back_its_quantity_and_use() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued(one_batch=True))
    await feed(uow, declared(1, "300"))
    at = (ISSUED_AT + timedelta(days=6)).isoformat()
    await feed(
        uow,
        {**declared(2, "0"), "kind": "invalidated", "declaration_no": "D1", "lines": [], "occurred_at": at},
    )
    assert outcome_of(uow, "m2") == ("reversed", "")
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.used_quantity, lic.uses, lic.ledger_entries) == (Decimal(0), 0, 2)
    assert uow.declarations.rows["D1"].state == "invalidated"
    reversed_, reopened = uow.events[-2][1], uow.events[-1][1]
    assert isinstance(reversed_, ClearanceReversed) and (reversed_.kind, reversed_.quantity) == (
        "invalidated",
        Decimal("300"),
    )
    # The one-batch license was used up by its one use; the use given back makes it valid again,
    # and that is announced after the reversal (the application and the status view follow it).
    assert uow.event_types()[-3:] == ["LicenseUsedUp", "ClearanceReversed", "LicenseReopened"]
    assert isinstance(reopened, LicenseReopened)
    assert (reopened.declaration_no, reopened.used_quantity, reopened.uses) == ("D1", Decimal(0), 0)
    assert lic.state == LicenseState.VALID
    # nothing is given back twice
    await feed(uow, {**declared(3, "0"), "kind": "invalidated", "declaration_no": "D1", "lines": []})
    assert outcome_of(uow, "m3")[0] == "ignored"


async def test_an_amended_declaration_is_reversed_and_stands_again_with_its_new_lines() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    await feed(uow, declared(1, "300"))
    await feed(uow, {**declared(2, "120"), "kind": "amended", "declaration_no": "D1"})
    assert outcome_of(uow, "m2") == ("reversed_and_applied", "")
    lic = uow.licenses.rows[LICENSE_NO]
    assert (lic.used_quantity, lic.uses) == (Decimal("120"), 1)
    assert [e.kind.value for _, e, _ in uow.licenses.entries[LICENSE_NO]] == ["use", "reversal", "use"]
    assert (uow.declarations.rows["D1"].quantity, uow.declarations.revisions["D1"]) == (Decimal("120"), 2)
    assert uow.event_types() == ["ClearanceRecorded", "ClearanceReversed", "ClearanceRecorded"]


async def test_a_page_whose_cursor_another_replica_moved_is_not_applied() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    uow.feed.cursors[FEED] = FeedCursor("e1", 7)
    n = await handle(uow, ApplyFeedPage(epoch="e1", after=0, messages=(declared(1, "1"),), expected=None))
    assert n == 0 and uow.feed.outcomes == {} and uow.feed.cursors[FEED] == FeedCursor("e1", 7)


async def test_a_failing_page_leaves_nothing_behind() -> None:
    uow = FakeUnitOfWork()
    await consume(uow, issued())
    lic_before = json.dumps(vars(uow.licenses.rows[LICENSE_NO]), default=str)

    async def broken(**_: Any) -> None:
        raise OSError("the database went away")

    uow.feed.record = broken  # type: ignore[method-assign]
    with pytest.raises(OSError):
        await feed(uow, declared(1, "100"))
    assert json.dumps(vars(uow.licenses.rows[LICENSE_NO]), default=str) == lic_before
    assert uow.licenses.entries == {} and FEED not in uow.feed.cursors and uow.events == []


# ------------------------------------------------------------------ the workers' steps


async def test_the_delivery_step_delivers_what_is_due_and_records_the_outcome() -> None:
    from ail_customs.service_layer.workers import Delivery

    uow = FakeUnitOfWork()
    await consume(uow, issued())
    customs = FakeCustoms(DeliveryOutcome("send_failed", "Customs did not answer in time", 3))
    step = Delivery(lambda: uow, customs, policy=POLICY)
    assert await step.step() == 0  # something was due: look again at once
    assert customs.delivered[0]["license_no"] == LICENSE_NO and customs.delivered[0]["quantity"] == "1000"
    assert customs.delivered[0]["valid_until"] == "2026-08-31"
    assert uow.licenses.rows[LICENSE_NO].customs_status == "send_failed"
    assert await step.step() is None  # nothing due until the automatic re-send


async def test_the_feed_step_reads_after_the_cursor_and_starts_over_on_a_new_epoch() -> None:
    from ail_customs.service_layer.workers import FeedReader

    uow = FakeUnitOfWork()
    await consume(uow, issued())
    customs = FakeCustoms()
    customs.messages = [declared(1, "10"), declared(2, "20")]
    reader = FeedReader(lambda: uow, customs, page_size=1)
    assert await reader.step() == 0  # a full page: the next one at once
    assert await reader.step() == 0
    assert await reader.step() is None
    assert customs.reads == [(0, 1), (1, 1), (2, 1)]
    customs.epoch = "e2"  # Customs' feed started over: read from 0 again, ids dedup
    await reader.step()
    assert customs.reads[-2:] == [(2, 1), (0, 1)]
    assert uow.feed.cursors[FEED].epoch == "e2"
    assert uow.licenses.rows[LICENSE_NO].used_quantity == Decimal("30")
