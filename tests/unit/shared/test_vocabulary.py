"""The commodity categories and groupings the statistics service accepts are the catalogue's."""

from __future__ import annotations

import csv

from ail_application.adapters.reference_data import DATA
from ail_shared.vocabulary import COMMODITY_CATEGORIES, COMMODITY_GROUPINGS


def test_the_catalogue_uses_exactly_the_shared_categories_and_groupings() -> None:
    with (DATA / "catalogue.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert {r["category"] for r in rows} == COMMODITY_CATEGORIES
    assert {r["grouping"] for r in rows} == COMMODITY_GROUPINGS
