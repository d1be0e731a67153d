"""HTTP API of the statistics service: monthly and year-to-date figures per commodity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from ail_shared.errors import FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant
from ail_shared.inputs import CodeText
from ail_shared.openapi import errors
from ail_stats.deps import StatsDeps
from ail_stats.domain.figures import MONTH_RE, MonthlyQuery, monthly_rows, rows_csv

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])


class Totals(BaseModel):
    quantity: str = Field(examples=["150000"], description="a decimal as a string")
    amount_usd: str = Field(examples=["15825000.00"])
    count: int


class StatsRow(BaseModel):
    commodity_code: str = Field(examples=["2601110000"])
    commodity_name: str
    unit: str = Field(examples=["070"])
    month: Totals
    year_to_date: Totals


class StatsFilters(BaseModel):
    issuing_agency: str
    trade_mode: str
    commodity_category: str
    trade_country: str


class MonthlyStats(BaseModel):
    month: str = Field(examples=["2026-11"])
    filters: StatsFilters
    enterprises: list[str]
    rows: list[StatsRow]


@router.get(
    "/monthly",
    response_model=MonthlyStats,
    summary="Monthly and year-to-date figures of approved applications, one row per commodity",
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON; with Accept: text/csv the rows as CSV"},
        **errors(503, e503="the statistics tables are being recovered: retry after Retry-After seconds"),
    },
)
async def monthly(
    tenant: CurrentTenant,
    deps: StatsDeps,
    month: Annotated[
        CodeText,
        Query(
            description="YYYY-MM; China local month of the approval",
            json_schema_extra={"pattern": MONTH_RE.pattern},
        ),
    ] = "",
    issuing_agency: Annotated[CodeText, Query(description="issuing agency (发证机构) code")] = "",
    trade_mode: Annotated[CodeText, Query(description="trade mode (贸易方式) code")] = "",
    commodity_category: Annotated[
        CodeText, Query(description="commodity category; without one in the event: HS + 2-digit chapter")
    ] = "",
    trade_country: Annotated[CodeText, Query(description="trade country/region code")] = "",
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    problems = []
    if not month:
        problems.append(FieldProblem("month", "required, as YYYY-MM"))
    elif not MONTH_RE.match(month):
        problems.append(FieldProblem("month", f"{month!r} is not a month YYYY-MM (01..12)"))
    for name, value in (
        ("issuing_agency", issuing_agency),
        ("trade_mode", trade_mode),
        ("commodity_category", commodity_category),
        ("trade_country", trade_country),
    ):
        if len(value) > 64:
            problems.append(FieldProblem(name, "at most 64 characters"))
    if problems:
        raise InvalidInput(f"{len(problems)} query parameter(s) invalid", problems)
    tables = deps.stats_app
    if not tables.ready():
        return JSONResponse(
            {
                "error": {
                    "code": "stats_recovering",
                    "message": "the statistics tables are being recovered from their changelogs; "
                    "retry in a few seconds",
                    "details": [],
                }
            },
            status_code=503,
            headers={"Retry-After": "2"},
        )
    query = MonthlyQuery(
        month=month,
        issuing_agency=issuing_agency,
        trade_mode=trade_mode,
        commodity_category=commodity_category,
        trade_country=trade_country,
    )
    records = tables.figures.records(tenant.enterprise_codes, query.year)
    rows = monthly_rows(records, query, tenant.enterprise_codes)
    if accept and "text/csv" in accept.lower():
        return Response(
            rows_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ail-stats-{month}.csv"'},
        )
    return JSONResponse(
        {
            "month": month,
            "filters": {
                "issuing_agency": issuing_agency,
                "trade_mode": trade_mode,
                "commodity_category": commodity_category,
                "trade_country": trade_country,
            },
            "enterprises": list(tenant.enterprise_codes),
            "rows": [r.as_json() for r in rows],
        }
    )
