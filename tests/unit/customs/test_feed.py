"""Parsing Customs' clearance feed messages: sense is checked before anything is written."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ail_customs.domain.feed import parse_message

GOOD = {
    "message_id": "m1",
    "position": 7,
    "kind": "declared",
    "declaration_no": "D1",
    "license_no": "26AANW0001",
    "declared_at": "2026-03-01T02:00:00+00:00",
    "port": "2200",
    "lines": [{"quantity": "10.5"}, {"quantity": "0.25", "line_no": 9, "unit": "千克"}],
}


def test_quantity_is_the_exact_sum_of_the_goods_lines() -> None:
    msg = parse_message(GOOD)
    assert msg.quantity == Decimal("10.75")
    assert [(line.line_no, line.quantity) for line in msg.lines] == [
        (1, Decimal("10.5")),
        (9, Decimal("0.25")),
    ]
    assert msg.occurred_at == msg.declared_at


@pytest.mark.parametrize(
    "change",
    [
        {"kind": "exported"},
        {"declared_at": "2026-03-01T02:00:00"},  # no time zone
        {"lines": [{"quantity": "NaN"}]},
        {"lines": [{"quantity": "ten"}]},
        {"license_no": None, "declaration_no": None, "message_id": None} | {"position": "x"},
    ],
)
def test_malformed_messages_are_refused(change: dict[str, object]) -> None:
    with pytest.raises((KeyError, ValueError, ArithmeticError)):
        parse_message({**GOOD, **change})
