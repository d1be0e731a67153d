"""Submission domain: what of the snapshot travels onward, and which enterprise a certificate
names. (Review results to statuses, the forward-only rule and the license calendar are the
shared rules of ``ail_shared.lifecycle`` and ``ail_shared.calendar``, tested in tests/unit/shared.)"""

from __future__ import annotations

from decimal import Decimal

from ail_submission.domain.certificates import enterprise_codes_of, subject_of
from ail_submission.domain.snapshot import summary, tolerance_of
from tests.unit.support import make_cert


def test_summary_from_the_snapshot() -> None:
    snap = {
        "enterprise_code": "1100776367555",
        "serial_no": "NA2600000000000001",
        "year": 2026,
        "commodity_code": "2303300010",
        "commodity_name": "DDGS",
        "unit": "070",
        "total_quantity": "1500.5",
        "total_value_usd": "380630.00",
        "trade_mode": "10",
        "one_batch_one_license": True,
    }
    s = summary(snap, fallback_year=2020)
    assert s.total_quantity == Decimal("1500.5") and s.total_value_usd == Decimal("380630.00")
    assert s.unit == "070" and s.one_batch_one_license is True and s.year == 2026


def test_summary_sums_goods_when_totals_are_missing() -> None:
    s = summary({"goods": [{"quantity": "2", "unit": "070"}, {"quantity": "3.5"}]}, fallback_year=2026)
    assert s.total_quantity == Decimal("5.5") and s.unit == "070"


def test_enterprise_codes_from_certificate_subject() -> None:
    _, pem = make_cert("1100776367555")
    assert enterprise_codes_of(pem) == ["1100776367555"]
    assert enterprise_codes_of("", "CN=x,O=3100123456789") == ["3100123456789"]
    assert "O=1100776367555" in subject_of(pem)


def test_tolerance_of_the_snapshot() -> None:
    assert tolerance_of({"overflow_tolerance_pct": "3"}) == Decimal("3")
    assert tolerance_of({"overflow_tolerance_pct": 5}) == Decimal("5")
    assert tolerance_of({}) is None  # written before the application sent it
    assert tolerance_of({"overflow_tolerance_pct": "n/a"}) is None
    assert tolerance_of({"overflow_tolerance_pct": "-1"}) is None
