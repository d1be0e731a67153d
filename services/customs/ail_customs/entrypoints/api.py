"""HTTP API of the customs service (routed by the entry point: /api/v1/licenses,
/api/v1/customs, /api/v1/history). Quantities are decimal strings, never floats."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from ail_customs.adapters import queries
from ail_customs.adapters.repository import SCHEMA
from ail_customs.deps import CustomsDeps
from ail_customs.domain.commands import RequestReissue, RequestResend, SurrenderLicense
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
from ail_shared.http import CurrentCaller, CurrentTenant, Pool
from ail_shared.idempotency import idempotent_response
from ail_shared.inputs import (
    Day,
    IdentifierText,
    PositiveQuantity,
    RemarksText,
    Year,
    parse_instant,
)
from ail_shared.licenses import state_label
from ail_shared.openapi import errors
from ail_shared.paging import ListPage, QueryPage

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
    paging: QueryPage,
    year: Year | None = None,
    serial_no: IdentifierText | None = None,
    license_no: IdentifierText | None = None,
    applied_from: Day | None = None,
    applied_to: Day | None = None,
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
            page=paging.page,
            page_size=paging.page_size,
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
            "license_state": r["license_state"],
            "license_state_label": state_label(r["license_state"]) if r["license_state"] else None,
            "license_state_reason": r["license_state_reason"] or None,
            "replaced_by": r["replaced_by"],
        }
        for r in rows
    ]
    return plain(paging.of(items, total))


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


def _state_view(lic: License) -> dict[str, Any]:
    return {
        "license_state": str(lic.state),
        "license_state_label": state_label(lic.state),
        "license_state_reason": lic.state_reason or None,
        "license_state_detail": lic.state_detail or None,
        "license_state_changed_at": lic.state_changed_at,
        "unused_quantity": lic.unused_quantity,
        "replaces_license_no": lic.replaces_license_no,
        "replaced_by": lic.replaced_by,
        "cancellation_status": lic.cancellation_status,
    }


class SurrenderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: RemarksText = Field(min_length=1, description="why the license is handed back (交回原因)")


class LicenseStateOut(BaseModel):
    license_no: str
    license_state: str = Field(description="valid | used_up | surrendered | cancelled | expired")
    license_state_label: str
    license_state_reason: str | None = None
    license_state_detail: str | None = None
    license_state_changed_at: datetime | None = None
    unused_quantity: str | None = None
    replaces_license_no: str | None = None
    replaced_by: str | None = None
    cancellation_status: str | None = Field(
        None, description="the cancellation at Customs: pending | not_arrived | stored | send_failed"
    )


class ReissueOut(BaseModel):
    license_no: str = Field(description="the license to be replaced")
    application_id: str = Field(description="the new draft (made by the application service a moment later)")
    max_quantity: str = Field(description="the most the replacement may cover: the unused quantity")
    max_uses: int = Field(description="the uses left on the license, which the replacement takes over")
    created: bool = Field(description="false: a change or extension was asked for already; the same draft")


@router.post(
    "/licenses/{license_no}/surrender",
    status_code=200,
    summary="Hand back (交回) an unused valid license, with a reason",
    response_model=LicenseStateOut,
    responses=errors(404, 409, e409="the license is used, expired or no longer valid"),
)
async def surrender_license(
    license_no: LicenseNo,
    body: Annotated[SurrenderIn, Body(examples=[{"reason": "合同取消，货物不再进口"}])],
    pool: Pool,
    tenant: CurrentTenant,
    deps: CustomsDeps,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Only a valid license not used at all is surrendered (409 ``license_used``,
    ``license_not_valid``, ``license_expired`` otherwise). Customs receives its cancellation; the
    applicant hears ``LicenseSurrendered``. Asked again, it answers the surrendered license."""
    cmd = SurrenderLicense(
        license_no=license_no,
        enterprise_codes=tenant.enterprise_codes,
        principal=tenant.principal.id,
        reason=body.reason,
    )

    async def work(conn: Any) -> tuple[int, Any]:
        lic = await COMMAND_HANDLERS[SurrenderLicense](deps.uow(conn), cmd)
        return 200, plain({"license_no": lic.license_no, **_state_view(lic)})

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path=f"/api/v1/licenses/{license_no}/surrender",
        body=body.model_dump(),
        work=work,
    )


