"""Contract information, iron-ore contract, pre-check, code tables and key-agri filings."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ail_application.adapters import queries
from ail_application.domain import commands
from ail_application.domain.contracts import ContractInfo, IronOreContract
from ail_application.domain.key_agri import KeyAgriFiling as Filing
from ail_application.domain.reference import CODE_TABLES
from ail_application.entrypoints.api import ERRORS
from ail_application.entrypoints.common import (
    AppDeps,
    IdempotencyKey,
    IfMatch,
    expected_version,
    idempotent,
    operation_id,
    set_etag,
    with_location,
)
from ail_application.entrypoints.schemas import ContractView
from ail_application.service_layer.handlers import handle
from ail_application.service_layer.unit_of_work import UnitOfWork
from ail_shared.errors import FieldProblem, InvalidInput, NotFound
from ail_shared.http import CurrentTenant
from ail_shared.inputs import (
    AddressText,
    Capital,
    CodeText,
    Day,
    IdentifierText,
    NameText,
    PersonText,
    PhoneText,
    QueryText,
    Year,
)
from ail_shared.openapi import errors
from ail_shared.paging import ListPage, Page

router = APIRouter(prefix="/api/v1", generate_unique_id_function=operation_id)

CONTRACT_EXAMPLE = {
    "applicant": {
        "enterprise_code": "1100776367555",
        "name": "北京示例进出口有限公司",
        "uscc": "91110000776367555X",
        "address": "北京市朝阳区示例路1号",
        "contact": "李四",
        "phone": "010-12345678",
    },
    "foreign_contract": {
        "contract_no": "BHP-2026-001",
        "foreign_party_name_en": "BHP Billiton",
        "signing_date": "2026-10-01",
        "expiry_date": "2027-03-31",
        "total_quantity": "200000",
        "total_amount": "21100000",
        "settlement_currency": "USD",
    },
    "other": {"import_change_band": "within_10"},
}
IRON_ORE_EXAMPLE = {
    "origin_country": "601",
    "trade_country": "601",
    "contract_no": "BHP-2026-001",
    "contract_type": "long_term",
    "signing_date": "2026-10-01",
    "period_from": "2026-10-01",
    "period_to": "2027-09-30",
    "enterprise_nature": "trader",
    "seller_name_zh": "必和必拓",
    "discharge_ports": ["4200"],
    "freight_cfr": "12000",
    "lines": [
        {
            "category": "粉矿",
            "name": "PB粉",
            "grade_fe_pct": "61.5",
            "quantity_kt": "150",
            "unit_price_usd_per_kt": "105500",
        }
    ],
}


@router.get(
    "/applications/{application_id}/contract",
    summary="Read the contract of a draft",
    response_model=ContractView,
    responses=ERRORS,
    tags=["contracts"],
)
async def get_contract(application_id: UUID, deps: AppDeps, tenant: CurrentTenant, response: Response) -> Any:
    """The contract information; before the first save, the applicant part is pre-filled from
    the enterprise's last entry. ``ETag``: the application's version (If-Match of the PUT)."""
    contract = await queries.contract(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    set_etag(response, contract["version"])
    return contract


@router.put(
    "/applications/{application_id}/contract",
    summary="Save the contract of a draft",
    response_model=ContractView,
    responses=ERRORS,
    tags=["contracts"],
)
async def put_contract(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    contract: Annotated[ContractInfo, Body(examples=[CONTRACT_EXAMPLE])],
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Saves the contract information; with ``If-Match`` refused (412) if the application
    changed since it was read."""
    command = commands.SaveContract(
        tenant, application_id, contract, expected_version=expected_version(if_match)
    )
    saved = await handle(deps.unit_of_work(), command, deps.ctx)
    set_etag(response, saved["version"])
    return saved


@router.get(
    "/applications/{application_id}/iron-ore-contract",
    summary="Read the iron-ore contract of a draft",
    response_model=IronOreContract,
    responses=ERRORS,
    tags=["contracts"],
)
async def get_iron_ore_contract(
    application_id: UUID, deps: AppDeps, tenant: CurrentTenant, response: Response
) -> Any:
    app = await queries.application(
        deps.pool, application_id=application_id, enterprise_codes=tenant.enterprise_codes
    )
    if app.iron_ore_contract is None:
        raise NotFound(f"application {application_id} has no iron-ore contract yet; PUT it first")
    set_etag(response, app.version)
    return IronOreContract.model_validate(app.iron_ore_contract).model_dump(mode="json")


@router.put(
    "/applications/{application_id}/iron-ore-contract",
    summary="Save the iron-ore contract of a draft",
    response_model=IronOreContract,
    responses=ERRORS,
    tags=["contracts"],
)
async def put_iron_ore_contract(
    application_id: UUID,
    deps: AppDeps,
    tenant: CurrentTenant,
    contract: Annotated[IronOreContract, Body(examples=[IRON_ORE_EXAMPLE])],
    response: Response,
    if_match: IfMatch = None,
) -> Any:
    """Only for HS heading 2601. Line amounts (USD) are computed; importer is the application's.
    With ``If-Match`` refused (412) if the application changed since it was read."""
    command = commands.SaveIronOreContract(
        tenant, application_id, contract, expected_version=expected_version(if_match)
    )
    saved = await handle(deps.unit_of_work(), command, deps.ctx)
    set_etag(response, saved.pop("version"))
    return saved


