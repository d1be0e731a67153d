"""The stats worker in the stack folds approvals from the real ``ail.submission`` topic: its
figures equal a plain SQL recomputation, survive SIGKILL, count duplicates once and never count
rejected or revoked applications; malformed messages go to the dead-letter topic."""

from __future__ import annotations

import json
import os
import random
import signal
import uuid
from collections.abc import AsyncIterator
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from ail_shared import topics
from tests.integration.stats.support import (
    ApprovalSet,
    api_rows,
    build_set,
    load_scratch,
    make_tenants,
    monthly,
    pid_alive,
    publish,
    restart_stats,
    sql_rows,
    stats_pid,
    total_count,
)
from tests.support import dev, eventually, read_topic

pytestmark = pytest.mark.serial  # it changes the shared stack (tests/support.require_serial)

YEARS = (2024, 2025, 2026)
# Approvals late on 31 December 2026 (UTC) fall in January 2027 in China.
CHINA_YEARS = (*YEARS, 2027)


@pytest.fixture
async def stats_url(stack: dict[str, str]) -> str:
    return stack["AIL_STATS_URL"]


@pytest.fixture
async def stats_ready(stack: dict[str, str]) -> AsyncIterator[None]:
    """The stack's stats process answers /healthz (after a previous test restarted it)."""

    async def healthy() -> bool:
        async with httpx.AsyncClient(base_url=stack["AIL_STATS_URL"], timeout=5) as c:
            try:
                return (await c.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

    if not await healthy():
        await restart_stats(stack)
    yield


def client(url: str, key: str, enterprise: str | None = None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {key}"}
    if enterprise:
        headers["X-Enterprise-Code"] = enterprise
    return httpx.AsyncClient(base_url=url, headers=headers, timeout=30)


async def wait_counted(c: httpx.AsyncClient, expected: int, timeout: float = 240.0) -> None:
    async def done() -> bool:
        return await total_count(c, CHINA_YEARS) == expected

    await eventually(done, timeout=timeout, interval=0.5, what=f"{expected} approvals counted")


async def assert_equal_to_sql(
    db: asyncpg.Pool, c: httpx.AsyncClient, s: ApprovalSet, enterprises: list[str], rng: random.Random
) -> int:
    """Every month of every year, and a sample of filtered queries, against SQL."""
    compared = 0
    async with db.acquire() as conn:
        table = await load_scratch(conn, s.approvals)
        try:
            for y in CHINA_YEARS:
                for m in range(1, 13):
                    month = f"{y}-{m:02d}"
                    got = api_rows(await monthly(c, month))
                    assert got == await sql_rows(conn, table, enterprises, month), month
                    compared += 1
            for _ in range(40):
                month = f"{rng.choice(YEARS)}-{rng.randint(1, 12):02d}"
                filters = {
                    k: v
                    for k, v in (
                        ("issuing_agency", rng.choice(["", "MOFCOM-BJ", "MOFCOM-SH"])),
                        ("trade_mode", rng.choice(["", "0110", "1210"])),
                        ("trade_country", rng.choice(["", "601", "410"])),
                        ("commodity_category", rng.choice(["", "soybeans", "HS26", "HS27"])),
                    )
                    if v
                }
                got = api_rows(await monthly(c, month, **filters))
                assert got == await sql_rows(conn, table, enterprises, month, **filters), (month, filters)
                compared += 1
        finally:
            await conn.execute(f"DROP TABLE {table}")
    return compared


async def test_random_approvals_equal_sql_recomputation_and_noise_never_counts(
    db: asyncpg.Pool, stack: dict[str, str], stats_url: str, stats_ready: None
) -> None:
    seed = int(os.environ.get("AIL_STATS_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    tenants = await make_tenants(db, 3)
    s = build_set(rng, tenants.enterprises, 3000, YEARS)
    malformed = [b"not json at all", json.dumps({"event_type": "ReviewResultReceived"}).encode()]
    bad_approval = s.approvals[0].review().model_copy(update={"payload": {"stage": "second"}})
    no_summary = s.approvals[1].review()
    no_summary = no_summary.model_copy(update={"payload": {**no_summary.payload, "application": None}})
    # The valid approvals of applications 0 and 1 follow (their broken copies come first).
    await publish(stack["AIL_KAFKA_BOOTSTRAP"], [*malformed, bad_approval, no_summary, *s.messages])

    async with client(stats_url, tenants.agency_key) as c:
        await wait_counted(c, len(s.approvals))
        compared = await assert_equal_to_sql(db, c, s, tenants.enterprises, rng)
    assert compared == 48 + 40, f"seed {seed}"

    # Dead letters carry the reason; the worker went on.
    dlt = await read_topic(stack["AIL_KAFKA_BOOTSTRAP"], f"{topics.SUBMISSION}.dlt", timeout=10, idle=0.5)
    ours = {
        bytes(r.value): dict(r.headers)
        for r in dlt
        if r.key and r.key.decode() in {s.approvals[0].application_id, s.approvals[1].application_id}
    }
    assert len(ours) == 2, f"expected both broken approvals dead-lettered, got {ours}"
    reasons = sorted(h["dlt-reason"].decode() for h in ours.values())
    assert any("payload invalid" in r for r in reasons), reasons
    assert any("no application summary" in r for r in reasons), reasons


async def test_sigkill_mid_stream_and_restart_gives_the_same_totals(
    db: asyncpg.Pool, stack: dict[str, str], stats_url: str, stats_ready: None
) -> None:
    rng = random.Random(7)
    tenants = await make_tenants(db, 2)
    s = build_set(rng, tenants.enterprises, 2000, YEARS)
    before = await _fold_counters(stats_url)
    await publish(stack["AIL_KAFKA_BOOTSTRAP"], s.messages)

    async def folding() -> bool:
        counters = await _fold_counters(stats_url)
        return counters is not None and counters["counted"] - before["counted"] >= 300

    await eventually(folding, timeout=60, interval=0.05, what="the worker folding part of the set")
    pid = stats_pid(stack)
    dev("hold", "stats")  # down until restart_stats, not restarted by the stack's supervisor
    os.kill(pid, signal.SIGKILL)
    await eventually(_async(lambda: not pid_alive(pid)), timeout=10, what="stats process gone")
    await restart_stats(stack)

    async with client(stats_url, tenants.agency_key) as c:
        await wait_counted(c, len(s.approvals))
        await assert_equal_to_sql(db, c, s, tenants.enterprises, rng)


async def test_crash_after_changelog_flush_before_offset_commit_counts_nothing_twice(
    db: asyncpg.Pool, stack: dict[str, str], stats_url: str, stats_ready: None
) -> None:
    """The worst instant: the tables' changelog writes of a batch are in Kafka, the batch's source
    offsets are not committed. The batch is redelivered after the restart and must be
    recognised as already folded."""
    rng = random.Random(11)
    tenants = await make_tenants(db, 2)
    s = build_set(rng, tenants.enterprises, 1000, YEARS)
    # The kill comes at the first offset commit after this worker folded 300 of the set's
    # approvals, so uncommitted folded events of this test are redelivered after the restart.
    await restart_stats(
        stack, failpoints="stats_before_offset_commit=1", extra_env={"AIL_STATS_FAILPOINT_MIN_FOLDED": "300"}
    )
    pid = stats_pid(stack)
    await publish(stack["AIL_KAFKA_BOOTSTRAP"], s.messages)
    await eventually(_async(lambda: not pid_alive(pid)), timeout=90, what="the failpoint killing stats")
    await restart_stats(stack)

    async with client(stats_url, tenants.agency_key) as c:
        await wait_counted(c, len(s.approvals))
        await assert_equal_to_sql(db, c, s, tenants.enterprises, rng)
    counters = await _fold_counters(stats_url)
    assert counters is not None and counters["already_folded"] > 0, counters


async def test_duplicates_count_once_and_other_tenants_see_nothing(
    db: asyncpg.Pool, stack: dict[str, str], stats_url: str, stats_ready: None
) -> None:
    rng = random.Random(uuid.uuid4().int)
    tenants = await make_tenants(db, 2, agency_for=1)
    a_code, b_code = tenants.enterprises
    s = build_set(rng, [a_code], 5, (2025,))
    first = s.approvals[0]
    again = first.review()
    # The same event three times, another event id twice: one application, counted once.
    await publish(stack["AIL_KAFKA_BOOTSTRAP"], [again, again, first.review(), again, first.review()])
    month = first.reviewed_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")

    async with client(stats_url, tenants.keys[a_code]) as a, client(stats_url, tenants.keys[b_code]) as b:

        async def counted() -> Any:
            rows = (await monthly(a, month))["items"]
            return rows if rows and rows[0]["month"]["count"] >= 1 else None

        rows = await eventually(counted, timeout=60, what="the approval counted")
        # A later approval of another application proves the duplicates were processed by then.
        second = s.approvals[1]
        await publish(stack["AIL_KAFKA_BOOTSTRAP"], [again, second.review()])
        await wait_counted(a, 2)
        assert await total_count(a, (2025,)) == 2
        rows = (await monthly(a, month))["items"]
        assert sum(r["month"]["count"] for r in rows if r["commodity_code"] == first.code) >= 1
        # B (no approvals) sees no rows; the agency authorised by A only sees A's.
        assert (await monthly(b, month))["items"] == []
        async with client(stats_url, tenants.agency_key) as ag:
            assert await total_count(ag, (2025,)) == 2
        async with client(stats_url, tenants.agency_key, enterprise=b_code) as ag_b:
            resp = await ag_b.get("/api/v1/stats/monthly", params={"month": month})
            assert resp.status_code == 403, resp.text


async def _fold_counters(url: str) -> dict[str, Any] | None:
    async with httpx.AsyncClient(base_url=url, timeout=5) as c:
        try:
            resp = await c.get("/healthz")
        except httpx.HTTPError:
            return None
        if resp.status_code != 200:
            return None
        counters: dict[str, Any] = resp.json()["fold"]
        return counters


def _async(fn: Any) -> Any:
    async def wrapper() -> Any:
        return fn()

    return wrapper
