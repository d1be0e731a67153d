"""The shared input rules (ail_shared.inputs) and the request guard's URL checks, without a stack."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ail_shared.errors import FieldProblem
from ail_shared.http import _json_problems, _url_text_problems
from ail_shared.inputs import (
    PositiveQuantity,
    Quantity,
    RemarksText,
    UnitPrice,
    license_year_problem,
    parse_instant,
    text_problem,
)


class Line(BaseModel):
    quantity: Quantity | None = None
    unit_price: UnitPrice | None = None
    positive: PositiveQuantity | None = None
    remarks: RemarksText | None = None


def reason(**fields: Any) -> str:
    with pytest.raises(ValidationError) as info:
        Line(**fields)
    errors = info.value.errors()
    assert len(errors) == 1, errors
    return str(errors[0]["msg"])


def test_text_refuses_nul_and_lone_surrogates_and_says_where() -> None:
    assert text_problem("北京示例 Fe 62%\n\t") is None
    assert "position 2" in (text_problem("ab\x00") or "")
    assert "U+D800" in (text_problem("a\ud800") or "")
    assert "NUL" in reason(remarks="a\x00")
    assert "surrogate" in reason(remarks="\udfff")
    assert "at most 500 characters" in reason(remarks="备" * 501)
    assert Line(remarks="备" * 500).remarks == "备" * 500


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("1e-400", "after the decimal point"),
        ("0.00001", "after the decimal point"),
        ("1" + "0" * 39, "before the decimal point"),
        (1e308, "before the decimal point"),
        ("1e308", "before the decimal point"),
        ("-1e13", "before the decimal point"),
    ],
)
def test_quantities_are_bounded_in_size_and_scale(value: Any, why: str) -> None:
    assert why in reason(quantity=value)


def test_bounded_decimals_keep_what_fits() -> None:
    line = Line(quantity="999999999999.9999", unit_price="105.50000", positive="1e3")
    assert line.quantity == Decimal("999999999999.9999")
    assert str(line.unit_price) == "105.5000"  # trailing zeros past the scale dropped
    assert str(line.positive) == "1000"  # not 1E+3
    assert "greater than 0" in reason(positive="0")
    assert "finite" in reason(quantity="NaN")


def test_the_license_year_window() -> None:
    today = datetime(2026, 12, 1, tzinfo=UTC).date()
    assert license_year_problem(2026, today) is None and license_year_problem(2027, today) is None
    assert license_year_problem(2025, today) is None
    assert license_year_problem(2028, today) and license_year_problem(-1, today)


def test_instants_near_the_end_of_the_calendar_are_problems_not_overflows() -> None:
    problems: list[FieldProblem] = []
    assert parse_instant("9999-12-31", "to", problems, whole_day_end=True) is None
    assert parse_instant("9999-12-31T23:00:00-10:00", "from", problems) is None
    assert parse_instant("yesterday", "from", problems) is None
    assert [p.field for p in problems] == ["to", "from", "from"]
    assert parse_instant("2026-11-30", "to", [], whole_day_end=True) == datetime(2026, 12, 1, tzinfo=UTC)


def test_query_strings_must_be_utf8_text() -> None:
    assert _url_text_problems(b"serial_no=NA26&q=%E5%8C%97%E4%BA%AC&empty=", "query") == []
    got = _url_text_problems(b"serial_no=%ED%A0%80&name=a%00&x%FF=1", "query")
    assert [p.field for p in got] == ["query.serial_no", "query.name", "query.x\ufffd"]
    assert "UTF-8" in got[0].reason and "NUL" in got[1].reason and got[2].reason.startswith("the name")


def test_json_bodies_are_walked_for_text_and_finite_numbers() -> None:
    problems: list[FieldProblem] = []
    body = {"goods": [{"spec": "ok"}, {"spec": "a\x00"}], "x": float("nan"), "a\ud800": 1, "n": 1.5}
    _json_problems(body, "", problems)
    assert [p.field for p in problems] == ["goods.1.spec", "x", "<body>"]
