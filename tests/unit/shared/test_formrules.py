"""The form rules MOFCOM applies (``ail_shared.formrules``): each rule, its Chinese messages and
codes, and that our validation and the MOFCOM sandbox use this one home and agree on every form
(a property over generated goods and contract totals)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_CEILING, Decimal
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from ail_application.adapters.reference_data import load
from ail_application.domain import validation
from ail_application.domain.model import Application
from ail_sandbox.mofcom import rules as sandbox
from ail_shared import formrules
from ail_shared.formrules import (
    AMOUNT_FIELD,
    COMMODITY_CODE_INVALID,
    COMMODITY_NOT_ON_CATALOGUE,
    CONTRACT_AMOUNT_EXCEEDED,
    CONTRACT_QUANTITY_EXCEEDED,
    ELECTRONIC_LICENSE_NOT_ALLOWED,
    FILING_FIELD_REQUIRED,
    QUANTITY_FIELD,
    FormProblem,
)

REF = load()
ON = date(2026, 12, 1)
RATES = {"USD": Decimal(1), "CNY": Decimal("0.1401"), "EUR": Decimal("1.1020")}
FORM_RULE_CODES = {
    CONTRACT_QUANTITY_EXCEEDED,
    CONTRACT_AMOUNT_EXCEEDED,
    COMMODITY_CODE_INVALID,
    COMMODITY_NOT_ON_CATALOGUE,
    ELECTRONIC_LICENSE_NOT_ALLOWED,
}


def rate(currency: object, on: date) -> Decimal | None:
    return RATES.get(str(currency))


def snap(
    goods_qty: str | None = "100",
    contract_qty: str | None = "100",
    *,
    value: str | None = "1000",
    usd: str | None = "1000",
    currency: str | None = "USD",
    amount: str | None = "1000",
    settlement: str | None = "USD",
) -> dict[str, Any]:
    return {
        "currency": currency,
        "total_quantity": goods_qty,
        "total_value": value,
        "total_value_usd": usd,
        "contract": {
            "foreign_contract": {
                "total_quantity": contract_qty,
                "total_amount": amount,
                "settlement_currency": settlement,
            }
        },
    }


def chinese_only(message: str) -> bool:
    """Monolingual: no English word (digits, dates, HS and currency codes are not words)."""
    return not re.search(r"[a-z]", message) and not re.search(r"[A-Z]{4,}", message)


# ---------------------------------------------------------------------------- contract totals


def test_goods_equal_to_or_below_the_contract_pass() -> None:
    assert formrules.contract_totals(snap("100", "100"), usd_per_unit=rate, on=ON) == []
    assert formrules.contract_totals(snap("60", "100", value="600"), usd_per_unit=rate, on=ON) == []


def test_goods_quantity_above_the_contract_names_the_field_in_chinese_with_a_code() -> None:
    [problem] = formrules.contract_totals(snap("150333.333", "100000", value="10"), usd_per_unit=rate, on=ON)
    assert (problem.code, problem.field) == (CONTRACT_QUANTITY_EXCEEDED, QUANTITY_FIELD)
    assert problem.message.startswith("商品合计数量 150333.333 超过对外成交合同总数量 100000")
    assert chinese_only(problem.message)


def test_goods_value_above_the_contract_amount_in_one_currency_is_compared_without_conversion() -> None:
    over = snap(value="1000.01", usd="1101.99", currency="EUR", amount="1000", settlement="EUR")
    [problem] = formrules.contract_totals(over, usd_per_unit=rate, on=ON)
    assert (problem.code, problem.field) == (CONTRACT_AMOUNT_EXCEEDED, AMOUNT_FIELD)
    assert problem.message == "商品合计总值 1000.01 EUR 超过对外成交合同总金额 1000 EUR"
    exact = snap(value="1000.00", usd="1102.01", currency="EUR", amount="1000", settlement="EUR")
    assert formrules.contract_totals(exact, usd_per_unit=rate, on=ON) == [], (
        "USD rounding is not held against it"
    )


def test_other_currencies_are_compared_in_usd_at_the_rate_of_the_day_with_a_cent_of_rounding() -> None:
    # 10000 CNY at 0.1401 = USD 1401.00
    at_limit = snap(usd="1401.01", currency="USD", amount="10000", settlement="CNY")
    assert formrules.contract_totals(at_limit, usd_per_unit=rate, on=ON) == []
    over = snap(usd="1401.02", currency="USD", amount="10000", settlement="CNY")
    [problem] = formrules.contract_totals(over, usd_per_unit=rate, on=ON)
    assert problem.code == CONTRACT_AMOUNT_EXCEEDED
    assert problem.message == (
        "商品合计总值折美元 1401.02 超过对外成交合同总金额 10000 CNY（按 2026-12-01 汇率折美元 1401）"
    )
    assert chinese_only(problem.message)
    seen: list[tuple[object, date]] = []
    formrules.contract_totals(over, usd_per_unit=lambda c, d: seen.append((c, d)) or None, on=ON)
    assert seen == [("CNY", ON)], "the rate of the contract's currency on the day of the check"


def test_figures_not_given_or_without_a_rate_are_not_compared() -> None:
    assert formrules.contract_totals(snap("9", None, amount=None), usd_per_unit=rate, on=ON) == []
    assert formrules.contract_totals(snap(None, "1"), usd_per_unit=rate, on=ON) == []
    no_rate = snap(usd="99999", amount="1", settlement="XYZ")
    assert formrules.contract_totals(no_rate, usd_per_unit=rate, on=ON) == []
    assert formrules.contract_totals({"goods": [{"quantity": "5"}]}, usd_per_unit=rate, on=ON) == []


def test_goods_totals_are_summed_from_the_lines_when_a_snapshot_lacks_them() -> None:
    lines = {
        "currency": "USD",
        "goods": [{"quantity": "6", "total_value": "60"}, {"quantity": "6", "total_value": "60"}],
        "contract": {
            "foreign_contract": {"total_quantity": "11", "total_amount": "200", "settlement_currency": "USD"}
        },
    }
    assert [p.code for p in formrules.contract_totals(lines, usd_per_unit=rate, on=ON)] == [
        CONTRACT_QUANTITY_EXCEEDED
    ]


# ---------------------------------------------------------------------------- commodity


@dataclass(frozen=True)
class Entry:
    electronic: bool


class Catalogue:
    def commodity(self, code: object, year: int | None = None) -> Entry | None:
        return {("2303300010", 2026): Entry(True), ("1001190000", 2026): Entry(False)}.get(
            (str(code), year or 0)
        )


@pytest.mark.parametrize(
    ("snapshot", "code", "field"),
    [
        ({"commodity_code": "23033000", "year": 2026}, COMMODITY_CODE_INVALID, "commodity_code"),
        ({"commodity_code": "2303300010", "year": 2025}, COMMODITY_NOT_ON_CATALOGUE, "commodity_code"),
        (
            {"commodity_code": "1001190000", "year": 2026, "electronic_license": True},
            ELECTRONIC_LICENSE_NOT_ALLOWED,
            "electronic_license",
        ),
    ],
)
def test_commodity_rules(snapshot: dict[str, Any], code: str, field: str) -> None:
    [problem] = formrules.commodity(snapshot, catalogue=Catalogue())
    assert (problem.code, problem.field) == (code, field) and chinese_only(problem.message)


def test_a_listed_commodity_passes_and_a_missing_one_is_left_to_the_required_fields() -> None:
    assert formrules.commodity({"commodity_code": "2303300010", "year": 2026}, catalogue=Catalogue()) == []
    paper = {"commodity_code": "1001190000", "year": 2026, "electronic_license": False}
    assert formrules.commodity(paper, catalogue=Catalogue()) == []
    assert formrules.commodity({"commodity_code": " "}, catalogue=Catalogue()) == []
    assert formrules.commodity({"commodity_code": "2303300010", "year": 2025}, catalogue=Catalogue())[
        0
    ].message == ("商品代码 2303300010 不在2025年度自动进口许可管理货物目录内")


# ---------------------------------------------------------------------------- key-agri filing


def test_key_agri_filing_names_every_missing_field_at_once() -> None:
    complete = dict.fromkeys(formrules.KEY_AGRI_FILING_FIELDS, "x")
    assert formrules.key_agri_filing(complete) == []
    problems = formrules.key_agri_filing({**complete, "contact": "", "phone": None})
    assert [(p.code, p.field) for p in problems] == [
        (FILING_FIELD_REQUIRED, "contact"),
        (FILING_FIELD_REQUIRED, "phone"),
    ]
    assert [p.message for p in problems] == ["联系人为必填项", "联系电话为必填项"]


def test_an_opinion_is_the_code_then_the_chinese_text() -> None:
    p = FormProblem(CONTRACT_QUANTITY_EXCEEDED, QUANTITY_FIELD, "商品合计数量 2 超过对外成交合同总数量 1")
    assert (
        p.opinion("初审不通过：")
        == "contract_quantity_exceeded: 初审不通过：商品合计数量 2 超过对外成交合同总数量 1"
    )


# ---------------------------------------------------------------------------- one home


TODAY = date.today()


def application(
    goods: list[dict[str, str]],
    *,
    currency: str,
    contract_qty: str,
    contract_amount: str,
    settlement: str,
    commodity_code: str = "2303300010",
    electronic: bool | None = None,
) -> Application:
    """A form complete in every other respect, so that only the form rules can refuse it."""
    form = {
        "commodity_code": commodity_code,
        "handler_name": "张三",
        "import_user_code": "1100776367555",
        "import_user_name": "用户",
        "trade_mode": "10",
        "forex_source": "10",
        "commodity_usage": "11",
        "currency": currency,
        "trade_country": "502",
        "origin_country": "502",
        "customs_ports": ["2200"],
        "expected_arrival_date": (TODAY + timedelta(days=40)).isoformat(),
        "goods": goods,
    }
    app = Application.new_draft(
        serial="NA2600000000000001",
        enterprise_code="1100776367555",
        importer_name="北京示例",
        year=TODAY.year,
        form=form,
        ref=REF,
        on=TODAY,
        electronic_license=electronic,
    )
    app.contract = {
        "applicant": {
            "enterprise_code": "1100776367555",
            "name": "北京示例",
            "uscc": "91110000776367555X",
            "address": "a",
            "contact": "c",
            "phone": "010-12345678",
        },
        "foreign_contract": {
            "contract_no": "C1",
            "foreign_party_name_en": "ADM",
            "signing_date": (TODAY - timedelta(days=3)).isoformat(),
            "expiry_date": (TODAY + timedelta(days=300)).isoformat(),
            "total_quantity": contract_qty,
            "total_amount": contract_amount,
            "settlement_currency": settlement,
        },
        "other": {},
    }
    return app


def sandbox_verdict(app: Application) -> list[str]:
    """What the sandbox in its default mode refuses the signed snapshot for: at acceptance, then
    at first review (the codes, in order)."""
    snapshot = app.snapshot()
    refused = [p.code for p in sandbox.acceptance_problems(snapshot)]
    if refused:
        return refused
    ok, opinion = sandbox.ReviewRules().first_review(snapshot, on=TODAY)
    return [] if ok else [part.split(": ", 1)[0] for part in opinion.split("；")]


amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(10**6), places=3)
prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**4), places=2)
currencies = st.sampled_from(["USD", "CNY", "EUR", "JPY"])


@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.tuples(amounts, prices), min_size=1, max_size=4),
    currency=currencies,
    settlement=currencies,
    contract_qty=st.one_of(amounts, st.just(None)),
    contract_amount=st.one_of(
        st.decimals(min_value=Decimal("0.01"), max_value=Decimal(10**10), places=2), st.just(None)
    ),
    draw_on=st.sampled_from(["exact", "part", "free"]),
    commodity=st.sampled_from(["2303300010", "8003000010", "2303300099", "12345"]),
    electronic=st.sampled_from([None, True, False]),
)
def test_any_form_our_validation_passes_the_sandbox_accepts_and_both_refuse_alike(
    lines: list[tuple[Decimal, Decimal]],
    currency: str,
    settlement: str,
    contract_qty: Decimal | None,
    contract_amount: Decimal | None,
    draw_on: str,
    commodity: str,
    electronic: bool | None,
) -> None:
    goods = [{"spec": "s", "unit": "070", "quantity": str(q), "unit_price": str(p)} for q, p in lines]
    probe = application(
        goods, currency=currency, contract_qty="1", contract_amount="1", settlement=settlement
    )
    if draw_on != "free":
        # the contract the goods draw on exactly, or a contract they use part of
        factor = Decimal(1) if draw_on == "exact" else Decimal("1.5")
        contract_qty = Decimal(str(probe.computed["total_quantity"])) * factor
        if currency == settlement:
            contract_amount = Decimal(str(probe.computed["total_value"])) * factor
        else:  # the goods' USD value in the settlement currency, rounded up to the cent
            usd = Decimal(str(probe.computed["total_value_usd"]))
            per_unit = REF.usd_per_unit(settlement, TODAY)
            assert per_unit is not None
            contract_amount = (usd / per_unit * factor).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
    app = application(
        goods,
        currency=currency,
        contract_qty=str(contract_qty) if contract_qty is not None else "",
        contract_amount=str(contract_amount) if contract_amount is not None else "",
        settlement=settlement,
        commodity_code=commodity,
        electronic=electronic,
    )
    ours = validation.validate_for_submission(app, REF, on=TODAY)
    form_rules = [p.code for p in ours if p.code in FORM_RULE_CODES]
    event("passed" if not ours else f"refused for {sorted(set(form_rules))}")
    if not ours:
        assert sandbox_verdict(app) == [], "our validation passed it, the sandbox refused it"
    if draw_on != "free" and commodity == "2303300010":
        assert form_rules == [], "goods drawing on all or part of a contract pass"
    # Both refuse for the same form rules (the sandbox stops at acceptance for the commodity).
    commodity_codes = {COMMODITY_CODE_INVALID, COMMODITY_NOT_ON_CATALOGUE, ELECTRONIC_LICENSE_NOT_ALLOWED}
    expected = [c for c in form_rules if c in commodity_codes] or [
        c for c in form_rules if c not in commodity_codes
    ]
    assert sandbox_verdict(app) == expected


def test_validation_and_the_sandbox_call_the_one_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """A second copy of a rule in either caller would not reach these spies."""
    calls: list[str] = []

    def spy(name: str) -> Any:
        def rule(*args: Any, **kwargs: Any) -> list[FormProblem]:
            calls.append(name)
            return [FormProblem("spy", name, "探针")]

        return rule

    monkeypatch.setattr(formrules, "contract_totals", spy("contract_totals"))
    monkeypatch.setattr(formrules, "commodity", spy("commodity"))
    monkeypatch.setattr(formrules, "dates", spy("dates"))
    app = application(
        [{"spec": "s", "unit": "070", "quantity": "1", "unit_price": "1"}],
        currency="USD",
        contract_qty="1",
        contract_amount="1",
        settlement="USD",
    )
    problems = validation.validate_for_submission(app, REF, on=TODAY)
    assert calls == ["commodity", "contract_totals", "dates"]
    assert [p.code for p in problems] == ["spy", "spy", "spy"]
    calls.clear()
    assert sandbox.acceptance_problems(app.snapshot()) == [FormProblem("spy", "commodity", "探针")]
    assert sandbox.ReviewRules().first_review(app.snapshot(), on=TODAY) == (False, "spy: 初审不通过：探针")
    assert calls == ["commodity", "contract_totals"]


# ---------------------------------------------------------------------------- dates (issue 13.2)
def test_a_past_arrival_date_and_an_expired_contract_are_problems_today_is_not() -> None:
    yesterday, today = (ON - timedelta(days=1)).isoformat(), ON.isoformat()
    contract = {"foreign_contract": {"expiry_date": yesterday}, "agency_contract": {"expiry_date": yesterday}}
    found = formrules.dates({"expected_arrival_date": yesterday, "contract": contract}, on=ON)
    assert [(p.code, p.field) for p in found] == [
        (formrules.ARRIVAL_DATE_PAST, "expected_arrival_date"),
        (formrules.CONTRACT_EXPIRED, "contract.foreign_contract.expiry_date"),
        (formrules.CONTRACT_EXPIRED, "contract.agency_contract.expiry_date"),
    ]
    assert all(chinese_only(p.message) for p in found)
    fine = {"expected_arrival_date": today, "contract": {"foreign_contract": {"expiry_date": today}}}
    assert formrules.dates(fine, on=ON) == []
    assert formrules.dates({"expected_arrival_date": "2026/12/20", "contract": None}, on=ON) == []


def test_a_contract_figure_not_above_zero_is_not_compared() -> None:
    assert formrules.contract_totals(snap("10", "-1"), usd_per_unit=rate, on=ON) == []
    assert formrules.contract_totals(snap("10", "0"), usd_per_unit=rate, on=ON) == []
