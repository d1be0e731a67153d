"""The calendar rules of a license (DOMAIN section 9), kept in one place.

A license is valid for 6 months from its issue date, but never past 31 December of the license
year. After 25 December licenses are issued for the next year, so the license year moves on."""

from __future__ import annotations

import calendar
from datetime import date

VALIDITY_MONTHS = 6
YEAR_END_CUTOFF_DAY = 25  # after 25 December, the next year's licenses are issued


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year = day.year + month_index // 12
    month = month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def license_year(issue_date: date, application_year: int | None = None) -> int:
    year = issue_date.year + (1 if (issue_date.month == 12 and issue_date.day > YEAR_END_CUTOFF_DAY) else 0)
    return max(year, application_year or year)


def valid_until(issue_date: date, application_year: int | None = None) -> date:
    """Last day the license may be used, when issued on ``issue_date`` for ``application_year``."""
    year = license_year(issue_date, application_year)
    return min(add_months(issue_date, VALIDITY_MONTHS), date(year, 12, 31))
