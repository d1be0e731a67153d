"""The form rules MOFCOM applies to an application, in one home (DOMAIN sections 5 and 6).

Callers, and the only ones (``tests/unit/shared/test_formrules.py`` fails on a second copy):

- the application service's submission validation
  (``ail_application.domain.validation.validate_for_submission``: ``POST .../submit`` refuses with
  these problems, and every application view lists them under ``problems``);
- the MOFCOM sandbox (``ail_sandbox.mofcom``): ``commodity`` when it accepts a submission,
  ``contract_totals`` at its first review in the default mode, ``key_agri_filing`` for a filing.

``dates`` (issue 13, item 2) is called by the application's validation only: it is a rule of the
day of submission (MOFCOM reviews the form as it was submitted, days later).

Both sides call the same function on the same data: the snapshot the application signs
(``Application.snapshot()``: the form, its computed totals and the contract). So an application
our validation passes is never refused by the sandbox for a form reason, unless one of the
sandbox's fault modes asks for it (a property test holds that).

The rules (docs/application.md, "Contract against goods"):

- **contract totals, not above**: an application may draw on part of a contract, never more.
  The goods' total quantity may not exceed the foreign contract's total quantity, and the goods'
  total value may not exceed the contract's total amount. Where the goods are priced in the
  contract's settlement currency the two are compared in that currency (one rate applied to both
  sides changes nothing but adds rounding); otherwise in USD, the contract amount converted at the
  rate in force on the day of the check, a cent allowed for the rounding of each line's USD value.
  A figure not given (or a rate not known) is not compared: completeness is checked elsewhere;
  nor is a contract figure that is not greater than 0 (the application's validation says "must
  be greater than 0" of it: "exceeds the contract's total quantity -1" would mislead).
- **dates, as of the day of the check (China date)**: the expected arrival date is not in the
  past, and neither the foreign contract nor the agency contract expired before that day (an
  expiry date of today is still valid).
- **commodity**: a 10-digit HS code on the catalogue of the application's year; an electronic
  license only for a commodity the catalogue allows it for.
- **key agricultural products filing**: every field required.

Every problem has a stable machine ``code`` (English, for programs), the ``field`` path (dotted,
as in the error body) and a ``message`` in Chinese for the applicant, one language only; the
English meaning of each code is in docs/application.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Protocol

# The codes: stable, part of the API (error body ``details[].code``, an application's
# ``problems[].code``, the code in front of MOFCOM's review opinion).
CONTRACT_QUANTITY_EXCEEDED = "contract_quantity_exceeded"
CONTRACT_AMOUNT_EXCEEDED = "contract_amount_exceeded"
COMMODITY_CODE_INVALID = "commodity_code_invalid"
COMMODITY_NOT_ON_CATALOGUE = "commodity_not_on_catalogue"
ELECTRONIC_LICENSE_NOT_ALLOWED = "electronic_license_not_allowed"
FILING_FIELD_REQUIRED = "filing_field_required"
ARRIVAL_DATE_PAST = "arrival_date_past"
CONTRACT_EXPIRED = "contract_expired"

QUANTITY_FIELD = "contract.foreign_contract.total_quantity"
AMOUNT_FIELD = "contract.foreign_contract.total_amount"
CENT = Decimal("0.01")
HS_CODE = re.compile(r"^[0-9]{10}$")

# DOMAIN section 6, with the names the applicant sees.
KEY_AGRI_FILING_FIELDS = {
    "enterprise_code": "企业代码",
    "enterprise_name": "企业名称",
    "customs_registration_no": "海关注册编码",
    "business_registration_no": "工商注册号",
    "registered_capital_wan_yuan": "注册资本(万元)",
    "business_address": "经营地址",
    "contact": "联系人",
    "phone": "联系电话",
}


@dataclass(frozen=True)
class FormProblem:
    """One form rule broken: ``code`` for programs, ``field`` path, ``message`` for the applicant."""

    code: str
    field: str
    message: str

    def opinion(self, prefix: str = "") -> str:
        """As MOFCOM writes it in a review opinion: the code, then the Chinese text."""
        return f"{self.code}: {prefix}{self.message}"


class ListedCommodity(Protocol):
    @property
    def electronic(self) -> bool: ...


class Catalogue(Protocol):
    """The automatic-import catalogue: the application's ``ReferenceData`` or MOFCOM's own."""

    def commodity(self, code: object, year: int | None = None) -> ListedCommodity | None: ...


# USD per unit of ``currency`` in force on the day: ``ReferenceData.usd_per_unit`` or MOFCOM's.
UsdPerUnit = Callable[[object, date], Decimal | None]


@dataclass(frozen=True)
class Totals:
    """The figures the contract rule compares, read from a snapshot."""

    goods_quantity: Decimal | None
    goods_value: Decimal | None
    goods_value_usd: Decimal | None
    goods_currency: str | None
    contract_quantity: Decimal | None
    contract_amount: Decimal | None
    contract_currency: str | None


def number(value: Any) -> Decimal | None:
    """A finite decimal, or None for a value that is absent or not a number."""
    if value is None or isinstance(value, bool) or value == "":
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def shown(d: Decimal) -> str:
    """A figure as the applicant reads it: plain digits, no exponent, no trailing zeros."""
    text = format(d, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _positive(d: Decimal | None) -> Decimal | None:
    return d if d is not None and d > 0 else None


def totals(snapshot: Mapping[str, Any]) -> Totals:
    """The goods' totals (computed fields of the form; summed from the lines when a snapshot lacks
    them) and the foreign contract's totals."""
    goods = [g for g in snapshot.get("goods") or [] if isinstance(g, Mapping)]

    def total(name: str, line_name: str) -> Decimal | None:
        given = number(snapshot.get(name))
        if given is not None or not goods:
            return given
        return sum((number(g.get(line_name)) or Decimal(0) for g in goods), Decimal(0))

    contract = snapshot.get("contract")
    foreign = contract.get("foreign_contract") if isinstance(contract, Mapping) else None
    fc: Mapping[str, Any] = foreign if isinstance(foreign, Mapping) else {}
    return Totals(
        goods_quantity=total("total_quantity", "quantity"),
        goods_value=total("total_value", "total_value"),
        goods_value_usd=total("total_value_usd", "total_value_usd"),
        goods_currency=_text(snapshot.get("currency")),
        contract_quantity=_positive(number(fc.get("total_quantity"))),
        contract_amount=_positive(number(fc.get("total_amount"))),
        contract_currency=_text(fc.get("settlement_currency")),
    )


