"""The license calendar (DOMAIN.md section 9), one home for every service and the sandboxes.

A license is valid for 6 months from its issue date, but never past 31 December of the license
year. After 25 December licenses are issued for the next year, so the license year moves on; an
application made for a later year keeps its year. Business dates are calendar days in China
(``CHINA``): an issue at 2026-12-25T17:00Z is 26 December in Beijing, after the cut-over.

Callers: application (the validity the form shows, its year checks), submission (the
``valid_until`` of ``LicenseIssued``, which the customs ledger keeps as the license's expiry),
customs and stats (China dates), and the MOFCOM sandbox. ``tests/unit/shared/test_calendar.py``
pins the rule; ``tests/unit/test_one_home.py`` fails when another module computes it (or builds
the time zone) again.
"""

from __future__ import annotations

import calendar as _gregorian
from datetime import date, datetime
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")
VALIDITY_MONTHS = 6
YEAR_END_CUTOFF = (12, 25)  # issued after 25 December: a license of the next year


def china_date(at: datetime) -> date:
    """The calendar day in China of an instant (``at`` must carry its time zone)."""
    if at.tzinfo is None:
        raise ValueError("china_date needs an aware datetime (a naive one has no place in time)")
    return at.astimezone(CHINA).date()


def add_months(day: date, months: int) -> date:
    """Same day ``months`` later, or the month's last day when it is shorter (31 Aug + 6 = 28 Feb)."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return date(year, month, min(day.day, _gregorian.monthrange(year, month)[1]))


def license_year(issued_on: date, application_year: int | None = None) -> int:
    """The year a license issued on ``issued_on`` (a China date) belongs to."""
    year = issued_on.year + 1 if (issued_on.month, issued_on.day) > YEAR_END_CUTOFF else issued_on.year
    return max(year, application_year or year)


def valid_until(issued_on: date, application_year: int | None = None) -> date:
    """The last day a license issued on ``issued_on`` (a China date) for ``application_year`` may be used."""
    year = license_year(issued_on, application_year)
    return min(add_months(issued_on, VALIDITY_MONTHS), date(year, 12, 31))


def valid_until_of(issued_at: datetime, application_year: int | None = None) -> date:
    """``valid_until`` of a license issued at the instant ``issued_at``, on its China date."""
    return valid_until(china_date(issued_at), application_year)
