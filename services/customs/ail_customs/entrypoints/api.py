"""HTTP API of the customs service (routed by the entry point: /api/v1/licenses,
/api/v1/customs, /api/v1/history). Quantities are decimal strings, never floats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query

from ail_customs.adapters import queries
from ail_customs.adapters.repository import SCHEMA
from ail_customs.deps import CustomsDeps
from ail_customs.domain.commands import RequestResend
from ail_customs.domain.delivery import CUSTOMS_STATUS_LABEL
from ail_customs.domain.model import License
from ail_customs.entrypoints.views import (
    AvailabilityView,
    ClearancesView,
    CustomsStatusPage,
    LicenseHistory,
    LicenseView,
    ResendView,
)
from ail_customs.service_layer.handlers import COMMAND_HANDLERS
from ail_shared.calendar import CHINA, china_date
from ail_shared.errors import FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant, Pool
from ail_shared.idempotency import idempotent_response
from ail_shared.inputs import (
    Day,
    IdentifierText,
    Page,
    PageSize,
    PositiveQuantity,
    Year,
    parse_instant,
)
from ail_shared.openapi import errors

router = APIRouter(prefix="/api/v1", tags=["customs"])
LicenseNo = Annotated[IdentifierText, Path(description="license number (许可证号)")]


def plain(value: Any) -> Any:
    """JSON-ready without losing precision: Decimal -> str, dates -> ISO 8601."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def _bound(raw: str | None, field: str, problems: list[FieldProblem], *, end: bool) -> datetime | None:
    """A date (a whole day in China time; ``to`` includes that day) or an ISO timestamp."""
    if raw is None or raw == "":
        return None
    return parse_instant(raw, field, problems, zone=CHINA, whole_day_end=end)


@router.get(
    "/customs/status", response_model=CustomsStatusPage, summary="Query customs status (海关状态查询)"
)
async def customs_status(
    pool: Pool,
    tenant: CurrentTenant,
    year: Year | None = None,
    serial_no: IdentifierText | None = None,
    license_no: IdentifierText | None = None,
    applied_from: Day | None = None,
    applied_to: Day | None = None,
    page: Page = 1,
    page_size: PageSize = 10,
) -> Any:
    """海关状态查询 (DOMAIN 8): approved and license-issued applications with their customs status
    (``null``/"-" before sending, not_arrived, stored, store_failed, send_failed)."""
    if applied_from and applied_to and applied_from > applied_to:
        raise InvalidInput(
            "the application-date range is empty",
            [FieldProblem("applied_to", f"must not be before applied_from ({applied_from.isoformat()})")],
        )
    total, rows = await queries.customs_status_page(
        pool,
        queries.StatusQuery(
            enterprise_codes=tenant.enterprise_codes,
            year=year,
            serial_no=serial_no or None,
            license_no=license_no or None,
            applied_from=applied_from,
            applied_to=applied_to,
            page=page,
            page_size=page_size,
        ),
    )
    items = [
        {
            "serial_no": r["serial_no"],
            "license_no": r["license_no"],
            "form_no": r["form_no"],
            "application_id": r["application_id"],
            "commodity_code": r["commodity_code"],
            "commodity_name": r["commodity_name"],
            "application_status": r["application_status"],
            "applied_at": r["applied_at"],
            "year": r["year"],
            "customs_status": r["customs_status"],
            "customs_status_label": CUSTOMS_STATUS_LABEL.get(r["customs_status"], r["customs_status"]),
            "customs_detail": r["last_delivery_detail"] or None,
            "delivery_rounds": r["delivery_rounds"] or 0,
            "next_auto_resend_at": r["next_delivery_at"]
            if r["customs_status"] in ("send_failed", "store_failed")
            else None,
        }
        for r in rows
    ]
    return plain({"total": total, "page": page, "page_size": page_size, "items": items})


@router.post(
    "/licenses/{license_no}/resend",
    status_code=202,
    response_model=ResendView,
    summary="Send a license to Customs again",
    responses=errors(404, 409),
)
async def resend(
    license_no: LicenseNo,
    pool: Pool,
    tenant: CurrentTenant,
    deps: CustomsDeps,
    idempotency_key: Annotated[
        str | None,
        Header(description="Retry-safe writes: the same key replays the first response"),
    ] = None,
) -> Any:
    """Send a license to Customs again after send_failed or store_failed. Idempotent."""
    cmd = RequestResend(
        license_no=license_no, enterprise_codes=tenant.enterprise_codes, principal=tenant.principal.id
    )

    async def work(conn: Any) -> tuple[int, Any]:
        # On the idempotency record's transaction: the answer is stored with the re-send.
        answer = await COMMAND_HANDLERS[RequestResend](deps.uow(conn), cmd)
        return 202, {
            "license_no": answer.license_no,
            "customs_status": answer.customs_status,
            "resend": "scheduled" if answer.scheduled else "already_scheduled",
        }

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path=f"/api/v1/licenses/{license_no}/resend",
        body={},
        work=work,
    )


