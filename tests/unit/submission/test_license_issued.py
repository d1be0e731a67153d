"""Issue 11, item 3 (producer side): ``LicenseIssued`` carries the same ``valid_until`` the
applicant saw (``ail_shared.calendar``, the application's year, the China date of the issue) and
the catalogue's overflow tolerance that the application put in its snapshot; a stored 1.0
payload, written before the tolerance existed, still parses."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

import pytest

from ail_shared.calendar import valid_until, valid_until_of
from ail_shared.events import LicenseIssued, decode_envelope, parse_payload
from ail_submission.domain.commands import ReceiveReviewResult
from ail_submission.domain.model import ACCEPTED, Submission
from ail_submission.service_layer import handlers
from tests.unit.submission.fakes import FakeClock, FakeUnitOfWork, a_submission, snapshot, view_of

FORM = "26110077636755500001"


async def issue(sub_snapshot: dict[str, object], at: datetime) -> LicenseIssued:
    """Run a passed second review with a license through the callback handler at ``at``."""
    uow = FakeUnitOfWork(FakeClock(at))
    sub: Submission = a_submission(state=ACCEPTED, form_no=FORM, snapshot=sub_snapshot)
    uow.put(sub, view_of(sub, status="pending_second_review", form_no=FORM))
    cmd = ReceiveReviewResult(
        submission_id=sub.submission_id,
        application_id=sub.application_id,
        form_no=FORM,
        stage="second",
        result="passed",
        opinion="",
        license_no="26AANW0040",
        reviewed_at=at,
    )
    assert await handlers.receive_review_result(uow, cmd, clock=uow.clock) == "applied"
    [issued] = uow.events(LicenseIssued)
    return issued


async def test_a_2027_application_issued_in_november_2026_is_valid_until_may_2027() -> None:
    """The bug of issue 11: the form said 2027-05-20, LicenseIssued said 2026-12-31."""
    issued = await issue(snapshot(year=2027), datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    assert issued.valid_until == date(2027, 5, 20) == valid_until(date(2026, 11, 20), 2027)


async def test_the_25_december_cut_over_is_taken_in_china_time() -> None:
    # 17:00 UTC on 25 December is 01:00 on 26 December in Beijing: a license of the next year.
    late = datetime(2026, 12, 25, 17, 0, tzinfo=UTC)
    issued = await issue(snapshot(year=2026), late)
    assert issued.issued_at == late
    assert issued.valid_until == date(2027, 6, 26) == valid_until_of(late, 2026)
    # 15:59 UTC is 23:59 on 25 December in Beijing: still this year's license.
    before = datetime(2026, 12, 25, 15, 59, tzinfo=UTC)
    assert (await issue(snapshot(year=2026), before)).valid_until == date(2026, 12, 31)


@pytest.mark.parametrize(("in_snapshot", "carried"), [("3", Decimal("3")), ("5", Decimal("5")), (None, None)])
async def test_license_issued_carries_the_tolerance_of_the_snapshot(
    in_snapshot: str | None, carried: Decimal | None
) -> None:
    issued = await issue(snapshot(tolerance=in_snapshot), datetime(2026, 3, 1, tzinfo=UTC))
    assert issued.overflow_tolerance_pct == carried
    assert LicenseIssued.schema_version() == "1.2"


# A LicenseIssued as the 1.0 producer wrote it to the outbox (no overflow_tolerance_pct).
STORED_1_0 = """{
  "event_id": "5b0f4f0e-8a47-4d55-9a3e-3f8d1c0b7a11",
  "event_type": "LicenseIssued",
  "schema_version": "1.0",
  "occurred_at": "2026-06-02T08:15:30.123456Z",
  "aggregate_id": "0b6f2c1e-6c1d-4f8e-9d3a-2b7e5a9c4d10",
  "tenant": "1100776367555",
  "trace_context": {},
  "payload": {
    "application_id": "0b6f2c1e-6c1d-4f8e-9d3a-2b7e5a9c4d10",
    "enterprise_code": "1100776367555",
    "form_no": "26110077636755500001",
    "license_no": "26AANW0040",
    "issued_at": "2026-06-02T08:15:30.000001Z",
    "valid_until": "2026-12-02",
    "commodity_code": "2709000000",
    "commodity_name": "石油原油及从沥青矿物提取的原油",
    "unit": "070",
    "quantity": "1500.5",
    "one_batch_one_license": false
  }
}"""


def test_a_stored_1_0_license_issued_still_parses_without_a_tolerance() -> None:
    event = parse_payload(decode_envelope(STORED_1_0.encode()))
    assert isinstance(event, LicenseIssued)
    assert event.overflow_tolerance_pct is None  # the customs ledger falls back to its HS table
    assert event.valid_until == date(2026, 12, 2) and event.quantity == Decimal("1500.5")
    assert UUID(event.application_id).version == 4
