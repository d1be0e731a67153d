"""The license calendar (DOMAIN.md section 9): 6 months from issue, never past 31 December of the
license year, the year moving on after 25 December in China time, the application's year kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ail_shared.calendar import add_months, china_date, license_year, valid_until, valid_until_of


def test_six_months_from_issue_within_the_year() -> None:
    assert valid_until(date(2026, 3, 10)) == date(2026, 9, 10)


def test_never_past_the_end_of_the_license_year() -> None:
    assert valid_until(date(2026, 11, 20)) == date(2026, 12, 31)


def test_the_applications_later_year_is_honoured() -> None:
    # The bug of issue 11: the form said 2027-05-20, LicenseIssued 2026-12-31.
    assert license_year(date(2026, 11, 20), 2027) == 2027
    assert valid_until(date(2026, 11, 20), 2027) == date(2027, 5, 20)


def test_after_25_december_licenses_are_of_the_next_year() -> None:
    assert license_year(date(2026, 12, 25)) == 2026
    assert valid_until(date(2026, 12, 25)) == date(2026, 12, 31)
    assert license_year(date(2026, 12, 26)) == 2027
    assert valid_until(date(2026, 12, 26)) == date(2027, 6, 26)


def test_the_cut_over_is_in_china_time() -> None:
    # 17:00 UTC on 25 December is 01:00 on 26 December in Beijing: after the cut-over.
    late = datetime(2026, 12, 25, 17, 0, tzinfo=UTC)
    assert china_date(late) == date(2026, 12, 26)
    assert valid_until_of(late) == date(2027, 6, 26)
    assert valid_until_of(datetime(2026, 12, 25, 15, 59, tzinfo=UTC)) == date(2026, 12, 31)


def test_a_naive_instant_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        china_date(datetime(2026, 12, 25, 17, 0))


def test_month_ends_are_clamped() -> None:
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2098, 12, 31)), st.integers(2000, 2099))
def test_validity_is_at_most_six_months_and_within_the_license_year(issued: date, year: int) -> None:
    until = valid_until(issued, year)
    assert issued <= until <= add_months(issued, 6)
    assert until.year <= license_year(issued, year)
