"""The catalogue look-up by year and effective date (issue 13 item 15), on the real data."""

from __future__ import annotations

from datetime import date

from ail_application.adapters.reference_data import load


def test_the_catalogue_by_year_and_by_the_date_in_effect() -> None:
    ref = load()
    every = ref.lookup("commodities")
    assert {r["year"] for r in every} >= {2026, 2027}
    of_2027 = ref.lookup("commodities", year=2027)
    assert of_2027 and {r["year"] for r in of_2027} == {2027} and len(of_2027) < len(every)
    on = ref.lookup("commodities", "2601", on=date(2026, 7, 1))
    assert on and all(str(r["effective_from"]) <= "2026-07-01" <= str(r["effective_to"]) for r in on)
    assert ref.lookup("commodities", year=2026, on=date(2027, 1, 2)) == []