@router.delete(
    "/applications/{application_id}/iron-ore-contract",
    summary="Remove the iron-ore contract of a draft",
    status_code=204,
    responses=ERRORS,
    tags=["contracts"],
)
async def delete_iron_ore_contract(
    application_id: UUID, deps: AppDeps, tenant: CurrentTenant, if_match: IfMatch = None
) -> Response:
    """Removes the iron-ore contract (e.g. after the commodity changed away from heading 2601);
    with ``If-Match`` refused (412) if the application changed since it was read."""
    command = commands.RemoveIronOreContract(
        tenant, application_id, expected_version=expected_version(if_match)
    )
    await handle(deps.unit_of_work(), command, deps.ctx)
    return Response(status_code=204)


# -- pre-check ---------------------------------------------------------------------------------
class PrecheckCommodity(BaseModel):
    code: CodeText = Field(examples=["2601110000"])
    name: NameText | None = None


class PrecheckRequest(BaseModel):
    year: Year = Field(examples=[2026])
    one_batch_one_license: bool = False
    commodities: list[PrecheckCommodity] = Field(min_length=1, max_length=4)
    customs_ports: list[CodeText] = Field(min_length=1, max_length=2, examples=[["4200"]])


class PrecheckAnswer(BaseModel):
    commodity_code: str
    commodity_name: str | None
    on_catalogue: bool
    electronic_allowed: bool
    iron_ore: bool
    key_agri: bool
    tolerance_pct: Decimal | None = None
    issuing_agency: str | None = None
    reason: str = ""
    source: str


class PrecheckResult(BaseModel):
    year: int
    one_batch_one_license: bool
    customs_ports: list[str]
    answers: list[PrecheckAnswer]


@router.post(
    "/prechecks",
    summary="Pre-check an importer and a commodity (预审)",
    response_model=PrecheckResult,
    tags=["pre-check"],
)
async def precheck(
    deps: AppDeps,
    tenant: CurrentTenant,
    body: Annotated[
        PrecheckRequest,
        Body(examples=[{"year": 2026, "commodities": [{"code": "2601110000"}], "customs_ports": ["4200"]}]),
    ],
    idempotency_key: IdempotencyKey = None,
) -> Any:
    """For each commodity: on the catalogue? electronic license allowed? iron ore? key agri?
    Changes nothing, so a retry with the same Idempotency-Key gets the same answer."""
    ref = deps.ref
    problems = [
        FieldProblem(f"customs_ports.{i}", f"'{p}' is not in code table 'customs_ports'")
        for i, p in enumerate(body.customs_ports)
        if not ref.has("customs_ports", p)
    ]
    if problems:
        raise InvalidInput("pre-check input has errors", problems)
    answers = await deps.eligibility.check(
        enterprise_code=tenant.enterprise_code,
        year=body.year,
        commodity_codes=[c.code for c in body.commodities],
    )
    return {
        "year": body.year,
        "one_batch_one_license": body.one_batch_one_license,
        "customs_ports": body.customs_ports,
        "answers": [a.__dict__ for a in answers],
    }


# -- code tables -------------------------------------------------------------------------------
class CodeEntry(BaseModel):
    """One code of a table; a commodity (``commodities``) has its catalogue fields besides."""

    model_config = ConfigDict(extra="allow")
    code: str = Field(examples=["601"])
    name_zh: str = Field(examples=["澳大利亚"])
    letters: str = Field(examples=["adly"], description="拼音首字母")
    is_default: bool | None = None


class CodeTablePage(Page[CodeEntry]):
    """One page of a code table."""


@router.get(
    "/reference/{table}",
    summary="Read a code table",
    response_model=CodeTablePage,
    responses=errors(404, e404="no such code table"),
    tags=["reference"],
    description="Code tables: `commodities` (the catalogue, per year, with effective dates and the"
    " overflow tolerance) and " + ", ".join(f"`{t}`" for t in CODE_TABLES) + ".",
)
async def reference(
    deps: AppDeps,
    table: Annotated[CodeText, Path()],
    paging: ListPage,
    q: Annotated[
        QueryText, Query(description="code prefix, letters (拼音首字母) or part of the Chinese name")
    ] = "",
    year: Annotated[Year | None, Query(description="commodities only: the catalogue of this year")] = None,
    on: Annotated[
        Day | None, Query(description="commodities only: entries in effect on this date (YYYY-MM-DD)")
    ] = None,
) -> Any:
    if table != "commodities" and table not in CODE_TABLES:
        raise NotFound(f"no code table '{table}'; tables: commodities, {', '.join(CODE_TABLES)}")
    if table != "commodities" and (year is not None or on is not None):
        # Refused, not ignored: a filter that does nothing would look like it had filtered.
        raise InvalidInput(
            "year and on filter the commodity catalogue only",
            [
                FieldProblem(f"query.{name}", f"not a filter of the code table '{table}'")
                for name, value in (("year", year), ("on", on))
                if value is not None
            ],
        )
    return paging.whole(deps.ref.lookup(table, q, year=year, on=on))


