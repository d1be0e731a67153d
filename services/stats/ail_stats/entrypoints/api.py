"""HTTP API of the statistics service: monthly and year-to-date figures per commodity."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from ail_shared.auth import ServiceCredential
from ail_shared.errors import Forbidden, InvalidInput
from ail_shared.http import CurrentTenant
from ail_shared.inputs import CodeText
from ail_shared.openapi import errors
from ail_shared.paging import ListPage, Page
from ail_shared.vocabulary import COMMODITY_CATEGORIES, COMMODITY_GROUPINGS
from ail_stats.deps import StatsDeps
from ail_stats.domain.figures import (
    MONTH_RE,
    YEAR_RE,
    MonthlyQuery,
    monthly_rows,
    query_problems,
    rows_csv,
)
from ail_stats.service_layer.handlers import gather_figures

router = APIRouter(prefix="/api/v1/stats", tags=["statistics"])
# Issue 16: what one replica asks the others (adapters/peers.py); the service credential, never
# routed by the entry point.
internal = APIRouter(prefix="/internal/stats", tags=["internal"], dependencies=[ServiceCredential])


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
    gathered = await gather_figures(deps.stats_app, deps.peers, tenant.enterprise_codes, query.year)
    if gathered.missing:
        # This worker (or, with several replicas, the one holding these partitions) recovers its
        # tables, or a replica is down and its partitions not yet taken over: never a short sum.
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
    rows = monthly_rows(gathered.records, query, tenant.enterprise_codes)
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


class ShardFigure(BaseModel):
    key: str = Field(description="the figures table key: JSON, the source partition first")
    record: dict[str, object]


class ShardOut(BaseModel):
    partitions: list[int] = Field(description="source partitions this replica owns, recovered")
    figures: list[ShardFigure]


class ShardQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    year: str = Field(pattern=YEAR_RE.pattern, examples=["2026"])
    enterprises: list[CodeText] = Field(max_length=100_000, description="the asking tenant's enterprises")


@internal.post("/shards", response_model=ShardOut, summary="This replica's figures (issue 16)")
async def shards(deps: StatsDeps, body: ShardQuery) -> JSONResponse:
    """The figures of these enterprises in YEAR from the partitions this worker owns: what the
    replica answering a monthly query merges (``service_layer.handlers.gather_figures``). A
    POST so that an agency's many enterprises fit (a body, not a URL); it changes nothing."""
    shard = deps.stats_app.local_shard(body.enterprises, body.year)
    return JSONResponse(
        {
            "partitions": sorted(shard.partitions),
            "figures": [{"key": k, "record": dict(r)} for k, r in shard.figures],
        }
    )
