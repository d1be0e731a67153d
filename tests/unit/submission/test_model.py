"""Submission domain rules: review results to statuses, never backwards, the license calendar,
what of the snapshot travels onward, and which enterprise a certificate names."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from ail_shared.lifecycle import ApplicationStatus as S
from ail_submission.domain import model
from tests.unit.support import make_cert


@pytest.mark.parametrize(
    ("stage", "result", "status"),
    [
        ("first", "passed", S.PENDING_SECOND_REVIEW),
        ("first", "rejected", S.FIRST_REVIEW_REJECTED),
        ("second", "passed", S.APPROVED),
        ("second", "rejected", S.SECOND_REVIEW_REJECTED),
    ],
)
def test_status_after_review(stage: str, result: str, status: S) -> None:
    assert model.status_after_review(stage, result) == status


def test_results_never_move_a_status_backwards() -> None:
    assert model.moves_forward("pending_first_review", S.PENDING_SECOND_REVIEW)
    assert model.moves_forward("approved", S.LICENSE_ISSUED)
    assert not model.moves_forward("license_issued", S.PENDING_SECOND_REVIEW)  # late first result
    assert not model.moves_forward("approved", S.APPROVED)  # duplicate
    assert not model.moves_forward("revoked", S.PENDING_SECOND_REVIEW)


@pytest.mark.parametrize(
    ("issued", "valid_until"),
    [
        (date(2026, 3, 15), date(2026, 9, 15)),
        (date(2026, 8, 31), date(2026, 12, 31)),  # not past 31 December of the license year
        (date(2026, 12, 25), date(2026, 12, 31)),
        (date(2026, 12, 26), date(2027, 6, 26)),  # after 25 December: next year's license
        (date(2026, 2, 28), date(2026, 8, 28)),
        (date(2027, 5, 31), date(2027, 11, 30)),  # month end clamps
    ],
)
def test_valid_until(issued: date, valid_until: date) -> None:
    assert model.valid_until(issued) == valid_until


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
    s = model.summary(snap)
    assert s.total_quantity == Decimal("1500.5") and s.total_value_usd == Decimal("380630.00")
    assert s.unit == "070" and s.one_batch_one_license is True and s.year == 2026


def test_summary_sums_goods_when_totals_are_missing() -> None:
    s = model.summary({"goods": [{"quantity": "2", "unit": "070"}, {"quantity": "3.5"}], "year": 2026})
    assert s.total_quantity == Decimal("5.5") and s.unit == "070"


def test_enterprise_codes_from_certificate_subject() -> None:
    _, pem = make_cert("1100776367555")
    assert model.enterprise_codes_of(pem) == ["1100776367555"]
    assert model.enterprise_codes_of("", "CN=x,O=3100123456789") == ["3100123456789"]
    assert "O=1100776367555" in model.subject_of(pem)
