"""Submission-time validation: every missing or invalid field at once, with its path, reason
and a stable machine code.

``validate_for_submission(application)`` is pure (the code tables are in-memory data), so the
submission flow may call it anywhere, and property-based tests can drive it freely. The rules
MOFCOM applies itself (the commodity against the catalogue, the contract's totals against the
goods) are not written here: they are ``ail_shared.formrules``, the same functions the MOFCOM
sandbox calls, run on the snapshot the application signs; their reasons are Chinese."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ail_application.domain.form import _dec
from ail_application.domain.reference import ReferenceData, is_iron_ore
from ail_application.domain.unparsed import UNPARSEABLE
from ail_shared import formrules
from ail_shared.errors import FieldProblem, distinct

if TYPE_CHECKING:
    from ail_application.domain.model import Application

REQUIRED = "required"
ENTERPRISE_CODE = re.compile(r"^[0-9]{13}$")
USCC = re.compile(r"^[0-9A-Z]{18}$")
# Contract contact formats (issue 13, item 3). E-mail: one @, no spaces, a dot in the domain.
# Phone, mobile, fax: digits with the separators people write (+86 10-1234 5678, (010)12345678,
# extension 8001 after #, 转 or ext), 5 to 20 digits in all. Postcode: China's 6 digits.
EMAIL = re.compile(r"^[^@\s]+@[^@\s.]+(\.[^@\s.]+)+$")
PHONE = re.compile(r"^\+?[0-9()\- ]+((#|转|ext\.?)[0-9]{1,6})?$")
PHONE_DIGITS = (5, 20)
POSTCODE = re.compile(r"^[0-9]{6}$")
# Machine codes of the checks made here (formrules has its own); docs/application.md lists them.
NOT_IN_CODE_TABLE = "not_in_code_table"
INVALID_FORMAT = "invalid_format"
INVALID_DATE = "invalid_date"
DATE_ORDER = "date_order"
NOT_POSITIVE = "not_positive"
COUNT_OUT_OF_RANGE = "count_out_of_range"
DUPLICATE = "duplicate"
NO_EXCHANGE_RATE = "no_exchange_rate"
CONTRACT_REQUIRED = "contract_required"
IRON_ORE_CONTRACT_REQUIRED = "iron_ore_contract_required"
IRON_ORE_CONTRACT_NOT_APPLICABLE = "iron_ore_contract_not_applicable"

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

    def add(self, path: str, reason: str, code: str) -> None:
        self.problems.append(FieldProblem(path, reason, code))

    def mofcom(self, problems: list[formrules.FormProblem]) -> None:
        self.problems += [FieldProblem(p.field, p.message, p.code) for p in problems]

    def required(self, data: dict[str, Any], names: tuple[str, ...], prefix: str = "") -> None:
        for name in names:
            if _blank(data.get(name)):
                self.add(f"{prefix}{name}", REQUIRED, REQUIRED)

    def code(self, path: str, value: Any, table: str) -> None:
        if not _blank(value) and not self.ref.has(table, value):
            self.add(
                path,
                f"'{value}' is not in code table '{table}' (GET /api/v1/reference/{table})",
                NOT_IN_CODE_TABLE,
            )

    def phone(self, data: dict[str, Any], name: str, prefix: str) -> None:
        v = data.get(name)
        if _blank(v):
            return
        text = str(v).strip()
        digits = sum(ch.isdigit() for ch in re.split(r"#|转|ext", text)[0])
        low, high = PHONE_DIGITS
        if not PHONE.match(text) or not low <= digits <= high:
            self.add(
                prefix + name,
                f"'{v}' is not a phone number: {low} to {high} digits, with +, -, spaces or"
                " brackets if wanted (e.g. 010-12345678, +86 138 0013 8000)",
                INVALID_FORMAT,
            )

    def date_field(self, data: dict[str, Any], name: str, prefix: str = "") -> date | None:
        v = data.get(name)
        d = _date(v)
        if not _blank(v) and d is None:
            self.add(f"{prefix}{name}", f"'{v}' is not a date (YYYY-MM-DD)", INVALID_DATE)
        return d

    def order(self, first: date | None, second: date | None, path: str, what: str) -> None:
        if first and second and second < first:
            self.add(path, what, DATE_ORDER)

    def positive(self, path: str, v: Any) -> Decimal | None:
        d = _dec(v)
        if _blank(v):
            self.add(path, REQUIRED, REQUIRED)
        elif d is None or d <= 0:
            self.add(path, f"'{v}' must be a number greater than 0", NOT_POSITIVE)
            return None
        return d


def validate_for_submission(application: Application, ref: ReferenceData, *, on: date) -> list[FieldProblem]:
    """Every problem at once. ``on`` is the day of the check in China (exchange rates, "not in the
    future"); the caller passes it, the domain reads no clock."""
    c = _Check(ref)
    form = application.form
    snapshot = application.snapshot()
    c.required(form, FORM_REQUIRED)
    for name, table in FORM_CODES.items():
        c.code(name, form.get(name), table)
    if not _blank(form.get("import_user_code")):
        code = str(form["import_user_code"])
        if not (ENTERPRISE_CODE.match(code) or USCC.match(code)):
            c.add(
                "import_user_code",
                "must be a 13-digit importer code or an 18-character credit code",
                INVALID_FORMAT,
            )
    ports = form.get("customs_ports") or []
    if not 1 <= len(ports) <= 2:
        c.add("customs_ports", "1 or 2 customs ports are required", COUNT_OUT_OF_RANGE)
    for i, p in enumerate(ports):
        c.code(f"customs_ports.{i}", p, "customs_ports")
    if len(set(ports)) != len(ports):
        c.add("customs_ports", "the same port is given twice", DUPLICATE)
    if _blank(application.issuing_agency):
        c.add("issuing_agency", REQUIRED, REQUIRED)
    else:
        c.code("issuing_agency", application.issuing_agency, "issuing_agencies")
    commodity = form.get("commodity_code")
    c.mofcom(formrules.commodity(snapshot, catalogue=ref))
    arrival = c.date_field(form, "expected_arrival_date")
    goods = form.get("goods") or []
    if not goods:
        c.add("goods", "at least one goods line is required", REQUIRED)
    for i, line in enumerate(goods):
        p = f"goods.{i}."
        if _blank(line.get("spec")):
            c.add(p + "spec", REQUIRED, REQUIRED)
        if _blank(line.get("unit")):
            c.add(p + "unit", REQUIRED, REQUIRED)
        else:
            c.code(p + "unit", line.get("unit"), "units")
        c.positive(p + "quantity", line.get("quantity"))
        c.positive(p + "unit_price", line.get("unit_price"))
    if not _blank(form.get("currency")) and ref.has("currencies", form.get("currency")):
        if application.computed.get("total_value_usd") is None and goods:
            c.add(
                "currency", f"no exchange rate for {form['currency']}; contact operations", NO_EXCHANGE_RATE
            )
    _contract(c, application, arrival, on)
    if application.contract is not None:
        c.mofcom(formrules.contract_totals(snapshot, usd_per_unit=ref.usd_per_unit, on=on))
    c.mofcom(formrules.dates(snapshot, on=on))
    _iron_ore(c, application, commodity)
    _replacement(c, application)
    return _as_typed(c.problems, application.raw_inputs)


def _as_typed(problems: list[FieldProblem], raw_inputs: dict[str, Any]) -> list[FieldProblem]:
    """A value kept as typed is one problem, "could not be read", not also "required" (its
    field is empty meanwhile); and one problem per field and reason (issue 13, item 4)."""
    out = [
        FieldProblem(
            path,
            f"'{kept.get('value')}' could not be read ({kept.get('reason')}); it is kept as typed:"
            " give the field again",
            UNPARSEABLE,
        )
        for path, kept in raw_inputs.items()
    ]
    out += [p for p in problems if p.field not in raw_inputs]
    return distinct(out)


def _replacement(c: _Check, application: Application) -> None:
    """A change or extension covers at most the old license's unused quantity (DOMAIN 9,
    ``ail_shared.licenses.replacement_allowance``, decided by the customs service at the request)."""
    replaces = application.replaces
    if not replaces:
        return
    most = Decimal(str(replaces.get("max_quantity")))
    total = application.computed.get("total_quantity")
    if total is not None and Decimal(str(total)) > most:
        c.add(
            "goods",
            f"this application replaces license {replaces.get('license_no')}, which has {most} unused:"
            f" the goods may total at most {most} (they total {total})",
            "exceeds_replaced_license",
        )


def _contract(c: _Check, application: Application, arrival: date | None, on: date) -> None:
    contract = application.contract
    if contract is None:
        c.add(
            "contract",
            "contract information is required before submission:"
            " PUT /api/v1/applications/{id}/contract".replace("{id}", str(application.id)),
            CONTRACT_REQUIRED,
        )
        return
    applicant = contract.get("applicant") or {}
    c.required(applicant, APPLICANT_REQUIRED, "contract.applicant.")
    code = applicant.get("enterprise_code")
    if not _blank(code) and not ENTERPRISE_CODE.match(str(code)):
        c.add("contract.applicant.enterprise_code", "must be 13 digits", INVALID_FORMAT)
    if not _blank(applicant.get("uscc")) and not USCC.match(str(applicant["uscc"])):
        c.add("contract.applicant.uscc", "must be 18 characters: digits and capital letters", INVALID_FORMAT)
    for name in ("phone", "mobile", "fax"):
        c.phone(applicant, name, "contract.applicant.")
    email = applicant.get("email")
    if not _blank(email) and not EMAIL.match(str(email)):
        c.add(
            "contract.applicant.email",
            f"'{email}' is not an e-mail address (name@example.com)",
            INVALID_FORMAT,
        )
    postcode = applicant.get("postcode")
    if not _blank(postcode) and not POSTCODE.match(str(postcode)):
        c.add("contract.applicant.postcode", f"'{postcode}' is not a postcode: 6 digits", INVALID_FORMAT)
    est = c.date_field(applicant, "establishment_date", "contract.applicant.")
    c.order(est, on, "contract.applicant.establishment_date", "must not be in the future")

    fc = contract.get("foreign_contract") or {}
    pre = "contract.foreign_contract."
    c.required(fc, FOREIGN_REQUIRED, pre)
    for name in ("total_quantity", "total_amount"):
        if not _blank(fc.get(name)):
            c.positive(pre + name, fc.get(name))
    if _blank(fc.get("foreign_party_name_zh")) and _blank(fc.get("foreign_party_name_en")):
        c.add(
            pre + "foreign_party_name_zh",
            "the foreign party's name is required (Chinese or English)",
            REQUIRED,
        )
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
    agency = contract.get("agency_contract")
    if agency:
        pre = "contract.agency_contract."
        c.required(agency, AGENCY_REQUIRED, pre)
        c.code(pre + "transport_mode", agency.get("transport_mode"), "transport_modes")
        c.phone(agency, "phone", pre)
        a_signed = c.date_field(agency, "signing_date", pre)
        c.order(
            a_signed,
            c.date_field(agency, "expiry_date", pre),
            pre + "expiry_date",
            "must not be before the signing date",
        )
    other = contract.get("other") or {}
    for name in ("end_user_phone", "end_user_fax"):
        c.phone(other, name, "contract.other.")
    c.code("contract.other.import_change_band", other.get("import_change_band"), "import_change_bands")


def _iron_ore(c: _Check, application: Application, commodity: Any) -> None:
    ioc = application.iron_ore_contract
    if not is_iron_ore(commodity):
        if ioc is not None:
            c.add(
                "iron_ore_contract",
                "an iron-ore contract is only for HS heading 2601; delete it",
                IRON_ORE_CONTRACT_NOT_APPLICABLE,
            )
        return
    if ioc is None:
        c.add(
            "iron_ore_contract",
            f"iron ore (HS heading 2601, commodity {commodity}) needs the iron-ore contract before"
            f" submission: PUT /api/v1/applications/{application.id}/iron-ore-contract",
            IRON_ORE_CONTRACT_REQUIRED,
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
        c.add(pre + "discharge_ports", "1 or 2 discharge ports are required", COUNT_OUT_OF_RANGE)
    for i, p in enumerate(ports):
        c.code(f"{pre}discharge_ports.{i}", p, "customs_ports")
    lines = ioc.get("lines") or []
    if not lines:
        c.add(pre + "lines", "at least one line is required", REQUIRED)
    for i, line in enumerate(lines):
        lp = f"{pre}lines.{i}."
        c.required(line, ("category", "name"), lp)
        c.positive(lp + "grade_fe_pct", line.get("grade_fe_pct"))
        c.positive(lp + "quantity_kt", line.get("quantity_kt"))
        c.positive(lp + "unit_price_usd_per_kt", line.get("unit_price_usd_per_kt"))
