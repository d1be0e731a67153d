"""Helpers for the statistics tests: fresh tenants with API keys, approval events published to the
real ``ail.submission`` topic, a randomised approval set, and the plain SQL recomputation."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shlex
import signal
import subprocess
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import httpx

from ail_shared import topics
from ail_shared.auth import new_api_key
from ail_shared.events import (
    ApplicationRevoked,
    ApplicationSummary,
    Envelope,
    ReviewResultReceived,
    SubmissionAccepted,
    envelope_for,
)
from ail_shared.kafka import make_producer
from tests.support import REPO, dev, eventually

COMMODITIES = (  # code, name, unit, the catalogue's category in the event ("" -> HS chapter)
    ("1001991000", "其他小麦", "千克", ""),
    ("1201901000", "黄大豆", "千克", "soybeans"),
    ("2601111000", "未烧结铁矿砂", "吨", ""),
    ("4403210000", "针叶木原木", "立方米", ""),
    ("5201000000", "未梳棉花", "千克", ""),
    ("2709000000", "原油", "吨", ""),
)
AGENCIES = ("MOFCOM-BJ", "MOFCOM-SH", "MOFCOM-GD")
TRADE_MODES = ("0110", "1210", "0615")
COUNTRIES = ("601", "410", "502", "501")  # the country table's codes: 3 digits


def random_enterprise_code() -> str:
    return "9" + "".join(secrets.choice("0123456789") for _ in range(12))


@dataclass
class Tenants:
    enterprises: list[str]
    keys: dict[str, str]  # enterprise code -> API key
    agency_code: str
    agency_key: str  # authorised by every enterprise in ``enterprises[:agency_for]``
    authorised: list[str]


async def make_tenants(db: asyncpg.Pool, n: int, agency_for: int | None = None) -> Tenants:
    """``n`` fresh enterprises with a key each, and a fresh agency authorised by the first
    ``agency_for`` of them (all by default)."""
    codes = [random_enterprise_code() for _ in range(n)]
    agency = f"AG-{uuid.uuid4().hex[:10]}"
    authorised = codes[: n if agency_for is None else agency_for]
    keys: dict[str, str] = {}
    async with db.acquire() as conn, conn.transaction():
        for code in codes:
            await conn.execute(
                "INSERT INTO iam.enterprises (code, name) VALUES ($1, $2)", code, f"统计测试企业 {code}"
            )
            keys[code] = await _issue(conn, "enterprise", enterprise=code)
        await conn.execute("INSERT INTO iam.agencies (code, name) VALUES ($1, $2)", agency, "统计测试代理")
        for code in authorised:
            await conn.execute(
                "INSERT INTO iam.agency_authorizations (agency_code, enterprise_code) VALUES ($1, $2)",
                agency,
                code,
            )
        agency_key = await _issue(conn, "agency", agency=agency)
    return Tenants(codes, keys, agency, agency_key, authorised)


async def _issue(
    conn: asyncpg.Connection, kind: str, *, enterprise: str | None = None, agency: str | None = None
) -> str:
    raw, key_id, digest = new_api_key()
    await conn.execute(
        "INSERT INTO iam.api_keys (key_id, secret_sha256, principal_kind, enterprise_code, agency_code,"
        " label) VALUES ($1, $2, $3, $4, $5, 'stats-test')",
        key_id,
        digest,
        kind,
        enterprise,
        agency,
    )
    return raw


# ------------------------------------------------------------------------------------ events


@dataclass(frozen=True)
class Approval:
    application_id: str
    enterprise: str
    reviewed_at: datetime
    agency: str
    trade_mode: str
    country: str
    code: str
    name: str
    unit: str
    category: str
    quantity: Decimal
    amount: Decimal
    grouping: str = ""  # the catalogue's 商品统计方式, as the application service now carries it

    def summary(self) -> ApplicationSummary:
        return ApplicationSummary(
            enterprise_code=self.enterprise,
            serial_no=f"S{self.application_id[:12]}",
            year=self.reviewed_at.year,
            commodity_code=self.code,
            commodity_name=self.name,
            unit=self.unit,
            total_quantity=self.quantity,
            total_value_usd=self.amount,
            trade_mode=self.trade_mode,
            trade_country=self.country,
            issuing_agency=self.agency,
            commodity_category=self.category,
            commodity_grouping=self.grouping,
        )

    def review(
        self, *, stage: str = "second", result: str = "passed", at: datetime | None = None
    ) -> Envelope:
        ev = ReviewResultReceived(
            application_id=self.application_id,
            form_no=f"F{self.application_id[:10]}",
            stage=stage,  # type: ignore[arg-type]
            result=result,  # type: ignore[arg-type]
            license_no=None,
            reviewed_at=at or self.reviewed_at,
            application=self.summary(),
        )
        return envelope_for(ev, aggregate_id=self.application_id, tenant=self.enterprise)

    def expected_category(self) -> str:
        return self.category or f"HS{self.code[:2]}"


def random_approval(rng: random.Random, enterprises: list[str], years: tuple[int, ...]) -> Approval:
    year = rng.choice(years)
    month = rng.randint(1, 12)
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    roll = rng.random()
    if roll < 0.15:  # the last 8 hours of a UTC month: already next month in China
        at = end - timedelta(seconds=rng.randint(1, 8 * 3600))
    elif roll < 0.25:  # the first 8 hours of a UTC month: still this month in China
        at = start + timedelta(seconds=rng.randint(0, 8 * 3600 - 1))
    else:
        at = start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds()) - 1))
    code, name, unit, category = rng.choice(COMMODITIES)
    return Approval(
        application_id=str(uuid.uuid4()),
        enterprise=rng.choice(enterprises),
        reviewed_at=at,
        agency=rng.choice(AGENCIES),
        trade_mode=rng.choice(TRADE_MODES),
        country=rng.choice(COUNTRIES),
        code=code,
        name=name,
        unit=unit,
        category=category,
        quantity=Decimal(rng.randint(1, 5_000_000)) / 1000,
        amount=Decimal(rng.randint(100, 900_000_000)) / 100,
    )


@dataclass
class ApprovalSet:
    approvals: list[Approval]  # what must be counted (first approval of each application)
    messages: list[Envelope | bytes] = field(default_factory=list)  # what is published, in order
    noise_ids: list[str] = field(default_factory=list)  # rejected / revoked / first-stage only


def build_set(rng: random.Random, enterprises: list[str], n: int, years: tuple[int, ...]) -> ApprovalSet:
    """``n`` approvals, plus duplicates (same event again; another event id, even another month),
    first-review passes, second-review rejections, revocations and malformed messages."""
    approvals = [random_approval(rng, enterprises, years) for _ in range(n)]
    out = ApprovalSet(approvals)
    for a in approvals:
        if rng.random() < 0.1:
            out.messages.append(a.review(stage="first"))
        env = a.review()
        out.messages.append(env)
        r = rng.random()
        if r < 0.05:
            out.messages.append(env)  # the same event redelivered
        elif r < 0.08:  # another approval event for the same application, 40 days later
            out.messages.append(a.review(at=a.reviewed_at + timedelta(days=40)))
    for _ in range(max(n // 20, 3)):
        rejected = random_approval(rng, enterprises, years)
        out.noise_ids.append(rejected.application_id)
        out.messages.append(rejected.review(stage="first"))
        out.messages.append(rejected.review(result="rejected"))
        revoked = random_approval(rng, enterprises, years)
        out.noise_ids.append(revoked.application_id)
        accepted = SubmissionAccepted(
            application_id=revoked.application_id,
            submission_id="1",
            form_no="F1",
            applied_at=revoked.reviewed_at,
        )
        out.messages.append(
            envelope_for(accepted, aggregate_id=revoked.application_id, tenant=revoked.enterprise)
        )
        gone = ApplicationRevoked(application_id=revoked.application_id, revoked_at=revoked.reviewed_at)
        out.messages.append(
            envelope_for(gone, aggregate_id=revoked.application_id, tenant=revoked.enterprise)
        )
    rng.shuffle(out.messages)  # interleave applications (each application's own order kept below)
    return _keep_application_order(out)


def _keep_application_order(s: ApprovalSet) -> ApprovalSet:
    """After the shuffle, put each application's messages back in their original relative order
    (stable per key), so the first approval published is the one that must count."""
    # The shuffle only permuted positions; re-sorting each application's messages by their
    # original order needs that order, so rebuild deterministically instead.
    by_app: dict[str, list[Envelope | bytes]] = {}
    order: list[str] = []
    for m in s.messages:
        key = m.aggregate_id if isinstance(m, Envelope) else ""
        by_app.setdefault(key, []).append(m)
        order.append(key)
    for msgs in by_app.values():
        msgs.sort(key=_rank)
    cursor = dict.fromkeys(by_app, 0)
    out: list[Envelope | bytes] = []
    for key in order:
        out.append(by_app[key][cursor[key]])
        cursor[key] += 1
    s.messages = out
    return s


def _rank(m: Envelope | bytes) -> tuple[int, datetime]:
    """Per application: first-stage review, then the approval, then later duplicates."""
    if not isinstance(m, Envelope):
        return (0, datetime.min.replace(tzinfo=UTC))
    stage = 0 if m.payload.get("stage") == "first" else 1
    at = m.payload.get("reviewed_at") or m.payload.get("applied_at") or m.payload.get("revoked_at")
    return (stage, datetime.fromisoformat(str(at).replace("Z", "+00:00")))


async def publish(
    bootstrap: str, messages: list[Envelope | bytes], *, topic: str = topics.SUBMISSION
) -> None:
    """Publish in order with an idempotent producer; key = application id."""
    producer = make_producer(bootstrap)
    await producer.start()
    try:
        futures = []
        for m in messages:
            if isinstance(m, Envelope):
                futures.append(await producer.send(topic, value=m.to_bytes(), key=m.aggregate_id.encode()))
            else:
                futures.append(await producer.send(topic, value=m, key=f"bad-{uuid.uuid4()}".encode()))
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


# ------------------------------------------------------------------------------- SQL side

SCRATCH_COLUMNS = (
    "application_id",
    "enterprise",
    "reviewed_at",
    "agency",
    "trade_mode",
    "country",
    "code",
    "name",
    "unit",
    "category",
    "quantity",
    "amount",
)


async def load_scratch(conn: asyncpg.Connection, approvals: list[Approval]) -> str:
    table = f"stats_scratch_{uuid.uuid4().hex[:10]}"
    await conn.execute(
        f"CREATE TEMP TABLE {table} (application_id text PRIMARY KEY, enterprise text, reviewed_at"
        " timestamptz, agency text, trade_mode text, country text, code text, name text, unit text,"
        " category text, quantity numeric, amount numeric)"
    )
    await conn.copy_records_to_table(
        table,
        columns=SCRATCH_COLUMNS,
        records=[
            (
                a.application_id,
                a.enterprise,
                a.reviewed_at,
                a.agency,
                a.trade_mode,
                a.country,
                a.code,
                a.name,
                a.unit,
                a.expected_category(),
                a.quantity,
                a.amount,
            )
            for a in approvals
        ],
    )
    return table


async def sql_rows(
    conn: asyncpg.Connection, table: str, enterprises: list[str], month: str, **filters: str
) -> list[dict[str, Any]]:
    """The monthly statistics recomputed with a plain GROUP BY (China-local month)."""
    where = ["enterprise = ANY($1)", "m BETWEEN $2 AND $3"]
    args: list[Any] = [enterprises, f"{month[:4]}-01", month]
    for col, param in (
        ("agency", "issuing_agency"),
        ("trade_mode", "trade_mode"),
        ("country", "trade_country"),
        ("category", "commodity_category"),
    ):
        if filters.get(param):
            args.append(filters[param])
            where.append(f"{col} = ${len(args)}")
    rows = await conn.fetch(
        f"""SELECT code, unit, min(name) AS name,
               coalesce(sum(quantity) FILTER (WHERE m = $3), 0) AS m_q,
               coalesce(sum(amount) FILTER (WHERE m = $3), 0) AS m_a,
               count(*) FILTER (WHERE m = $3) AS m_n,
               sum(quantity) AS y_q, sum(amount) AS y_a, count(*) AS y_n
            FROM (SELECT *, to_char(reviewed_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM') AS m
                  FROM {table}) x
            WHERE {" AND ".join(where)}
            GROUP BY code, unit ORDER BY code, unit""",
        *args,
    )
    return [
        {
            "commodity_code": r["code"],
            "commodity_name": r["name"],
            "unit": r["unit"],
            "month": (Decimal(r["m_q"]), Decimal(r["m_a"]), r["m_n"]),
            "year_to_date": (Decimal(r["y_q"]), Decimal(r["y_a"]), r["y_n"]),
        }
        for r in rows
    ]


def api_rows(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "commodity_code": r["commodity_code"],
            "commodity_name": r["commodity_name"],
            "unit": r["unit"],
            "month": (
                Decimal(r["month"]["quantity"]),
                Decimal(r["month"]["amount_usd"]),
                r["month"]["count"],
            ),
            "year_to_date": (
                Decimal(r["year_to_date"]["quantity"]),
                Decimal(r["year_to_date"]["amount_usd"]),
                r["year_to_date"]["count"],
            ),
        }
        for r in body["items"]
    ]


async def monthly(client: httpx.AsyncClient, month: str, **filters: str) -> dict[str, Any]:
    resp = await client.get("/api/v1/stats/monthly", params={"month": month, **filters})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


async def total_count(client: httpx.AsyncClient, years: tuple[int, ...]) -> int:
    """Applications counted for the client's enterprises over whole years (December YTD)."""
    n = 0
    for y in years:
        resp = await client.get("/api/v1/stats/monthly", params={"month": f"{y}-12"})
        if resp.status_code != 200:  # 503 while the worker recovers
            return -1
        n += sum(r["year_to_date"]["count"] for r in resp.json()["items"])
    return n


# ------------------------------------------------------------------------- the stats process


def stats_pidfile(env: dict[str, str]) -> str:
    return os.path.join(env["AIL_DEVSTACK_DIR"], "run", "stats.pid")


def stats_pid(env: dict[str, str]) -> int:
    with open(stats_pidfile(env)) as f:
        return int(f.read().split()[0])


async def restart_stats(
    env: dict[str, str], failpoints: str = "", timeout: float = 300.0, extra_env: dict[str, str] | None = None
) -> None:
    """Restart the stack's stats process the way ``./dev`` starts it (scripts/devstack/
    supervisor.py ``Watch.launch``: same command, environment, log file and pid file), without the rest
    of ``./dev up``; then wait until /healthz answers 200 (the worker has recovered)."""
    pidfile = stats_pidfile(env)
    # The stack's supervisor would start a stats of its own next to this one: it leaves stats
    # alone from here on (until ./dev start stats or ./dev up).
    dev("hold", "stats")
    with contextlib.suppress(FileNotFoundError, ValueError):
        old = stats_pid(env)
        if pid_alive(old):
            os.kill(old, signal.SIGTERM)
            await eventually(_not_alive(old), timeout=30, what=f"stats pid {old} stopping")
    devstack = env["AIL_DEVSTACK_DIR"]
    proc_env = {
        **os.environ,
        **env,
        "PYTHONUNBUFFERED": "1",
        "AIL_HTTP_PORT": env["AIL_STATS_URL"].rsplit(":", 1)[1],
        "AIL_SERVICE_NAME": "stats",
        "AIL_FAILPOINTS": failpoints,
        **(extra_env or {}),
    }
    log = os.path.join(devstack, "logs", "stats.log")
    with open(log, "ab") as f:
        f.write(f"\n===== test restarts stats (failpoints {failpoints!r})\n".encode())
    python = shlex.quote(str(REPO / ".venv" / "bin" / "python"))
    # Started through a shell in the background, so the service is not a child of pytest
    # (./dev detaches it the same way: own session, output appended to its log).
    cp = subprocess.run(
        ["sh", "-c", f"{python} -m ail_stats >> {shlex.quote(log)} 2>&1 < /dev/null & echo $!"],
        env=proc_env,
        cwd=REPO,
        capture_output=True,
        text=True,
        start_new_session=True,
        check=True,
    )
    pid = int(cp.stdout.strip())
    with open(pidfile, "w") as f:
        f.write(f"{pid}\n")

    async def healthy() -> bool:
        assert pid_alive(pid), f"stats (pid {pid}) exited while starting: see {log}"
        async with httpx.AsyncClient(base_url=env["AIL_STATS_URL"], timeout=5) as c:
            try:
                return (await c.get("/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

    await eventually(healthy, timeout=timeout, interval=0.5, what="stats recovered (/healthz 200)")


def _not_alive(pid: int) -> Any:
    async def check() -> bool:
        return not pid_alive(pid)

    return check


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return False
