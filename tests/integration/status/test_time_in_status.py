"""Time in status for operations, over events that happened on one past day (so that nothing
else in the database falls in the range)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest

from tests.integration.status.support import App, Enterprise, Publisher, history, own_entries
from tests.support import api_client, eventually


@pytest.fixture
async def operations(entry_url: str, demo: dict[str, Any]) -> Any:
    async with api_client(entry_url, demo["operations"]["api_key"]) as c:
        yield c


async def test_percentiles_per_status_and_day_and_the_submit_objective(
    publisher: Publisher,
    enterprise: Enterprise,
    enterprise_client: httpx.AsyncClient,
    operations: httpx.AsyncClient,
) -> None:
    day = date(2001, 1, 1) + timedelta(days=random.randrange(7000))
    t0 = datetime.combine(day, time(10), UTC)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    envs = []
    for to_pending in (10, 20, 100):  # submit -> pending_first_review in 10, 20 and 100 s
        a = App(enterprise.code)
        envs += [a.submitted(at(0)), a.accepted(at(to_pending)), a.review("first", "passed", at=at(1000))]
    failed = App(enterprise.code)  # sent back to draft after 3 s (no e-key)
    envs += [failed.submitted(at(5)), failed.signing_failed(at(8))]
    await publisher.publish(*envs)

    async def all_recorded() -> bool:
        for app_id in {e.aggregate_id for e in envs}:
            mine = [e for e in envs if e.aggregate_id == app_id]
            hist = await history(enterprise_client, app_id)
            if hist is None or len(own_entries(hist, mine)) != len(mine):
                return False
        return True

    await eventually(all_recorded, timeout=60, what="events recorded")

    params = {"from": day.isoformat(), "to": (day + timedelta(days=1)).isoformat(), "objective_seconds": 30}
    r = await operations.get("/api/v1/ops/time-in-status", params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    submitting = body["per_status"]["submitting"]
    assert submitting["count"] == 4  # 3, 10, 20, 100 seconds
    assert submitting["p50_seconds"] == pytest.approx(15.0)
    assert submitting["p90_seconds"] == pytest.approx(76.0)
    assert submitting["p99_seconds"] == pytest.approx(97.6)
    pending = body["per_status"]["pending_first_review"]
    assert pending["count"] == 3 and pending["p50_seconds"] == pytest.approx(980.0)
    per_day = {(d["day"], d["status"]): d for d in body["per_day"]}
    assert per_day[(day.isoformat(), "submitting")]["count"] == 4
    assert per_day[(day.isoformat(), "submitting")]["p50_seconds"] == pytest.approx(15.0)
    assert {d for d, _ in per_day} == {day.isoformat()}
    objective = body["objective"]
    assert objective["reached"] == 3 and objective["within"] == 2 and objective["returned"] == 1
    assert objective["overdue"] == 0 and objective["share"] == pytest.approx(2 / 3)

    r = await operations.get("/api/v1/ops/time-in-status", params={**params, "objective_seconds": 100})
    assert r.json()["objective"]["share"] == pytest.approx(1.0)


async def test_time_in_status_is_for_operations_only(
    enterprise_client: httpx.AsyncClient, agency: httpx.AsyncClient, operations: httpx.AsyncClient
) -> None:
    for c in (enterprise_client, agency):
        r = await c.get("/api/v1/ops/time-in-status")
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await operations.get("/api/v1/ops/time-in-status", params={"from": "soon", "to": "later"})
    assert r.status_code == 422
    assert {d["field"] for d in r.json()["error"]["details"]} == {"from", "to"}
    r = await operations.get("/api/v1/ops/time-in-status", params={"from": "2026-02-01", "to": "2026-01-01"})
    assert r.status_code == 422
    r = await operations.get("/api/v1/ops/time-in-status")
    assert r.status_code == 200 and r.json()["objective"]["seconds"] == 60
