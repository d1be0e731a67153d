"""What of an application's snapshot (the form as submitted, ``ApplicationSubmitted.snapshot``)
travels onward in this service's events. Pure."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from ail_shared.events import ApplicationSummary


def _dec(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value not in (None, "") else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def summary(snapshot: dict[str, Any], *, fallback_year: int) -> ApplicationSummary:
    """The application in the words of ``ApplicationSummary`` (``fallback_year``: for a snapshot
    without a year, which the application service never sends)."""
    goods = [g for g in snapshot.get("goods") or [] if isinstance(g, dict)]
    quantity = (
        _dec(snapshot.get("total_quantity"))
        if snapshot.get("total_quantity") not in (None, "")
        else sum((_dec(g.get("quantity")) for g in goods), Decimal(0))
    )
    value_usd = (
        _dec(snapshot.get("total_value_usd"))
        if snapshot.get("total_value_usd") not in (None, "")
        else sum((_dec(g.get("total_value_usd")) for g in goods), Decimal(0))
    )
    return ApplicationSummary(
        enterprise_code=str(snapshot.get("enterprise_code") or snapshot.get("importer_code") or ""),
        serial_no=str(snapshot.get("serial_no") or ""),
        year=int(snapshot.get("year") or fallback_year),
        commodity_code=str(snapshot.get("commodity_code") or ""),
        commodity_name=str(snapshot.get("commodity_name") or ""),
        unit=str(snapshot.get("unit") or (goods[0].get("unit") if goods else "") or ""),
        total_quantity=quantity,
        total_value_usd=value_usd,
        trade_mode=str(snapshot.get("trade_mode") or ""),
        trade_country=str(snapshot.get("trade_country") or ""),
        issuing_agency=str(snapshot.get("issuing_agency") or ""),
        replaces_license_no=str(snapshot.get("replaces_license_no") or ""),
        one_batch_one_license=bool(snapshot.get("one_batch_one_license") or False),
        commodity_category=str(snapshot.get("commodity_category") or ""),
        commodity_grouping=str(snapshot.get("commodity_grouping") or ""),
    )


def tolerance_of(snapshot: dict[str, Any]) -> Decimal | None:
    """The catalogue's overflow tolerance (percent) the application put in its snapshot, or None
    for a snapshot written before it did (the customs ledger then uses its HS-prefix table)."""
    raw = snapshot.get("overflow_tolerance_pct")
    if raw in (None, ""):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return value if value.is_finite() and value >= 0 else None
