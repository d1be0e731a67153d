"""Computed fields and the license calendar, with property-based tests."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from hypothesis import given
from hypothesis import strategies as st

from ail_application.adapters.reference_data import load
from ail_application.domain.form import compute
from ail_shared.calendar import add_months, license_year, valid_until

REF = load()
amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal("1000000"), places=3)
lines = st.lists(
    st.fixed_dictionaries(
        {"spec": st.text(max_size=5), "unit": st.just("070"), "quantity": amounts, "unit_price": amounts}
    ),
    max_size=8,
)
days = st.dates(min_value=date(2026, 1, 1), max_value=date(2027, 12, 31))


@given(lines, st.sampled_from(["USD", "CNY", "EUR", "JPY"]), days)
def test_totals_are_the_sums_of_the_lines(goods, currency, on):
    c = compute({"goods": goods, "currency": currency}, year=on.year, ref=REF, on=on)
    rate = REF.usd_per_unit(currency, on)
    assert c["total_quantity"] == sum((g["quantity"] for g in goods), Decimal(0))
    for g, line in zip(goods, c["goods"], strict=True):
        # Money rounds half up to the cent (fen), as the printed form does.
        cent = Decimal("0.01")
        assert line["total_value"] == (g["quantity"] * g["unit_price"]).quantize(cent, ROUND_HALF_UP)
        assert line["total_value_usd"] == (line["total_value"] * rate).quantize(cent, ROUND_HALF_UP)
    assert c["total_value"] == sum((x["total_value"] for x in c["goods"]), Decimal(0))
    assert c["total_value_usd"] == sum((x["total_value_usd"] for x in c["goods"]), Decimal("0.00"))


@given(
    st.lists(
        st.fixed_dictionaries({"quantity": st.one_of(st.none(), st.text(max_size=4), amounts)}), max_size=5
    )
)
def test_incomplete_or_garbage_lines_never_break_computation(goods):
    c = compute({"goods": goods}, year=2026, ref=REF, on=date(2026, 6, 1))
    assert len(c["goods"]) == len(goods)
    assert all(line["total_value"] is None for line in c["goods"])
    assert c["total_value"] == Decimal("0.00")


def test_usd_uses_the_rate_in_force_on_the_day():
    goods = [{"quantity": "1", "unit_price": "1000"}]
    before = compute({"goods": goods, "currency": "CNY"}, year=2026, ref=REF, on=date(2026, 6, 30))
    after = compute({"goods": goods, "currency": "CNY"}, year=2026, ref=REF, on=date(2026, 7, 1))
    assert (before["total_value_usd"], after["total_value_usd"]) == (Decimal("139.20"), Decimal("140.10"))
    unknown = compute({"goods": goods, "currency": "XXX"}, year=2026, ref=REF, on=date(2026, 7, 1))
    assert unknown["total_value_usd"] is None


@given(days)
def test_valid_until_is_six_months_capped_at_the_license_year_end(issued):
    until = valid_until(issued)
    year = license_year(issued)
    assert until <= date(year, 12, 31)
    assert until <= add_months(issued, 6)
    assert until > issued
    if issued.month <= 6:
        assert until == add_months(issued, 6)


def test_valid_until_examples():
    assert valid_until(date(2026, 3, 15)) == date(2026, 9, 15)
    assert valid_until(date(2026, 8, 31)) == date(2026, 12, 31)
    assert valid_until(date(2026, 12, 25)) == date(2026, 12, 31)
    assert valid_until(date(2026, 12, 26)) == date(2027, 6, 26)  # next year's license
    assert valid_until(date(2026, 11, 20), 2027) == date(2027, 5, 20)  # applied ahead for next year
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
