"""Row checks before anything is sent: every problem of every row at once, by sheet, row, column.

Pure functions over the code tables fetched from the API (``Reference``); no I/O here, so the
rules are unit-tested without a server. They mirror the API's submission-time validation (the
rules of DOMAIN section 5) as far as a row can be judged on its own: the API stays the judge at
submission; these checks make a bad spreadsheet fail before its first row is sent, not after
half of it went in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from ail_cli.layout import (
    APPLICATIONS,
    COLUMNS,
    CONTRACTS,
    GOODS,
    IRON_ORE,
    IRON_ORE_LINES,
    REFERENCE,
    Column,
)

ENTERPRISE_CODE = re.compile(r"^[0-9]{13}$")
USCC = re.compile(r"^[0-9A-Z]{18}$")
HS_CODE = re.compile(r"^[0-9]{10}$")
IRON_ORE_HEADING = "2601"
TRUE = {"yes", "y", "true", "1", "是", "x"}
FALSE = {"no", "n", "false", "0", "否"}
CENT = Decimal("0.01")
REQUIRED = "required"


@dataclass(frozen=True, order=True)
class Problem:
    sheet: str
    row: int  # the spreadsheet's row number (the header is row 1)
    column: str
    reason: str

    def __str__(self) -> str:
        return f"{self.sheet} row {self.row}, {self.column}: {self.reason}"


@dataclass
class Reference:
    """Code tables as the API serves them (GET /api/v1/reference/{table})."""

    tables: dict[str, dict[str, str]]  # table -> code -> Chinese name
    commodities: dict[tuple[str, int], dict[str, Any]]  # (code, year) -> catalogue entry
    _unpadded: dict[str, dict[str, str]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_api(
        cls, tables: Mapping[str, Iterable[Mapping[str, Any]]], commodities: Iterable[Mapping[str, Any]]
    ) -> Reference:
        return cls(
            tables={
                t: {str(r["code"]): str(r.get("name_zh") or "") for r in rows} for t, rows in tables.items()
            },
            commodities={(str(c["code"]), int(c["year"])): dict(c) for c in commodities},
        )

    def has(self, table: str, code: str) -> bool:
        return code in self.tables.get(table, {})

    def normalise(self, table: str, raw: str) -> str | None:
        """The table's code for a cell: the code itself, ``"CODE name"`` as the template's
        drop-down lists offer it, or a number that lost its leading zeros in a spreadsheet
        (70 for unit 070). None when nothing in the table fits."""
        if table == "commodities":
            return raw if any(k[0] == raw for k in self.commodities) else None
        codes = self.tables.get(table, {})
        if raw in codes:
            return raw
        first = raw.split(maxsplit=1)[0] if raw.split() else raw
        if first in codes:
            return first
        if first.isdigit():
            if table not in self._unpadded:
                self._unpadded[table] = {c.lstrip("0"): c for c in codes if c.isdigit()}
            return self._unpadded[table].get(first.lstrip("0"))
        return None

    def commodity(self, code: str, year: int) -> dict[str, Any] | None:
        return self.commodities.get((code, year))


def _blank(raw: Any) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def _text(raw: Any) -> str:
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, datetime):
        return raw.date().isoformat()
    if isinstance(raw, date):
        return raw.isoformat()
    return str(raw).strip()


def parse_cell(col: Column, raw: Any, ref: Reference) -> tuple[Any, str | None]:
    """(value, problem): the cell as the API wants it (str, ISO date, decimal string, int, bool,
    list of file names), or why it cannot be."""
    if _blank(raw):
        return None, None
    if col.kind == "date":
        if isinstance(raw, datetime):
            return raw.date().isoformat(), None
        if isinstance(raw, date):
            return raw.isoformat(), None
        try:
            return date.fromisoformat(_text(raw)).isoformat(), None
        except ValueError:
            return None, f"'{_text(raw)}' is not a date (YYYY-MM-DD)"
    if col.kind == "decimal":
        try:
            d = Decimal(repr(raw)) if isinstance(raw, float) else Decimal(_text(raw).replace(",", ""))
        except (InvalidOperation, ValueError):
            return None, f"'{_text(raw)}' is not a number"
        if not d.is_finite():
            return None, f"'{_text(raw)}' is not a number"
        return (str(int(d)) if d == d.to_integral_value() else format(d.normalize(), "f")), None
    if col.kind == "int":
        text = _text(raw)
        if not text.isdigit() or not 2000 <= int(text) <= 2100:
            return None, f"'{text}' is not a year (2000..2100)"
        return int(text), None
    if col.kind == "bool":
        if isinstance(raw, bool):
            return raw, None
        text = _text(raw).lower()
        if text in TRUE:
            return True, None
        if text in FALSE:
            return False, None
        return None, f"'{_text(raw)}' is not yes or no"
    if col.kind == "files":
        return [n.strip() for n in _text(raw).split(";") if n.strip()], None
    text = _text(raw)
    if col.kind == "code" and col.table:
        code = ref.normalise(col.table, text)
        if code is None:
            if col.table == "commodities":
                return (
                    None,
                    f"'{text}' is not on the automatic-import catalogue (GET /api/v1/reference/commodities)",
                )
            return None, f"'{text}' is not in code table '{col.table}' (GET /api/v1/reference/{col.table})"
        return code, None
    return text, None


def check_row(
    sheet: str, row_no: int, cells: Mapping[str, Any], ref: Reference, *, complete: bool
) -> tuple[dict[str, Any], list[Problem]]:
    """One row of one sheet on its own: each cell's format and code table, required cells
    (``complete``: the row must be ready to submit), and the rules within the row."""
    values: dict[str, Any] = {}
    problems: list[Problem] = []

    def add(column: str, reason: str) -> None:
        problems.append(Problem(sheet, row_no, column, reason))

    for col in COLUMNS[sheet]:
        value, problem = parse_cell(col, cells.get(col.key), ref)
        if problem:
            add(col.key, problem)
        elif value is None or value == []:
            if col.key == REFERENCE:
                add(REFERENCE, "required: each row needs the reference of its application")
            elif complete and col.required:
                add(col.key, REQUIRED)
        else:
            values[col.key] = value
    _row_rules(sheet, values, ref, add)
    return values, problems


def _positive(values: Mapping[str, Any], names: Iterable[str], add: Any) -> None:
    for name in names:
        if name in values and Decimal(values[name]) <= 0:
            add(name, f"'{values[name]}' must be a number greater than 0")


def _before(values: Mapping[str, Any], first: str, second: str, add: Any, what: str) -> None:
    if first in values and second in values and values[second] < values[first]:
        add(second, what)


def _row_rules(sheet: str, v: dict[str, Any], ref: Reference, add: Any) -> None:
    if sheet == APPLICATIONS:
        code = v.get("enterprise_code")
        if code is not None and not ENTERPRISE_CODE.match(code):
            add("enterprise_code", "must be 13 digits (the importer code of the enterprise)")
        user = v.get("import_user_code")
        if user is not None and not (ENTERPRISE_CODE.match(user) or USCC.match(user)):
            add("import_user_code", "must be a 13-digit importer code or an 18-character credit code")
        if v.get("customs_port_1") and v.get("customs_port_1") == v.get("customs_port_2"):
            add("customs_port_2", "the same port is given twice")
        commodity = v.get("commodity_code")
        if commodity is not None:
            year = v.get("year") or date.today().year
            entry = ref.commodity(commodity, year)
            if not HS_CODE.match(commodity):
                add("commodity_code", f"'{commodity}' is not a 10-digit HS code")
            elif entry is None:
                add("commodity_code", f"'{commodity}' is not on the automatic-import catalogue for {year}")
            elif v.get("electronic_license") and not entry.get("electronic"):
                add(
                    "electronic_license",
                    f"commodity {commodity} cannot be applied for as an electronic license",
                )
    elif sheet == GOODS:
        _positive(v, ("quantity", "unit_price"), add)
    elif sheet == CONTRACTS:
        code = v.get("applicant.enterprise_code")
        if code is not None and not ENTERPRISE_CODE.match(code):
            add("applicant.enterprise_code", "must be 13 digits")
        uscc = v.get("applicant.uscc")
        if uscc is not None and not USCC.match(uscc):
            add("applicant.uscc", "must be 18 characters: digits and capital letters")
        est = v.get("applicant.establishment_date")
        if est is not None and est > date.today().isoformat():
            add("applicant.establishment_date", "must not be in the future")
        fc = "foreign_contract."
        _before(v, fc + "signing_date", fc + "expiry_date", add, "must not be before the signing date")
        _before(v, fc + "signing_date", fc + "departure_date", add, "must not be before the signing date")
        _before(
            v,
            fc + "departure_date",
            fc + "expected_arrival_date",
            add,
            "must not be before the departure date",
        )
        ac = "agency_contract."
        _before(v, ac + "signing_date", ac + "expiry_date", add, "must not be before the signing date")
        _positive(v, (fc + "total_quantity", fc + "total_amount"), add)
    elif sheet == IRON_ORE:
        _before(v, "period_from", "period_to", add, "must not be before period_from")
        _before(v, "signing_date", "period_to", add, "must not be before the signing date")
        if v.get("discharge_port_1") and v.get("discharge_port_1") == v.get("discharge_port_2"):
            add("discharge_port_2", "the same port is given twice")
    elif sheet == IRON_ORE_LINES:
        _positive(v, ("grade_fe_pct", "quantity_kt", "unit_price_usd_per_kt"), add)


@dataclass
class Assembled:
    """One application with its rows from the other sheets (values as ``check_row`` made them)."""

    row: int
    app: dict[str, Any]
    goods: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    contract: tuple[int, dict[str, Any]] | None = None
    iron_ore: tuple[int, dict[str, Any]] | None = None
    iron_ore_lines: list[tuple[int, dict[str, Any]]] = field(default_factory=list)


def is_iron_ore(commodity_code: str | None) -> bool:
    return bool(commodity_code) and str(commodity_code).startswith(IRON_ORE_HEADING)


def goods_totals(goods: Iterable[Mapping[str, Any]]) -> tuple[Decimal, Decimal]:
    """(total quantity, total value) as the API computes them: each line's value rounded."""
    quantity, value = Decimal(0), Decimal(0)
    for line in goods:
        q, p = line.get("quantity"), line.get("unit_price")
        if q is not None:
            quantity += Decimal(q)
        if q is not None and p is not None:
            value += (Decimal(q) * Decimal(p)).quantize(CENT, rounding=ROUND_HALF_UP)
    return quantity, value


