"""Submission-time validation: every missing or invalid field at once, with its path and reason.

``validate_for_submission(application)`` is pure (the code tables are in-memory data), so the
submission flow may call it anywhere, and property-based tests can drive it freely."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ail_application.domain.form import _dec
from ail_application.domain.reference import ReferenceData, is_iron_ore, load
from ail_shared.errors import FieldProblem

if TYPE_CHECKING:
    from ail_application.domain.model import Application

REQUIRED = "required"
ENTERPRISE_CODE = re.compile(r"^[0-9]{13}$")
USCC = re.compile(r"^[0-9A-Z]{18}$")
HS_CODE = re.compile(r"^[0-9]{10}$")

FORM_CODES = {
    "trade_mode": "trade_modes",
    "trade_country": "countries",
    "forex_source": "forex_sources",
    "origin_country": "countries",
    "commodity_usage": "commodity_usages",
    "currency": "currencies",
}
FORM_REQUIRED = (
    "handler_name",
    "import_user_code",
    "import_user_name",
    "trade_mode",
    "trade_country",
    "forex_source",
    "origin_country",
    "commodity_usage",
    "expected_arrival_date",
    "commodity_code",
    "currency",
)
APPLICANT_REQUIRED = ("enterprise_code", "name", "uscc", "address", "contact", "phone")
FOREIGN_REQUIRED = (
    "contract_no",
    "signing_date",
    "expiry_date",
    "total_quantity",
    "total_amount",
    "settlement_currency",
)
AGENCY_REQUIRED = ("principal", "agent", "contract_no", "signing_date", "expiry_date")
IRON_ORE_REQUIRED = (
    "origin_country",
    "trade_country",
    "contract_no",
    "contract_type",
    "signing_date",
    "period_from",
    "period_to",
    "enterprise_nature",
    "seller_name_zh",
)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip()) or v == []


def _date(v: Any) -> date | None:
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v)) if v else None
    except ValueError:
        return None


class _Check:
    def __init__(self, ref: ReferenceData) -> None:
        self.ref = ref
        self.problems: list[FieldProblem] = []

    def add(self, path: str, reason: str) -> None:
        self.problems.append(FieldProblem(path, reason))

    def required(self, data: dict[str, Any], names: tuple[str, ...], prefix: str = "") -> None:
        for name in names:
            if _blank(data.get(name)):
                self.add(f"{prefix}{name}", REQUIRED)

    def code(self, path: str, value: Any, table: str) -> None:
        if not _blank(value) and not self.ref.has(table, value):
            self.add(path, f"'{value}' is not in code table '{table}' (GET /api/v1/reference/{table})")

    def date_field(self, data: dict[str, Any], name: str, prefix: str = "") -> date | None:
        v = data.get(name)
        d = _date(v)
        if not _blank(v) and d is None:
            self.add(f"{prefix}{name}", f"'{v}' is not a date (YYYY-MM-DD)")
        return d

    def order(self, first: date | None, second: date | None, path: str, what: str) -> None:
        if first and second and second < first:
            self.add(path, what)

    def positive(self, path: str, v: Any) -> Decimal | None:
        d = _dec(v)
        if _blank(v):
            self.add(path, REQUIRED)
        elif d is None or d <= 0:
            self.add(path, f"'{v}' must be a number greater than 0")
            return None
        return d


def validate_for_submission(application: Application, ref: ReferenceData | None = None) -> list[FieldProblem]:
    ref = ref or load()
    c = _Check(ref)
    form, year = application.form, application.year
    c.required(form, FORM_REQUIRED)
    for name, table in FORM_CODES.items():
        c.code(name, form.get(name), table)
    if not _blank(form.get("import_user_code")):
        code = str(form["import_user_code"])
        if not (ENTERPRISE_CODE.match(code) or USCC.match(code)):
            c.add("import_user_code", "must be a 13-digit importer code or an 18-character credit code")
    ports = form.get("customs_ports") or []
    if not 1 <= len(ports) <= 2:
        c.add("customs_ports", "1 or 2 customs ports are required")
    for i, p in enumerate(ports):
        c.code(f"customs_ports.{i}", p, "customs_ports")
    if len(set(ports)) != len(ports):
        c.add("customs_ports", "the same port is given twice")
    if _blank(application.issuing_agency):
        c.add("issuing_agency", REQUIRED)
    else:
        c.code("issuing_agency", application.issuing_agency, "issuing_agencies")
    commodity = form.get("commodity_code")
    if not _blank(commodity):
        entry = ref.commodity(commodity, year)
        if not HS_CODE.match(str(commodity)):
            c.add("commodity_code", f"'{commodity}' is not a 10-digit HS code")
        elif entry is None:
            c.add("commodity_code", f"'{commodity}' is not on the automatic-import catalogue for {year}")
        elif application.electronic_license and not entry.electronic:
            c.add(
                "electronic_license", f"commodity {commodity} cannot be applied for as an electronic license"
            )
    arrival = c.date_field(form, "expected_arrival_date")
    goods = form.get("goods") or []
    if not goods:
        c.add("goods", "at least one goods line is required")
    for i, line in enumerate(goods):
        p = f"goods.{i}."
        if _blank(line.get("spec")):
            c.add(p + "spec", REQUIRED)
        if _blank(line.get("unit")):
            c.add(p + "unit", REQUIRED)
        else:
            c.code(p + "unit", line.get("unit"), "units")
        c.positive(p + "quantity", line.get("quantity"))
        c.positive(p + "unit_price", line.get("unit_price"))
    if not _blank(form.get("currency")) and ref.has("currencies", form.get("currency")):
        if application.computed.get("total_value_usd") is None and goods:
            c.add("currency", f"no exchange rate for {form['currency']}; contact operations")
    _contract(c, application, arrival)
    _iron_ore(c, application, commodity)
    return c.problems


def _contract(c: _Check, application: Application, arrival: date | None) -> None:
    contract = application.contract
    if contract is None:
        c.add(
            "contract",
            "contract information is required before submission:"
            " PUT /api/v1/applications/{id}/contract".replace("{id}", str(application.id)),
        )
        return
    applicant = contract.get("applicant") or {}
    c.required(applicant, APPLICANT_REQUIRED, "contract.applicant.")
    code = applicant.get("enterprise_code")
    if not _blank(code) and not ENTERPRISE_CODE.match(str(code)):
        c.add("contract.applicant.enterprise_code", "must be 13 digits")
    if not _blank(applicant.get("uscc")) and not USCC.match(str(applicant["uscc"])):
        c.add("contract.applicant.uscc", "must be 18 characters: digits and capital letters")
    est = c.date_field(applicant, "establishment_date", "contract.applicant.")
    c.order(est, date.today(), "contract.applicant.establishment_date", "must not be in the future")

    fc = contract.get("foreign_contract") or {}
    pre = "contract.foreign_contract."
    c.required(fc, FOREIGN_REQUIRED, pre)
    if _blank(fc.get("foreign_party_name_zh")) and _blank(fc.get("foreign_party_name_en")):
        c.add(pre + "foreign_party_name_zh", "the foreign party's name is required (Chinese or English)")
    c.code(pre + "settlement_currency", fc.get("settlement_currency"), "currencies")
    c.code(pre + "freight_pricing_method", fc.get("freight_pricing_method"), "freight_pricing_methods")
    signed = c.date_field(fc, "signing_date", pre)
    expiry = c.date_field(fc, "expiry_date", pre)
    departure = c.date_field(fc, "departure_date", pre)
    fc_arrival = c.date_field(fc, "expected_arrival_date", pre)
    c.order(signed, expiry, pre + "expiry_date", "must not be before the signing date")
    c.order(signed, departure, pre + "departure_date", "must not be before the signing date")
    c.order(departure, fc_arrival, pre + "expected_arrival_date", "must not be before the departure date")
    c.order(signed, arrival, "expected_arrival_date", "must not be before the contract's signing date")
    c.order(departure, arrival, "expected_arrival_date", "must not be before the contract's departure date")
    # Consistency with the goods: this application may draw on part of a contract, never more.
    comp = application.computed
    cq, ca = _dec(fc.get("total_quantity")), _dec(fc.get("total_amount"))
    tq, tusd = _dec(comp.get("total_quantity")), _dec(comp.get("total_value_usd"))
    if cq is not None and tq is not None and tq > cq:
        c.add(pre + "total_quantity", f"the goods total {tq} exceeds the contract's total quantity {cq}")
    rate = c.ref.usd_per_unit(fc.get("settlement_currency"), date.today())
    if ca is not None and tusd is not None and rate is not None and tusd > ca * rate + Decimal("0.01"):
        c.add(
            pre + "total_amount",
            f"the goods total USD {tusd} exceeds the contract's total amount"
            f" {ca} {fc.get('settlement_currency')} (USD {(ca * rate).quantize(Decimal('0.01'))})",
        )
    agency = contract.get("agency_contract")
    if agency:
        pre = "contract.agency_contract."
        c.required(agency, AGENCY_REQUIRED, pre)
        c.code(pre + "transport_mode", agency.get("transport_mode"), "transport_modes")
        a_signed = c.date_field(agency, "signing_date", pre)
        c.order(
            a_signed,
            c.date_field(agency, "expiry_date", pre),
            pre + "expiry_date",
            "must not be before the signing date",
        )
    other = contract.get("other") or {}
    c.code("contract.other.import_change_band", other.get("import_change_band"), "import_change_bands")


def _iron_ore(c: _Check, application: Application, commodity: Any) -> None:
    ioc = application.iron_ore_contract
    if not is_iron_ore(commodity):
        if ioc is not None:
            c.add("iron_ore_contract", "an iron-ore contract is only for HS heading 2601; delete it")
        return
    if ioc is None:
        c.add(
            "iron_ore_contract",
            f"iron ore (HS heading 2601, commodity {commodity}) needs the iron-ore contract before"
            f" submission: PUT /api/v1/applications/{application.id}/iron-ore-contract",
        )
        return
    pre = "iron_ore_contract."
    c.required(ioc, IRON_ORE_REQUIRED, pre)
    for name, table in (
        ("origin_country", "countries"),
        ("trade_country", "countries"),
        ("contract_type", "contract_types"),
        ("enterprise_nature", "enterprise_natures"),
    ):
        c.code(pre + name, ioc.get(name), table)
    signed = c.date_field(ioc, "signing_date", pre)
    p_from = c.date_field(ioc, "period_from", pre)
    p_to = c.date_field(ioc, "period_to", pre)
    c.order(p_from, p_to, pre + "period_to", "must not be before period_from")
    c.order(signed, p_to, pre + "period_to", "must not be before the signing date")
    ports = ioc.get("discharge_ports") or []
    if not 1 <= len(ports) <= 2:
        c.add(pre + "discharge_ports", "1 or 2 discharge ports are required")
    for i, p in enumerate(ports):
        c.code(f"{pre}discharge_ports.{i}", p, "customs_ports")
    lines = ioc.get("lines") or []
    if not lines:
        c.add(pre + "lines", "at least one line is required")
    for i, line in enumerate(lines):
        lp = f"{pre}lines.{i}."
        c.required(line, ("category", "name"), lp)
        c.positive(lp + "grade_fe_pct", line.get("grade_fe_pct"))
        c.positive(lp + "quantity_kt", line.get("quantity_kt"))
        c.positive(lp + "unit_price_usd_per_kt", line.get("unit_price_usd_per_kt"))