# -- key agricultural products filing (重农信息备案) ------------------------------------------
class KeyAgriFilingIn(BaseModel):
    # Extra fields are let in only to be refused by name (the domain's KeyAgriFiling.new) with
    # the missing ones at once; the document says what is accepted.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})
    enterprise_name: NameText | None = None
    customs_registration_no: IdentifierText | None = None
    business_registration_no: IdentifierText | None = None
    registered_capital_wan_yuan: Capital | None = None
    business_address: AddressText | None = None
    contact: PersonText | None = None
    phone: PhoneText | None = None


class KeyAgriFiling(KeyAgriFilingIn):
    id: UUID
    enterprise_code: str
    status: str = Field(description="saved -> reported, or report_failed (see last_error)")
    created_at: str
    receipt_no: str | None = Field(None, description="MOFCOM's receipt number once reported")
    reported_at: str | None = None
    report_attempts: int = 0
    last_error: str | None = Field(None, description="why the last report to MOFCOM failed")


class KeyAgriFilingPage(Page[KeyAgriFiling]):
    """One page of the key-agri filings."""


KEY_AGRI_EXAMPLE = {
    "enterprise_name": "北京示例进出口有限公司",
    "customs_registration_no": "1105960123",
    "business_registration_no": "110000012345678",
    "registered_capital_wan_yuan": "5000",
    "business_address": "北京市朝阳区示例路1号",
    "contact": "王五",
    "phone": "010-87654321",
}


def _filing(filing: Filing) -> dict[str, Any]:
    return {
        **filing.body,
        "id": str(filing.id),
        "enterprise_code": filing.enterprise_code,
        "status": filing.status,
        "created_at": filing.created_at.isoformat() if filing.created_at else None,
        "receipt_no": filing.receipt_no,
        "reported_at": filing.reported_at.isoformat() if filing.reported_at else None,
        "report_attempts": filing.report_attempts,
        "last_error": filing.last_error,
    }


@router.post(
    "/key-agri-filings",
    summary="File a key agricultural product (重点农产品备案)",
    status_code=201,
    response_model=KeyAgriFiling,
    tags=["key-agri"],
)
async def create_key_agri_filing(
    deps: AppDeps,
    tenant: CurrentTenant,
    body: Annotated[KeyAgriFilingIn, Body(examples=[KEY_AGRI_EXAMPLE])],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Save and report: every field is required (all missing ones are named at once). The
    enterprise code comes from the login. The filing is saved (``saved``) and reported to MOFCOM
    at once in the background; read it back to see ``reported`` with MOFCOM's receipt number, or
    ``report_failed`` with the reason (retried automatically with backoff)."""
    data = body.model_dump(mode="json")
    command = commands.FileKeyAgri(tenant, data)

    async def work(uow: UnitOfWork) -> tuple[int, Any]:
        return 201, _filing(await handle(uow, command, deps.ctx))

    response = await idempotent(deps, tenant, idempotency_key, "/api/v1/key-agri-filings", data, work)
    deps.filing_reporter.wake()
    return with_location(response, "/api/v1/key-agri-filings")


@router.get(
    "/key-agri-filings/{filing_id}",
    summary="Read a key-agri filing",
    response_model=KeyAgriFiling,
    responses=errors(404),
    tags=["key-agri"],
)
async def get_key_agri_filing(filing_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Any:
    return _filing(
        await queries.filing(deps.pool, filing_id=filing_id, enterprise_codes=tenant.enterprise_codes)
    )


@router.post(
    "/key-agri-filings/{filing_id}/report",
    summary="Report a key-agri filing to MOFCOM again",
    status_code=202,
    response_model=KeyAgriFiling,
    responses=errors(404, 409),
    tags=["key-agri"],
)
async def report_key_agri_filing_again(filing_id: UUID, deps: AppDeps, tenant: CurrentTenant) -> Any:
    """Send a filing whose report failed to MOFCOM again (after correcting the cause). Reporting
    an already reported filing is refused (409). Safe to retry."""
    filing = await handle(deps.unit_of_work(), commands.ReportKeyAgriFilingAgain(tenant, filing_id), deps.ctx)
    deps.filing_reporter.wake()
    return _filing(filing)


@router.get(
    "/key-agri-filings",
    summary="List the key-agri filings",
    response_model=KeyAgriFilingPage,
    tags=["key-agri"],
)
async def list_key_agri_filings(
    deps: AppDeps, tenant: CurrentTenant, paging: ListPage, since: Day | None = None
) -> Any:
    total, filings = await queries.filings(
        deps.pool,
        enterprise_codes=tenant.enterprise_codes,
        since=since,
        offset=paging.offset,
        limit=paging.page_size,
    )
    return paging.of([_filing(f) for f in filings], total)