def check_application(a: Assembled, *, complete: bool, default_currency: str = "USD") -> list[Problem]:
    """The rules across sheets: goods lines, contract and iron-ore contract of one application."""
    problems: list[Problem] = []
    commodity = a.app.get("commodity_code")
    if complete:
        if not a.goods:
            problems.append(Problem(APPLICATIONS, a.row, REFERENCE, f"no goods lines on sheet '{GOODS}'"))
        if a.contract is None:
            problems.append(
                Problem(
                    APPLICATIONS, a.row, REFERENCE, f"no contract on sheet '{CONTRACTS}' (required to submit)"
                )
            )
        if is_iron_ore(commodity) and a.iron_ore is None:
            problems.append(
                Problem(
                    APPLICATIONS,
                    a.row,
                    "commodity_code",
                    f"iron ore (HS heading 2601) needs its iron-ore contract on sheet '{IRON_ORE}'",
                )
            )
        if a.iron_ore is not None and not a.iron_ore_lines:
            problems.append(
                Problem(IRON_ORE, a.iron_ore[0], REFERENCE, f"no lines on sheet '{IRON_ORE_LINES}'")
            )
    if a.iron_ore is not None and commodity and not is_iron_ore(commodity):
        problems.append(
            Problem(
                IRON_ORE,
                a.iron_ore[0],
                REFERENCE,
                f"commodity {commodity} is not iron ore (HS 2601): remove this row",
            )
        )
    if a.contract is not None:
        row, c = a.contract
        quantity, value = goods_totals(g for _, g in a.goods)
        fc = "foreign_contract."
        if fc + "total_quantity" in c and quantity > Decimal(c[fc + "total_quantity"]):
            problems.append(
                Problem(
                    CONTRACTS,
                    row,
                    fc + "total_quantity",
                    f"the goods total {quantity} exceeds the contract's total quantity"
                    f" {c[fc + 'total_quantity']}",
                )
            )
        currency = a.app.get("currency") or default_currency
        # Other currencies are compared in USD at the day's rate, which only the API knows.
        if (
            fc + "total_amount" in c
            and c.get(fc + "settlement_currency") == currency
            and value > Decimal(c[fc + "total_amount"])
        ):
            problems.append(
                Problem(
                    CONTRACTS,
                    row,
                    fc + "total_amount",
                    f"the goods total value {value} {currency} exceeds the contract's total amount"
                    f" {c[fc + 'total_amount']}",
                )
            )
        arrival, signed = a.app.get("expected_arrival_date"), c.get(fc + "signing_date")
        if arrival and signed and arrival < signed:
            problems.append(
                Problem(
                    APPLICATIONS,
                    a.row,
                    "expected_arrival_date",
                    "must not be before the contract's signing date",
                )
            )
    return problems


