"""Reads the reference data (code tables, catalogue, exchange rates) from the CSV files in
``ail_application/reference_data`` into the domain's :class:`ReferenceData`, once per process."""

from __future__ import annotations

import csv
from datetime import date
from decimal import Decimal
from functools import cache
from pathlib import Path

from ail_application.domain.reference import CODE_TABLES, CatalogueEntry, Code, ExchangeRate, ReferenceData

DATA = Path(__file__).resolve().parents[1] / "reference_data"


def _bool(v: str) -> bool:
    return v.strip() in ("1", "true", "yes")


@cache
def load(folder: Path = DATA) -> ReferenceData:
    codes: dict[str, dict[str, Code]] = {t: {} for t in CODE_TABLES}
    with (folder / "codes.csv").open(encoding="utf-8") as f:
        for row in csv.DictReader(f):
            codes[row["table"]][row["code"]] = Code(
                row["code"], row["name_zh"], row["letters"], _bool(row["is_default"])
            )
    with (folder / "catalogue.csv").open(encoding="utf-8") as f:
        catalogue = [
            CatalogueEntry(
                code=r["code"],
                name_zh=r["name_zh"],
                letters=r["letters"],
                unit=r["unit"],
                year=int(r["year"]),
                effective_from=date.fromisoformat(r["effective_from"]),
                effective_to=date.fromisoformat(r["effective_to"]),
                category=r["category"],
                grouping=r["grouping"],
                tolerance_pct=Decimal(r["tolerance_pct"]),
                electronic=_bool(r["electronic"]),
                iron_ore=_bool(r["iron_ore"]),
                key_agri=_bool(r["key_agri"]),
                issuing_agency=r["issuing_agency"],
            )
            for r in csv.DictReader(f)
        ]
    with (folder / "exchange_rates.csv").open(encoding="utf-8") as f:
        rates = [
            ExchangeRate(r["currency"], date.fromisoformat(r["valid_from"]), Decimal(r["usd_per_unit"]))
            for r in csv.DictReader(f)
        ]
    return ReferenceData(codes, catalogue, rates)