@router.post(
    "/licenses/{license_no}/reissue",
    status_code=202,
    summary="Change or extend (变更 / 延期) a license: a new draft that replaces it",
    response_model=ReissueOut,
    responses=errors(404, 409, e409="the license is not valid, expired, or has nothing left"),
)
async def reissue_license(
    license_no: LicenseNo,
    pool: Pool,
    tenant: CurrentTenant,
    deps: CustomsDeps,
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    """A draft copying the license's application, naming this license, for at most its unused
    quantity and remaining uses; it goes through signing and both reviews as any application.
    When the new license is issued this one is cancelled. 409 for a license that is not valid,
    expired, or has nothing left."""
    cmd = RequestReissue(
        license_no=license_no, enterprise_codes=tenant.enterprise_codes, principal=tenant.principal.id
    )

    async def work(conn: Any) -> tuple[int, Any]:
        answer = await COMMAND_HANDLERS[RequestReissue](deps.uow(conn), cmd)
        return 202, {
            "license_no": answer.license_no,
            "application_id": answer.application_id,
            "max_quantity": str(answer.quantity),
            "max_uses": answer.uses,
            "created": answer.created,
        }

    return await idempotent_response(
        pool,
        schema=SCHEMA,
        tenant=tenant,
        key=idempotency_key,
        path=f"/api/v1/licenses/{license_no}/reissue",
        body={},
        work=work,
    )


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
            **_state_view(lic),
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
    caller: CurrentCaller,
    quantity: Annotated[
        PositiveQuantity, Query(description="the quantity to declare, in the license's unit")
    ],
    on: Annotated[Day | None, Query(description="declaration date (default: today in China)")] = None,
) -> Any:
    """Can this license cover ``quantity`` in one declaration now? If not, why not."""
    # The platform's hottest read (issue 16): the API key and the license in one statement
    # (queries.license_for_caller), and the answer rendered straight to JSON, not validated
    # again through AvailabilityView (its documented shape; the contract tests check it).
    # Its common case is answered before the FastAPI stack by entrypoints/fast_availability.py,
    # with these same pieces; every other request (every error) comes here.
    day = on or today_in_china()
    _, lic = await queries.license_for_caller(caller, license_no)
    return JSONResponse(availability_answer(license_no, quantity, day, lic))


def availability_answer(license_no: str, quantity: Decimal, day: date, lic: License) -> dict[str, Any]:
    """The availability check's JSON-ready answer (AvailabilityView's shape), for the route and
    its fast path alike."""
    decision = lic.ledger.check(quantity, day)
    return plain(  # type: ignore[no-any-return]
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
    pool: Pool,
    tenant: CurrentTenant,
    license_no: Annotated[IdentifierText, Query(min_length=1)],
    paging: ListPage,
) -> Any:
    """结关数据查询: each declaration that used the license (``items``), with its goods lines and
    state (recorded, refused, amended, invalidated)."""
    lic, declarations = await queries.license_with_declarations(pool, license_no, tenant.enterprise_codes)
    return plain(
        paging.whole(
            declarations,
            license_no=license_no,
            unit=lic.unit,
            ledger=_ledger_view(lic, today_in_china()),
        )
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
    paging: ListPage,
    from_: Annotated[IdentifierText | None, Query(alias="from")] = None,
    to: IdentifierText | None = None,
) -> Any:
    """历史数据查询: everything that happened to the license and its application (review results,
    license issued, deliveries to Customs, clearances, reversals), in the order it was recorded,
    so the running balances in the summaries read in order. Each entry has ``occurred_at`` (when
    it happened: for a clearance, the declaration's time) and ``recorded_at`` (when the ledger
    recorded it; null for entries recorded before that was kept). ``from``/``to`` select by
    ``occurred_at``."""
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
    return plain(paging.whole(items, license_no=license_no, application_id=application_id))