# -- request bodies ------------------------------------------------------------------------
_NOT_FORM = {REFERENCE, "enterprise_code", "attachments", "customs_port_1", "customs_port_2"}


def draft_body(app: Mapping[str, Any], goods: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """POST /api/v1/applications: the form fields given, the ports as a list, the goods lines."""
    body = {k: v for k, v in app.items() if k not in _NOT_FORM}
    ports = [app[k] for k in ("customs_port_1", "customs_port_2") if app.get(k)]
    if ports:
        body["customs_ports"] = ports
    lines = [{k: v for k, v in g.items() if k != REFERENCE} for g in goods]
    if lines:
        body["goods"] = lines
    return body


def contract_body(contract: Mapping[str, Any]) -> dict[str, Any]:
    """PUT /api/v1/applications/{id}/contract: the dotted columns as the nested document."""
    out: dict[str, dict[str, Any]] = {"applicant": {}, "foreign_contract": {}, "other": {}}
    for key, value in contract.items():
        if "." in key:
            part, name = key.split(".", 1)
            out.setdefault(part, {})[name] = value
    return dict(out)


def iron_ore_body(contract: Mapping[str, Any], lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """PUT /api/v1/applications/{id}/iron-ore-contract."""
    body = {k: v for k, v in contract.items() if k not in (REFERENCE, "discharge_port_1", "discharge_port_2")}
    ports = [contract[k] for k in ("discharge_port_1", "discharge_port_2") if contract.get(k)]
    if ports:
        body["discharge_ports"] = ports
    body["lines"] = [{k: v for k, v in line.items() if k != REFERENCE} for line in lines]
    return body
