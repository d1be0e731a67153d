"""Code tables, the commodity catalogue and the dated exchange rates (DOMAIN sections 5 and 9).

They are data: CSV files in ``ail_application/reference_data``, read once into memory by
``ail_application.adapters.reference_data.load`` (the domain reads no files). Keeping them in
memory lets submission-time validation stay a pure function; a change of catalogue is a
change of data files, reviewed like code."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

CODE_TABLES = (
    "trade_modes",
    "countries",
    "forex_sources",
    "customs_ports",
    "commodity_usages",
    "currencies",
    "units",
    "issuing_agencies",
    "contract_types",
    "enterprise_natures",
    "freight_pricing_methods",
    "transport_modes",
    "import_change_bands",
)
IRON_ORE_HEADING = "2601"


@dataclass(frozen=True)
class Code:
    code: str
    name_zh: str
    letters: str
    is_default: bool = False


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name_zh: str
    letters: str
    unit: str
    year: int
    effective_from: date
    effective_to: date
    category: str
    grouping: str
    tolerance_pct: Decimal
    electronic: bool
    iron_ore: bool
    key_agri: bool
    issuing_agency: str


@dataclass(frozen=True)
class ExchangeRate:
    currency: str
    valid_from: date
    usd_per_unit: Decimal


def is_iron_ore(commodity_code: str | None) -> bool:
    return bool(commodity_code) and str(commodity_code).startswith(IRON_ORE_HEADING)


def _matches(q: str, code: str, letters: str, name_zh: str) -> bool:
    q = q.strip()
    if not q:
        return True
    return code.startswith(q) or q.upper() in letters.upper() or q in name_zh


class ReferenceData:
    def __init__(
        self,
        codes: dict[str, dict[str, Code]],
        catalogue: list[CatalogueEntry],
        rates: list[ExchangeRate],
    ) -> None:
        self.codes = codes
        self.catalogue = catalogue
        self.rates = sorted(rates, key=lambda r: (r.currency, r.valid_from))

    # -- code tables ------------------------------------------------------------------------
    def has(self, table: str, code: object) -> bool:
        return isinstance(code, str) and code in self.codes.get(table, {})

    def name(self, table: str, code: str | None) -> str:
        entry = self.codes.get(table, {}).get(code or "")
        return entry.name_zh if entry else ""

    def default(self, table: str) -> str | None:
        return next((c.code for c in self.codes[table].values() if c.is_default), None)

    def lookup(
        self, table: str, q: str = "", *, year: int | None = None, on: date | None = None
    ) -> list[dict[str, object]]:
        """Rows of a code table matching ``q``; for the catalogue also only ``year``'s entries
        and only those in effect on ``on`` (effective_from <= on <= effective_to), when given."""
        if table == "commodities":
            seen: dict[str, CatalogueEntry] = {}
            for e in self.catalogue:
                if year is not None and e.year != year:
                    continue
                if on is not None and not e.effective_from <= on <= e.effective_to:
                    continue
                if _matches(q, e.code, e.letters, e.name_zh):
                    seen.setdefault(f"{e.code}:{e.year}", e)
            return [
                {
                    "code": e.code,
                    "name_zh": e.name_zh,
                    "letters": e.letters,
                    "unit": e.unit,
                    "year": e.year,
                    "effective_from": e.effective_from.isoformat(),
                    "effective_to": e.effective_to.isoformat(),
                    "category": e.category,
                    "grouping": e.grouping,
                    "tolerance_pct": str(e.tolerance_pct),
                    "electronic": e.electronic,
                    "iron_ore": e.iron_ore,
                    "key_agri": e.key_agri,
                    "issuing_agency": e.issuing_agency,
                }
                for e in seen.values()
            ]
        return [
            {"code": c.code, "name_zh": c.name_zh, "letters": c.letters, "is_default": c.is_default}
            for c in self.codes[table].values()
            if _matches(q, c.code, c.letters, c.name_zh)
        ]

    # -- catalogue -------------------------------------------------------------------------
    def commodity(self, code: object, year: int | None = None) -> CatalogueEntry | None:
        """The catalogue entry of ``code`` for ``year`` (any year when None, latest first)."""
        if not isinstance(code, str):
            return None
        found = [e for e in self.catalogue if e.code == code and (year is None or e.year == year)]
        return max(found, key=lambda e: e.year) if found else None

    # -- exchange rates --------------------------------------------------------------------
    def usd_per_unit(self, currency: object, on: date) -> Decimal | None:
        """The rate in force on ``on``: the latest row whose valid_from is not after it."""
        best = None
        for r in self.rates:
            if r.currency == currency and r.valid_from <= on:
                best = r
        return best.usd_per_unit if best else None
