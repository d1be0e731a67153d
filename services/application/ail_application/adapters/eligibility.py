"""Pre-check eligibility (DOMAIN section 5, step 1) behind one interface.

MOFCOM answers it in production (an HTTP adapter added by the submission work); until then, and
in tests, the catalogue data answers it. ``bootstrap.py`` chooses the implementation."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ail_application.domain.reference import ReferenceData, is_iron_ore


@dataclass(frozen=True)
class Eligibility:
    commodity_code: str
    commodity_name: str | None
    on_catalogue: bool
    electronic_allowed: bool
    iron_ore: bool
    key_agri: bool
    tolerance_pct: Decimal | None = None
    issuing_agency: str | None = None
    reason: str = ""
    source: str = "catalogue"


class EligibilityChecker(Protocol):
    async def check(
        self, *, enterprise_code: str, year: int, commodity_codes: list[str]
    ) -> list[Eligibility]:
        """One answer per code, in the order asked."""
        ...


class CatalogueEligibility:
    """Answers from the catalogue data for ``year``."""

    def __init__(self, ref: ReferenceData) -> None:
        self.ref = ref

    async def check(
        self, *, enterprise_code: str, year: int, commodity_codes: list[str]
    ) -> list[Eligibility]:
        out = []
        for code in commodity_codes:
            e = self.ref.commodity(code, year)
            if e is None:
                out.append(
                    Eligibility(
                        commodity_code=code,
                        commodity_name=None,
                        on_catalogue=False,
                        electronic_allowed=False,
                        iron_ore=is_iron_ore(code),
                        key_agri=False,
                        reason=f"{code} is not on the automatic-import catalogue for {year}",
                    )
                )
                continue
            out.append(
                Eligibility(
                    commodity_code=code,
                    commodity_name=e.name_zh,
                    on_catalogue=True,
                    electronic_allowed=e.electronic,
                    iron_ore=e.iron_ore,
                    key_agri=e.key_agri,
                    tolerance_pct=e.tolerance_pct,
                    issuing_agency=e.issuing_agency,
                    reason="" if e.electronic else "paper license only for this commodity",
                )
            )
        return out
