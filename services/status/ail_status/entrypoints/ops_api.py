"""Operations: how long applications spend in each status. Only for the operations API key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from ail_shared.errors import FieldProblem, InvalidInput
from ail_shared.http import CurrentTenant, Pool
from ail_shared.inputs import parse_instant
from ail_shared.openapi import errors
from ail_shared.ops import operations_actor
from ail_status.adapters import queries
from ail_status.entrypoints.views import TimeInStatus

router = APIRouter(prefix="/api/v1/ops", tags=["operations"])
MAX_RANGE = timedelta(days=366)


def _instant(value: str, field: str, problems: list[FieldProblem]) -> datetime | None:
    return parse_instant(value, field, problems, zone=UTC)


@router.get(
    "/time-in-status",
    response_model=TimeInStatus,
    response_model_by_alias=True,
    summary="Time spent in each status (operations)",
    responses=errors(403, e403="not the operations API key"),
)
async def time_in_status(
    pool: Pool,
    tenant: CurrentTenant,
    from_: Annotated[
        str | None, Query(alias="from", description="start (inclusive); default 7 days ago")
    ] = None,
    to: Annotated[str | None, Query(description="end (exclusive); default now")] = None,
    objective_seconds: Annotated[float, Query(gt=0, le=86400 * 30)] = 60.0,
) -> Any:
    """p50/p90/p99 seconds spent in each status, over all days and per day (UTC, by the day the
    status was entered), for statuses entered in [from, to) and since left (an application
    still in a status is not counted there). ``objective`` checks "a share of submissions reach
    pending_first_review within N seconds": ``share`` = within / (reached + overdue), where
    ``overdue`` are submissions still in flight for longer than N; submissions still in flight
    for less than N (``undecided``) and those sent back to draft (``returned``, e.g. no e-key)
    are not in the share and are counted apart."""
    operations_actor(tenant, refused="time in status is")
    problems: list[FieldProblem] = []
    now = datetime.now(UTC)
    end = _instant(to, "to", problems) if to else now
    start = _instant(from_, "from", problems) if from_ else None
    if problems:
        raise InvalidInput("time range invalid", problems)
    assert end is not None
    start = start or end - timedelta(days=7)
    if start >= end:
        raise InvalidInput("time range invalid", [FieldProblem("from", "must be before 'to'")])
    if end - start > MAX_RANGE:
        raise InvalidInput(
            "time range invalid", [FieldProblem("from", "the range may span at most 366 days")]
        )
    async with pool.acquire() as conn:
        rows = await queries.time_in_status(conn, start=start, end=end)
        obj = await queries.submit_objective(conn, start=start, end=end, seconds=objective_seconds)
    per_status: dict[str, Any] = {}
    per_day: list[dict[str, Any]] = []
    for r in rows:
        figures = {
            "count": r["intervals"],
            "p50_seconds": r["p"][0],
            "p90_seconds": r["p"][1],
            "p99_seconds": r["p"][2],
        }
        if r["all_days"]:
            per_status[r["status"]] = figures
        else:
            per_day.append({"day": r["day"].isoformat(), "status": r["status"], **figures})
    decided = obj["reached"] + obj["overdue"]
    return {
        "from": start,
        "to": end,
        "per_status": per_status,
        "per_day": per_day,
        "objective": {
            "from_status": "submitting",
            "to_status": "pending_first_review",
            "seconds": objective_seconds,
            "reached": obj["reached"],
            "within": obj["within"],
            "overdue": obj["overdue"],
            "undecided": obj["undecided"],
            "returned": obj["returned"],
            "share": (obj["within"] / decided) if decided else None,
        },
    }
