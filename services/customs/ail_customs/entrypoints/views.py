"""Response models of the customs service's HTTP API (its part of the OpenAPI document).
Quantities are decimal strings (``plain``), dates ISO 8601 strings. Lists of stored rows (ledger
entries, declarations, history items) keep every column they have (``extra="allow"``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

Quantity = str  # a decimal as a string: never a float


class LedgerView(BaseModel):
    licensed_quantity: Quantity = Field(examples=["150000"])
    unit: str = Field(examples=["070"])
    used_quantity: Quantity
    remaining_quantity: Quantity
    uses: int
    max_uses: int = Field(description="1 for one batch one license, else 6")
    remaining_uses: int
    tolerance_pct: Quantity
    tolerance_source: str = Field(examples=["catalogue"])
    ceiling: Quantity = Field(description="licensed quantity plus the overflow tolerance")
    available_quantity: Quantity
    valid_until: str = Field(examples=["2026-12-31"])


class Row(BaseModel):
    """A stored row as the service lists it."""

    model_config = ConfigDict(extra="allow")


class CustomsStatusRow(BaseModel):
    serial_no: str | None = None
    license_no: str | None = None
    form_no: str | None = None
    application_id: str | None = None
    commodity_code: str | None = None
    commodity_name: str | None = None
    application_status: str | None = None
    applied_at: str | None = None
    year: int | None = None
    customs_status: str | None = Field(None, examples=["stored"])
    customs_status_label: str | None = None
    customs_detail: str | None = None
    delivery_rounds: int = 0
    next_auto_resend_at: str | None = None


class CustomsStatusPage(BaseModel):
    total: int
    page: int
    page_size: int
    items: list[CustomsStatusRow]


class ResendView(BaseModel):
    license_no: str
    customs_status: str | None = None
    resend: str = Field(examples=["scheduled"], description="scheduled, or already_scheduled")


class LicenseView(BaseModel):
    license_no: str
    application_id: str | None = None
    enterprise_code: str
    form_no: str | None = None
    commodity_code: str | None = None
    commodity_name: str | None = None
    one_batch_one_license: bool
    issued_at: str | None = None
    customs_status: str | None = None
    customs_status_label: str | None = None
    customs_detail: str | None = None
    ledger: LedgerView
    entries: list[Row] = Field(description="every ledger entry: uses, reversals, refused uses")


class AvailabilityView(LedgerView):
    license_no: str
    quantity: Quantity
    on: str = Field(examples=["2026-12-01"])
    can_cover: bool
    reason: str | None = Field(None, description="why not (a refusal code)")
    detail: str | None = None
    would_be_last_use: bool | None = None


class ClearancesView(BaseModel):
    license_no: str
    unit: str
    ledger: LedgerView
    declarations: list[Row]


class LicenseHistory(BaseModel):
    license_no: str
    application_id: str | None = None
    items: list[Row]
