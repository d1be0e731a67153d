"""The application form as clients write it (DOMAIN section 5), and its computed fields.

Input models accept incomplete forms: every field is optional, because a temporary save must
always succeed. Completeness and code-table checks happen at submission (``validation.py``)."""

from __future__ import annotations

from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidatorFunctionWrapHandler, model_validator

from ail_application.domain.reference import ReferenceData
from ail_application.domain.unparsed import read_keeping_unparseable
from ail_shared.calendar import valid_until
from ail_shared.errors import FieldProblem
from ail_shared.inputs import (
    GOODS_LINES_MAX,
    PORTS_SAVED_MAX,
    REMARKS_MAX,
    CodeText,
    Day,
    NameText,
    PersonText,
    Quantity,
    RemarksText,
    UnitPrice,
    Year,
)

CENT = Decimal("0.01")
# Fields the system fills; a client that writes one is refused by name.
READ_ONLY = frozenset(
    {
        "id",
        "serial_no",
        "enterprise_code",
        "importer_code",
        "importer_name",
        "status",
        "status_reason",
        "form_no",
        "license_no",
        "valid_until",
        "commodity_name",
        "unit",
        "total_quantity",
        "total_value",
        "total_value_usd",
        "applied_at",
        "created_at",
        "updated_at",
        "version",
        "problems",
        "submission_id",
        "has_contract",
        "has_iron_ore_contract",
        "copied_from",
    }
)
READ_ONLY_LINE = frozenset({"total_value", "total_value_usd"})
# Chosen at creation (from the pre-check), read-only afterwards.
CREATION_ONLY = frozenset({"year", "one_batch_one_license", "issuing_agency", "electronic_license"})
DEFAULTS = {"trade_mode": "10", "forex_source": "10", "commodity_usage": "11", "currency": "USD"}


class GoodsLineInput(BaseModel):
    # Extra fields are let in only to be refused by name (READ_ONLY, unknown) with the others at
    # once; the document says what is accepted.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    spec: NameText | None = Field(None, description="商品规格/规格型号", examples=["Fe 62%"])
    unit: CodeText | None = Field(None, description="单位, code table `units`", examples=["070"])
    quantity: Quantity | None = Field(None, description="数量 (> 0 at submission)", examples=["150000"])
    unit_price: UnitPrice | None = Field(
        None, description="单价 in `currency` (> 0 at submission)", examples=["105.5"]
    )


