"""Customs' clearance feed, as the customs service reads it: one message per declaration fact
(declared, amended, invalidated), checked for sense before anything is written. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from ail_shared.events import ClearanceLine

FEED = "customs-clearance"  # the cursor's name
KINDS = ("declared", "amended", "invalidated")


@dataclass(frozen=True)
class FeedMessage:
    """One message of Customs' clearance feed."""

    message_id: str
    position: int
    kind: str  # declared | amended | invalidated
    declaration_no: str
    license_no: str
    declared_at: datetime
    occurred_at: datetime
    port: str
    lines: tuple[ClearanceLine, ...]
    quantity: Decimal


def _ts(raw: Any) -> datetime:
    ts = datetime.fromisoformat(str(raw))
    if ts.tzinfo is None:
        raise ValueError(f"timestamp without a time zone: {raw!r}")
    return ts


def parse_message(raw: dict[str, Any]) -> FeedMessage:
    """Raises KeyError / ValueError / ArithmeticError for a message that does not make sense."""
    lines = tuple(
        ClearanceLine(
            line_no=int(item.get("line_no", i + 1)),
            commodity_code=str(item.get("commodity_code", "")),
            quantity=Decimal(str(item["quantity"])),
            unit=str(item.get("unit", "")),
        )
        for i, item in enumerate(raw.get("lines") or [])
    )
    quantity = (
        sum((line.quantity for line in lines), Decimal(0)) if lines else Decimal(str(raw.get("quantity", 0)))
    )
    if not quantity.is_finite():
        raise ValueError(f"quantity {quantity} is not a number")
    kind = str(raw["kind"])
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}")
    declared_at = _ts(raw["declared_at"])
    return FeedMessage(
        message_id=str(raw["message_id"]),
        position=int(raw["position"]),
        kind=kind,
        declaration_no=str(raw["declaration_no"]),
        license_no=str(raw["license_no"]),
        declared_at=declared_at,
        occurred_at=_ts(raw.get("occurred_at") or raw["declared_at"]),
        port=str(raw.get("port", "")),
        lines=lines,
        quantity=quantity,
    )


def message_id_of(raw: dict[str, Any]) -> str:
    """The dedup key of a raw message (its position when Customs sent no id)."""
    return str(raw.get("message_id") or f"position-{raw.get('position')}")


@dataclass(frozen=True)
class FeedCursor:
    """Where the customs service is in Customs' feed; ``epoch`` changes when the feed starts over."""

    epoch: str
    position: int


@dataclass(frozen=True)
class MessageOutcome:
    """What became of one feed message (kept for dedup and for the operator)."""

    message_id: str
    kind: str
    license_no: str | None
    outcome: str  # applied | refused | ignored | unknown_license | malformed | reversed...
    detail: str = ""
