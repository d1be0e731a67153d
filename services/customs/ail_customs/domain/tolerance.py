"""Overflow tolerance of the goods (DOMAIN 9), as data.

The catalogue snapshot carried in ``LicenseIssued.overflow_tolerance_pct`` wins. When an event
does not carry it (older producers), the customs service falls back to this table: the longest
matching HS-code prefix decides; anything else is bulk goods at 5 %.
"""

from __future__ import annotations

from decimal import Decimal

DEFAULT_TOLERANCE_PCT = Decimal("5")

# (HS prefix, tolerance in percent, what the goods are)
TOLERANCE_BY_HS_PREFIX: tuple[tuple[str, Decimal, str], ...] = (
    ("2709", Decimal("3"), "crude oil"),
    ("2710", Decimal("3"), "refined oil"),
    ("31", Decimal("3"), "fertiliser"),
    ("72", Decimal("3"), "steel"),
)


def tolerance_for(commodity_code: str, from_catalogue: Decimal | None = None) -> tuple[Decimal, str]:
    """(tolerance in percent, where it came from: ``catalogue`` or ``hs_prefix_table``)."""
    if from_catalogue is not None:
        return from_catalogue, "catalogue"
    best: tuple[str, Decimal] | None = None
    for prefix, pct, _ in TOLERANCE_BY_HS_PREFIX:
        if commodity_code.startswith(prefix) and (best is None or len(prefix) > len(best[0])):
            best = (prefix, pct)
    return (best[1] if best else DEFAULT_TOLERANCE_PCT), "hs_prefix_table"