class FormFields(BaseModel):
    """Editable boxes of the form. All optional: a temporary save keeps whatever is given, within
    the limits of ``ail_shared.inputs`` (docs/limits.md)."""

    # Extra fields are let in only to be refused by name (READ_ONLY, unknown) with the others at
    # once; the document says what is accepted.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    # Values that could not be read, kept as typed (domain/unparsed.py): {path: {value, reason}}.
    _unparsed: dict[str, dict[str, Any]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_unparseable(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Creation-only fields cannot be given again by a PATCH: a bad one is refused, not kept.
        model, kept = read_keeping_unparseable(data, handler, never_kept=CREATION_ONLY)
        if kept:
            model._unparsed = kept
        return model

    @property
    def unparsed(self) -> dict[str, dict[str, Any]]:
        return dict(self._unparsed)

    handler_name: PersonText | None = Field(None, description="3 申请单位经办人")
    import_user_code: CodeText | None = Field(None, description="5 进口用户 code")
    import_user_name: NameText | None = Field(None, description="5 进口用户 name")
    trade_mode: CodeText | None = Field(None, description="7 贸易方式, table `trade_modes`, default 10")
    trade_country: CodeText | None = Field(None, description="8 贸易国(地区), table `countries`")
    forex_source: CodeText | None = Field(None, description="9 外汇来源, table `forex_sources`")
    origin_country: CodeText | None = Field(None, description="10 原产地国(地区), table `countries`")
    customs_ports: list[CodeText] | None = Field(
        None,
        max_length=PORTS_SAVED_MAX,
        description="11 报关口岸, table `customs_ports`, 1..2 at submission",
    )
    commodity_usage: CodeText | None = Field(None, description="12 商品用途, table `commodity_usages`")
    expected_arrival_date: Day | None = Field(None, description="13 预计到港时间")
    commodity_code: CodeText | None = Field(
        None, description="14 商品代码, 10-digit HS code on the catalogue"
    )
    currency: CodeText | None = Field(None, description="单价币别, table `currencies`, default USD")
    goods: list[GoodsLineInput] | None = Field(
        None, max_length=GOODS_LINES_MAX, description=f"16-21 goods lines, at most {GOODS_LINES_MAX}"
    )
    remarks: RemarksText | None = Field(None, description=f"23 备注, at most {REMARKS_MAX} characters")


class DraftCreate(FormFields):
    year: Year | None = Field(None, description="年度; default: this year; last, this or next year")
    one_batch_one_license: bool | None = Field(None, description="是否一批一证; default false")
    issuing_agency: CodeText | None = Field(None, description="发证机构; default from the catalogue")
    electronic_license: bool | None = Field(
        None, description="electronic license (电子许可证); default from the pre-check/catalogue"
    )


def money(v: Decimal) -> Decimal:
    return v.quantize(CENT, rounding=ROUND_HALF_UP)


def _dec(v: Any) -> Decimal | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        d = Decimal(str(v))
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def compute(form: dict[str, Any], *, year: int, ref: ReferenceData, on: date) -> dict[str, Any]:
    """Computed fields of a form: line values, totals, USD at the rate in force ``on``,
    commodity name and unit from the catalogue, and valid_until if issued ``on``."""
    rate = ref.usd_per_unit(form.get("currency"), on)
    lines: list[dict[str, Any]] = []
    total_q = Decimal(0)
    total_v = Decimal(0)
    total_usd: Decimal | None = Decimal(0)
    for raw in form.get("goods") or []:
        line = dict(raw)
        q, p = _dec(line.get("quantity")), _dec(line.get("unit_price"))
        value = money(q * p) if q is not None and p is not None else None
        usd = money(value * rate) if value is not None and rate is not None else None
        line["total_value"] = value
        line["total_value_usd"] = usd
        if q is not None:
            total_q += q
        if value is not None:
            total_v += value
        if value is not None and usd is None:
            total_usd = None
        elif usd is not None and total_usd is not None:
            total_usd += usd
        lines.append(line)
    entry = ref.commodity(form.get("commodity_code"), year)
    first_unit = next((g.get("unit") for g in lines if g.get("unit")), None)
    return {
        "goods": lines,
        "commodity_name": entry.name_zh if entry else None,
        "unit": first_unit or (entry.unit if entry else None),
        "total_quantity": total_q,
        "total_value": money(total_v),
        "total_value_usd": money(total_usd) if total_usd is not None else None,
        "exchange_rate_date": on,
        "valid_until": valid_until(on, year),
        # The catalogue's overflow tolerance of the commodity (DOMAIN 9): carried in the snapshot
        # to the submission service, which puts it in LicenseIssued for the customs ledger.
        "overflow_tolerance_pct": entry.tolerance_pct if entry else None,
        # The catalogue's category and grouping, carried the same way to the statistics service
        # (filters 商品大类 and 商品统计方式).
        "commodity_category": entry.category if entry else None,
        "commodity_grouping": entry.grouping if entry else None,
    }


def writable_problems(body: FormFields, *, creating: bool) -> list[FieldProblem]:
    """Every read-only or unknown field the client wrote, by name."""
    problems = []
    extra = body.model_extra or {}
    for name in extra:
        # A creation-only name is an extra of an edit's body (FormFields has no such field):
        # say "after creation" once, not also "filled by the system" (issue 13, item 4).
        if name in CREATION_ONLY:
            problems.append(FieldProblem(name, "read-only after creation"))
        elif name in READ_ONLY:
            problems.append(FieldProblem(name, "read-only: filled by the system"))
        else:
            problems.append(FieldProblem(name, "unknown field"))
    if not creating:
        for name in sorted(CREATION_ONLY & (body.model_fields_set - set(extra))):
            problems.append(FieldProblem(name, "read-only after creation"))
    for i, line in enumerate(body.goods or []):
        for name in line.model_extra or {}:
            reason = "read-only: computed" if name in READ_ONLY_LINE else "unknown field"
            problems.append(FieldProblem(f"goods.{i}.{name}", reason))
    return problems


def form_input(body: FormFields) -> dict[str, Any]:
    """The form fields a client may write, as stored (creation-only fields apart)."""
    data = body.model_dump(mode="json", exclude_unset=True, exclude=set(CREATION_ONLY))
    for k in list(data):
        if k not in FormFields.model_fields:
            data.pop(k)
    if data.get("goods") is not None:
        data["goods"] = [
            {k: v for k, v in g.items() if k in ("spec", "unit", "quantity", "unit_price")}
            for g in data["goods"]
        ]
    return data