def contract_totals(snapshot: Mapping[str, Any], *, usd_per_unit: UsdPerUnit, on: date) -> list[FormProblem]:
    """Contract against goods, not above (module docstring); ``on`` is the day of the check."""
    t = totals(snapshot)
    problems = []
    if t.goods_quantity is not None and t.contract_quantity is not None:
        if t.goods_quantity > t.contract_quantity:
            problems.append(
                FormProblem(
                    CONTRACT_QUANTITY_EXCEEDED,
                    QUANTITY_FIELD,
                    f"商品合计数量 {shown(t.goods_quantity)} 超过对外成交合同总数量"
                    f" {shown(t.contract_quantity)}，本申请只能使用合同的全部或部分数量",
                )
            )
    amount = t.contract_amount
    if amount is None or t.contract_currency is None:
        return problems
    currency = t.contract_currency
    if t.goods_currency == currency and t.goods_value is not None:
        if t.goods_value > amount:
            problems.append(
                FormProblem(
                    CONTRACT_AMOUNT_EXCEEDED,
                    AMOUNT_FIELD,
                    f"商品合计总值 {shown(t.goods_value)} {currency} 超过对外成交合同总金额"
                    f" {shown(amount)} {currency}",
                )
            )
        return problems
    rate = usd_per_unit(currency, on)
    if rate is None or t.goods_value_usd is None:
        return problems
    amount_usd = (amount * rate).quantize(CENT, rounding=ROUND_HALF_UP)
    if t.goods_value_usd > amount_usd + CENT:
        problems.append(
            FormProblem(
                CONTRACT_AMOUNT_EXCEEDED,
                AMOUNT_FIELD,
                f"商品合计总值折美元 {shown(t.goods_value_usd)} 超过对外成交合同总金额"
                f" {shown(amount)} {currency}（按 {on.isoformat()} 汇率折美元 {shown(amount_usd)}）",
            )
        )
    return problems


def commodity(snapshot: Mapping[str, Any], *, catalogue: Catalogue) -> list[FormProblem]:
    """The commodity code against the catalogue of the application's year. A code not given is
    not this rule's business (the form's required fields are)."""
    code = snapshot.get("commodity_code")
    if code is None or (isinstance(code, str) and not code.strip()):
        return []
    text = str(code)
    if not HS_CODE.match(text):
        return [
            FormProblem(COMMODITY_CODE_INVALID, "commodity_code", f"商品代码 {text} 不是10位海关商品编码")
        ]
    year = snapshot.get("year")
    year = year if isinstance(year, int) and not isinstance(year, bool) else None
    entry = catalogue.commodity(text, year)
    if entry is None:
        return [
            FormProblem(
                COMMODITY_NOT_ON_CATALOGUE,
                "commodity_code",
                f"商品代码 {text} 不在{year if year is not None else ''}年度自动进口许可管理货物目录内",
            )
        ]
    if snapshot.get("electronic_license") is True and not entry.electronic:
        return [
            FormProblem(
                ELECTRONIC_LICENSE_NOT_ALLOWED,
                "electronic_license",
                f"商品 {text} 不能申领电子许可证，请申领纸质许可证",
            )
        ]
    return []


def key_agri_filing(filing: Mapping[str, Any]) -> list[FormProblem]:
    """重农信息备案: every field required, all missing ones named at once."""
    return [
        FormProblem(FILING_FIELD_REQUIRED, name, f"{label}为必填项")
        for name, label in KEY_AGRI_FILING_FIELDS.items()
        if filing.get(name) in (None, "")
    ]


def _day(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(value) if isinstance(value, str) and value else None
    except ValueError:
        return None


def dates(snapshot: Mapping[str, Any], *, on: date) -> list[FormProblem]:
    """The form's dates as of ``on`` (the China date of the check): the expected arrival date
    not in the past, the contracts not expired. A date not given or not readable is not this
    rule's business."""
    problems = []
    arrival = _day(snapshot.get("expected_arrival_date"))
    if arrival is not None and arrival < on:
        problems.append(
            FormProblem(
                ARRIVAL_DATE_PAST,
                "expected_arrival_date",
                f"预计到港时间 {arrival.isoformat()} 早于今天（{on.isoformat()}），请填写今天或以后的日期",
            )
        )
    contract = snapshot.get("contract")
    parts = contract if isinstance(contract, Mapping) else {}
    for part, label in (("foreign_contract", "对外成交合同"), ("agency_contract", "国内贸易(代理)合同")):
        body = parts.get(part)
        expiry = _day(body.get("expiry_date")) if isinstance(body, Mapping) else None
        if expiry is not None and expiry < on:
            problems.append(
                FormProblem(
                    CONTRACT_EXPIRED,
                    f"contract.{part}.expiry_date",
                    f"{label}已于 {expiry.isoformat()} 到期（今天 {on.isoformat()}），请提供有效期内的合同",
                )
            )
    return problems