def _ledger_view(lic: License, on: date) -> dict[str, Any]:
    ledger = lic.ledger
    return {
        "licensed_quantity": ledger.licensed_quantity,
        "unit": lic.unit,
        "used_quantity": ledger.used_quantity,
        "remaining_quantity": ledger.remaining_quantity,
        "uses": ledger.uses,
        "max_uses": ledger.max_uses,
        "remaining_uses": ledger.remaining_uses,
        "tolerance_pct": ledger.tolerance_pct,
        "tolerance_source": lic.tolerance_source,
        "ceiling": ledger.ceiling,
        "available_quantity": ledger.available_on(on),
        "valid_until": lic.valid_until,
    }


def today_in_china() -> date:
    return china_date(datetime.now(UTC))


@router.get(
    "/licenses/{license_no}", response_model=LicenseView, summary="Read a license", responses=errors(404)
)
async def license_detail(license_no: LicenseNo, pool: Pool, tenant: CurrentTenant) -> Any:
    """A license: its customs status, ledger balances and every ledger entry (uses, reversals,
    refused uses with their reasons)."""
    lic, entries = await queries.license_with_entries(pool, license_no, tenant.enterprise_codes)
    return plain(
        {
            "license_no": lic.license_no,
            "application_id": lic.application_id,
            "enterprise_code": lic.enterprise_code,
            "form_no": lic.form_no,
            "commodity_code": lic.commodity_code,
            "commodity_name": lic.commodity_name,
            "one_batch_one_license": lic.one_batch_one_license,
            "issued_at": lic.issued_at,
            "customs_status": lic.customs_status,
            "customs_status_label": CUSTOMS_STATUS_LABEL.get(lic.customs_status, lic.customs_status),
            "customs_detail": lic.last_delivery_detail or None,
            "ledger": _ledger_view(lic, today_in_china()),
            "entries": entries,
        }
    )


@router.get(
    "/licenses/{license_no}/availability",
    response_model=AvailabilityView,
    summary="Check whether a license covers a quantity",
    responses=errors(404),
)
async def availability(
    license_no: LicenseNo,
    pool: Pool,
    tenant: CurrentTenant,
    quantity: Annotated[
        PositiveQuantity, Query(description="the quantity to declare, in the license's unit")
    ],
    on: Annotated[Day | None, Query(description="declaration date (default: today in China)")] = None,
) -> Any:
    """Can this license cover ``quantity`` in one declaration now? If not, why not."""
    day = on or today_in_china()
    lic = await queries.license_of_tenant(pool, license_no, tenant.enterprise_codes)
    decision = lic.ledger.check(quantity, day)
    return plain(
        {
            "license_no": license_no,
            "quantity": quantity,
            "on": day,
            "can_cover": decision.allowed,
            "reason": decision.reason.value if decision.reason else None,
            "detail": decision.detail or None,
            "would_be_last_use": decision.last_use if decision.allowed else None,
            **_ledger_view(lic, day),
        }
    )


@router.get(
    "/customs/clearances",
    response_model=ClearancesView,
    summary="Clearances of a license (结关数据查询)",
    responses=errors(404),
)
async def clearances(
    pool: Pool, tenant: CurrentTenant, license_no: Annotated[IdentifierText, Query(min_length=1)]
) -> Any:
    """结关数据查询: each declaration that used the license, with its goods lines and state
    (recorded, refused, amended, invalidated)."""
    lic, declarations = await queries.license_with_declarations(pool, license_no, tenant.enterprise_codes)
    return plain(
        {
            "license_no": license_no,
            "unit": lic.unit,
            "ledger": _ledger_view(lic, today_in_china()),
            "declarations": declarations,
        }
    )


@router.get(
    "/history",
    response_model=LicenseHistory,
    summary="History of a license (历史数据查询)",
    responses=errors(404),
)
async def history(
    pool: Pool,
    tenant: CurrentTenant,
    license_no: Annotated[IdentifierText, Query(min_length=1)],
    from_: Annotated[IdentifierText | None, Query(alias="from")] = None,
    to: IdentifierText | None = None,
) -> Any:
    """历史数据查询: everything that happened to the license and its application, in time order
    (review results, license issued, deliveries to Customs, clearances, reversals)."""
    problems: list[FieldProblem] = []
    since = _bound(from_, "from", problems, end=False)
    until = _bound(to, "to", problems, end=True)
    if since and until and since >= until:
        problems.append(FieldProblem("to", "must be after from"))
    if problems:
        raise InvalidInput(f"{len(problems)} field(s) invalid", problems)
    application_id, items = await queries.history_of_license(
        pool, license_no, tenant.enterprise_codes, since, until
    )
    return plain({"license_no": license_no, "application_id": application_id, "items": items})
