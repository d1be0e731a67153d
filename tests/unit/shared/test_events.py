from __future__ import annotations

import json
from decimal import Decimal

import pytest

from ail_shared.errors import UndecodableEvent, UnsupportedSchemaVersion
from ail_shared.events import (
    EVENT_TYPES,
    UPCASTERS,
    Event,
    LicenseIssued,
    ReviewResultReceived,
    SubmissionAccepted,
    decode_envelope,
    envelope_for,
    parse_payload,
    register_event,
    utcnow,
)


def _accepted() -> SubmissionAccepted:
    return SubmissionAccepted(
        application_id="a1", submission_id="s1", form_no="261100776367555600014", applied_at=utcnow()
    )


def test_envelope_round_trip_keeps_every_field() -> None:
    env = envelope_for(
        _accepted(),
        aggregate_id="a1",
        tenant="1100776367555",
        trace_context={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"},
    )
    back = decode_envelope(env.to_bytes())
    assert back == env
    assert back.schema_version == "1.0"
    event = parse_payload(back)
    assert isinstance(event, SubmissionAccepted)
    assert event.form_no == "261100776367555600014"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"{oops", "not JSON"),
        (b"[]", "not a valid envelope"),
        (json.dumps({"event_id": "x"}).encode(), "event_id"),
        (None, "no value"),
    ],
)
def test_undecodable_values_say_why(raw: bytes | None, needle: str) -> None:
    with pytest.raises(UndecodableEvent) as exc:
        decode_envelope(raw)
    assert needle in str(exc.value)


def test_newer_major_is_refused_and_names_the_version() -> None:
    env = envelope_for(_accepted(), aggregate_id="a1", tenant="t")
    newer = env.model_copy(update={"schema_version": "2.0"})
    with pytest.raises(UnsupportedSchemaVersion, match="2.0"):
        parse_payload(newer)


def test_newer_minor_is_read_and_unknown_fields_ignored() -> None:
    env = envelope_for(_accepted(), aggregate_id="a1", tenant="t")
    newer = env.model_copy(update={"schema_version": "1.7", "payload": {**env.payload, "added_in_1_7": True}})
    assert isinstance(parse_payload(newer), SubmissionAccepted)


def test_older_major_is_upcast_through_the_chain() -> None:
    @register_event
    class QuotaChanged(Event):
        SCHEMA_MAJOR = 3
        license_no: str
        quantity: Decimal
        unit: str

    # v1 had "qty" as a string with the unit inside; v2 split it; v3 renamed licence->license.
    UPCASTERS[("QuotaChanged", 1)] = lambda p: {
        "licence_no": p["licence_no"],
        "quantity": p["qty"].split()[0],
        "unit": p["qty"].split()[1],
    }
    UPCASTERS[("QuotaChanged", 2)] = lambda p: {"license_no": p.pop("licence_no"), **p}
    try:
        stored_v1 = {"licence_no": "26AANW0040", "qty": "120.5 吨"}
        env = envelope_for(
            QuotaChanged(license_no="x", quantity=Decimal(1), unit="u"), aggregate_id="a", tenant="t"
        )
        old = env.model_copy(update={"schema_version": "1.0", "payload": stored_v1})
        event = parse_payload(old)
        assert event == QuotaChanged(license_no="26AANW0040", quantity=Decimal("120.5"), unit="吨")
        missing = env.model_copy(update={"schema_version": "0.9", "payload": stored_v1})
        with pytest.raises(UnsupportedSchemaVersion, match="no upcaster"):
            parse_payload(missing)
    finally:
        EVENT_TYPES.pop("QuotaChanged")
        UPCASTERS.pop(("QuotaChanged", 1))
        UPCASTERS.pop(("QuotaChanged", 2))


def test_payload_that_does_not_fit_the_model_is_undecodable() -> None:
    env = envelope_for(_accepted(), aggregate_id="a1", tenant="t")
    broken = env.model_copy(update={"payload": {"application_id": "a1"}})
    with pytest.raises(UndecodableEvent, match="form_no"):
        parse_payload(broken)


def test_unknown_event_type_is_undecodable() -> None:
    env = envelope_for(_accepted(), aggregate_id="a1", tenant="t")
    with pytest.raises(UndecodableEvent, match="unknown event_type"):
        parse_payload(env.model_copy(update={"event_type": "NoSuchEvent"}))


def test_license_issued_1_0_payload_reads_with_no_tolerance() -> None:
    payload = {
        "application_id": "a1",
        "enterprise_code": "1100776367555",
        "form_no": "f",
        "license_no": "26AANW0001",
        "issued_at": "2026-01-02T00:00:00+00:00",
        "valid_until": "2026-07-01",
        "commodity_code": "2601111000",
        "quantity": "1000.5",
        "one_batch_one_license": False,
    }
    raw = {
        "event_id": "2f1c5d0e-8d8a-4b55-9a43-7e8d4f2f0a11",
        "event_type": "LicenseIssued",
        "schema_version": "1.0",
        "occurred_at": "2026-01-02T00:00:00+00:00",
        "aggregate_id": "a1",
        "tenant": "1100776367555",
        "payload": payload,
    }
    event = parse_payload(decode_envelope(json.dumps(raw).encode()))
    assert isinstance(event, LicenseIssued)
    assert event.overflow_tolerance_pct is None and event.quantity == Decimal("1000.5")
    assert LicenseIssued.schema_version() == "1.2"


def test_a_review_result_as_1_0_wrote_it_has_no_grouping() -> None:
    # A ReviewResultReceived as the 1.0 producer wrote it: the summary has no commodity_grouping.
    raw = {
        "event_id": "5b0f8f0e-1d2a-4c55-9a43-7e8d4f2f0a12",
        "event_type": "ReviewResultReceived",
        "schema_version": "1.0",
        "occurred_at": "2026-01-02T00:00:00+00:00",
        "aggregate_id": "a1",
        "tenant": "1100776367555",
        "payload": {
            "application_id": "a1",
            "form_no": "f",
            "stage": "second",
            "result": "passed",
            "reviewed_at": "2026-01-02T00:00:00+00:00",
            "application": {
                "enterprise_code": "1100776367555",
                "serial_no": "NA26",
                "year": 2026,
                "commodity_code": "2601110000",
            },
        },
    }
    event = parse_payload(decode_envelope(json.dumps(raw).encode()))
    assert isinstance(event, ReviewResultReceived) and event.application is not None
    assert (event.application.commodity_grouping, event.application.commodity_category) == ("", "")
    assert event.application.replaces_license_no == ""
    assert ReviewResultReceived.schema_version() == "1.1"
