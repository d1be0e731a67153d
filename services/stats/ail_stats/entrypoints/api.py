"""HTTP API of the statistics service: monthly and year-to-date figures per commodity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ail_shared.errors import Forbidden, InvalidInput
from ail_shared.http import CurrentTenant
from ail_shared.inputs import CodeText
from ail_shared.openapi import errors
from ail_shared.paging import ListPage, Page
from ail_shared.vocabulary import COMMODITY_CATEGORIES, COMMODITY_GROUPINGS
from ail_stats.deps import StatsDeps
from ail_stats.domain.figures import MONTH_RE, MonthlyQuery, monthly_rows, query_problems, rows_csv

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])


class Totals(BaseModel):
    quantity: str = Field(examples=["150000"], description="a decimal as a string")
    amount_usd: str = Field(examples=["15825000.00"])
    count: int


class StatsRow(BaseModel):
    model_config = ConfigDict(extra="allow")

    commodity_code: str = Field(examples=["2601110000"])
    commodity_name: str
    unit: str = Field(examples=["070"])
    month: Totals
    year_to_date: Totals


class StatsFilters(BaseModel):
    issuing_agency: str
    trade_mode: str
    commodity_category: str
    commodity_grouping: str = ""
    trade_country: str


class MonthlyStats(Page[StatsRow]):
    """One month's rows (``items``, one per commodity) with the query that made them."""

    month: str = Field(examples=["2026-11"])
    filters: StatsFilters
    enterprises: list[str]


@router.get(
    "/monthly",
    response_model=MonthlyStats,
    summary="Monthly and year-to-date figures of approved applications, one row per commodity",
    responses={
        200: {"content": {"text/csv": {}}, "description": "JSON; with Accept: text/csv the rows as CSV"},
        **errors(403, e403="an operations key: statistics are per enterprise"),
        **errors(503, e503="the statistics tables are being recovered: retry after Retry-After seconds"),
    },
)
async def monthly(
    tenant: CurrentTenant,
    deps: StatsDeps,
    paging: ListPage,
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
        CodeText,
        Query(
            description="commodity category (商品大类): the catalogue's (iron_ore, coal, ...) or"
            " HS + 2-digit chapter (HS26)"
        ),
    ] = "",
    commodity_grouping: Annotated[
        CodeText,
        Query(description="commodity grouping (商品统计方式) of the catalogue, e.g. 矿产品, 煤炭"),
    ] = "",
    trade_country: Annotated[CodeText, Query(description="trade country/region code, 3 digits")] = "",
    accept: Annotated[str | None, Header()] = None,
) -> Response:
    """Rows over the caller's enterprises only. An operations key is refused (403): the figures
    are an enterprise's own (申请单统计 counts the enterprise's approved applications), and
    operations' own view of the platform is ``/api/v1/ops/*``. With ``Accept: text/csv`` every
    row as a file; JSON is paged like every list."""
    if tenant.principal.kind == "operations":
        raise Forbidden(
            "statistics are an enterprise's own figures: use the enterprise's API key"
            " (operations: see /api/v1/ops/time-in-status)"
        )
    query = MonthlyQuery(
        month=month,
        issuing_agency=issuing_agency,
        trade_mode=trade_mode,
        commodity_category=commodity_category,
        trade_country=trade_country,
        commodity_grouping=commodity_grouping,
    )
    problems = query_problems(query, COMMODITY_CATEGORIES, COMMODITY_GROUPINGS)
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
    records = tables.figures.records(tenant.enterprise_codes, query.year)
    rows = monthly_rows(records, query, tenant.enterprise_codes)
    if accept and "text/csv" in accept.lower():
        return Response(
            rows_csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ail-stats-{month}.csv"'},
        )
    return JSONResponse(
        paging.whole(
            [r.as_json() for r in rows],
            month=month,
            filters={
                "issuing_agency": issuing_agency,
                "trade_mode": trade_mode,
                "commodity_category": commodity_category,
                "commodity_grouping": commodity_grouping,
                "trade_country": trade_country,
            },
            enterprises=list(tenant.enterprise_codes),
        )
    )
