"""Response and request models of the HTTP API (they make the OpenAPI document)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, Field

from ail_application.domain.contracts import ContractInfo
from ail_application.domain.model import Application
from ail_application.domain.validation import validate_for_submission
from ail_application.service_layer.handlers import Context
from ail_shared.inputs import BATCH_MAX
from ail_shared.openapi import Problem
from ail_shared.paging import Page


class RawInput(BaseModel):
    """A value a temporary save could not read, kept as typed (docs/application.md, 'Temporary
    save'); the field's own value is empty until it is given again."""

    value: str | int | float | bool = Field(examples=["2026/12/20"])
    reason: str = Field(examples=["Input should be a valid date or datetime, invalid date separator"])


class GoodsLineView(BaseModel):
    spec: str | None = None
    unit: str | None = None
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    total_value: Decimal | None = Field(None, description="computed: quantity × unit price")
    total_value_usd: Decimal | None = Field(None, description="computed at the dated exchange rate")


class ApplicationView(BaseModel):
    id: UUID
    serial_no: str
    enterprise_code: str
    importer_code: str
    importer_name: str
    year: int
    status: str
    status_reason: str | None = None
    form_no: str | None = None
    license_no: str | None = None
    applied_at: datetime | None = None
    one_batch_one_license: bool
    issuing_agency: str | None = None
    electronic_license: bool
    handler_name: str | None = None
    import_user_code: str | None = None
    import_user_name: str | None = None
    trade_mode: str | None = None
    trade_country: str | None = None
    forex_source: str | None = None
    origin_country: str | None = None
    customs_ports: list[str] | None = None
    commodity_usage: str | None = None
    expected_arrival_date: str | None = None
    commodity_code: str | None = None
    commodity_name: str | None = None
    currency: str | None = None
    goods: list[GoodsLineView] = Field(default_factory=list)
    remarks: str | None = None
    unit: str | None = None
    total_quantity: Decimal | None = None
    total_value: Decimal | None = None
    total_value_usd: Decimal | None = None
    exchange_rate_date: date | None = None
    valid_until: date | None = Field(None, description="computed: DOMAIN section 9")
    has_contract: bool
    has_iron_ore_contract: bool
    copied_from: UUID | None = None
    replaces_license_no: str | None = Field(
        None, description="a change or extension: the license it replaces (cancelled when this one is issued)"
    )
    replacement_max_quantity: Decimal | None = Field(
        None, description="the most it may cover: the unused quantity"
    )
    replacement_max_uses: int | None = None
    license_state: str | None = Field(
        None, description="the license after issue: valid | used_up | surrendered | cancelled | expired"
    )
    version: int
    created_at: datetime | None = None
    updated_at: datetime | None = None
    raw_inputs: dict[str, RawInput] = Field(
        default_factory=dict,
        description="values saved as typed because they could not be read, by field path"
        " (goods.0.quantity, contract.foreign_contract.signing_date); each is also a problem"
        " (code unparseable) and blocks submission until the field is given again",
    )
    problems: list[Problem] = Field(
        default_factory=list, description="what submission would refuse now (the form's red hints)"
    )


def view(app: Application, ctx: Context) -> dict[str, Any]:
    """The application as the API shows it, with what submission would refuse on ``ctx``'s today."""
    c = app.computed
    form = {k: v for k, v in app.form.items() if k in ApplicationView.model_fields}
    body = ApplicationView(
        id=app.id,
        serial_no=app.serial_no,
        enterprise_code=app.enterprise_code,
        importer_code=app.enterprise_code,
        importer_name=app.importer_name,
        year=app.year,
        status=app.status.value,
        status_reason=app.status_reason,
        form_no=app.form_no,
        license_no=app.license_no,
        applied_at=app.applied_at,
        one_batch_one_license=app.one_batch_one_license,
        issuing_agency=app.issuing_agency,
        electronic_license=app.electronic_license,
        **{**form, "goods": c.get("goods", [])},
        commodity_name=c.get("commodity_name"),
        unit=c.get("unit"),
        total_quantity=c.get("total_quantity"),
        total_value=c.get("total_value"),
        total_value_usd=c.get("total_value_usd"),
        exchange_rate_date=c.get("exchange_rate_date"),
        valid_until=c.get("valid_until"),
        has_contract=app.contract is not None,
        has_iron_ore_contract=app.iron_ore_contract is not None,
        copied_from=app.copied_from,
        replaces_license_no=(app.replaces or {}).get("license_no"),
        replacement_max_quantity=(app.replaces or {}).get("max_quantity"),
        replacement_max_uses=(app.replaces or {}).get("max_uses"),
        license_state=app.license_state
        or ("valid" if app.license_no and app.status.value == "license_issued" else None),
        raw_inputs={p: RawInput.model_validate(v) for p, v in app.raw_inputs.items()},
        version=app.version,
        created_at=app.created_at,
        updated_at=app.updated_at,
        problems=[
            Problem(field=p.field, reason=p.reason, code=p.code)
            for p in validate_for_submission(app, ctx.ref, on=ctx.today())
        ],
    )
    return body.model_dump(mode="json")


class ApplicationRow(BaseModel):
    id: UUID
    serial_no: str
    form_no: str | None = None
    status: str
    license_no: str | None = None
    commodity_code: str | None = None
    commodity_name: str | None = None
    total_quantity: Decimal | None = None
    unit: str | None = None
    total_value_usd: Decimal | None = None
    applied_at: datetime | None = None
    enterprise_code: str
    year: int
    issuing_agency: str | None = None
    trade_mode: str | None = None
    import_user_code: str | None = None
    import_user_name: str | None = None
    created_at: datetime


class ApplicationPage(Page[ApplicationRow]):
    """One page of the application query (申请单查询), with the total."""


class IdList(BaseModel):
    ids: list[UUID] = Field(
        min_length=1, max_length=BATCH_MAX, examples=[["3fa85f64-5717-4562-b3fc-2c963f66afa6"]]
    )


class BatchResult(BaseModel):
    id: UUID
    outcome: Literal["deleted", "not_found", "refused"]
    reason: str | None = None


class BatchResults(BaseModel):
    results: list[BatchResult]


class CopyRequest(BaseModel):
    count: int = Field(1, ge=1, le=50, description="number of copies, 1 to 50", examples=[3])


class CopyResult(BaseModel):
    copies: list[ApplicationView]


class ContractView(ContractInfo):
    saved: bool = Field(description="false: nothing saved yet for this application")
    prefilled: bool = Field(description="true: the applicant part comes from the enterprise's last entry")
    version: int = Field(description="the application's version, as in the ETag header (If-Match)")
    raw_inputs: dict[str, RawInput] = Field(
        default_factory=dict,
        description="values of the contract saved as typed because they could not be read"
        " (contract.<path>); each blocks submission until given again",
    )
