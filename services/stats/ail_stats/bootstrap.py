"""Wires the statistics service: one process runs the faust app (its agent folds approvals into
the tables) and the HTTP API; dependencies are typed (``deps.Deps``)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from ail_shared import metrics
from ail_shared.http import Runtime, create_app
from ail_stats.adapters.faust_app import APP_ID, StatsApp, changelog_topics
from ail_stats.adapters.peers import StatsPeers
from ail_stats.config import SCHEMA, Settings
from ail_stats.deps import Deps
from ail_stats.entrypoints.api import internal, router
from ail_stats.entrypoints.consumers import fold_agent


def bootstrap(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    stats_app = StatsApp(
        bootstrap=settings.kafka_bootstrap,
        datadir=settings.datadir(),
        session_timeout=settings.stats_session_timeout,
        partitions=settings.stats_partitions,
    )
    peers = None
    if settings.peer_urls():
        peers = StatsPeers(settings.peer_urls(), internal_token=settings.internal_token.get_secret_value())
    deps = Deps(settings=settings, stats_app=stats_app, fold=fold_agent(stats_app), peers=peers)

    async def start_worker(rt: Runtime) -> None:
        await stats_app.start(folded=lambda: deps.fold.stats.counted)
        metrics.add_sampler("stats_fold", sample_fold, timeout=5.0)

    seen: dict[str, int] = {}

    async def sample_fold() -> None:
        """Fold counters (totals of this process) and the faust group's lag (/metrics)."""
        s = deps.fold.stats
        for outcome, total in (
            ("counted", s.counted),
            ("already_folded", s.already_folded),
            ("duplicate", s.duplicates),
            ("ignored", s.ignored),
            ("dead_lettered", s.dead_letters),
        ):
            metrics.STATS_FOLDED.labels(outcome).inc(max(0, total - seen.get(outcome, 0)))
            seen[outcome] = max(total, seen.get(outcome, 0))
        lags = await metrics.group_lags(settings.kafka_bootstrap, [APP_ID])
        metrics.STATS_FOLD_LAG.clear()
        for pl in lags:
            if not pl.topic.startswith(APP_ID):  # the source topic, not faust's own changelogs
                metrics.STATS_FOLD_LAG.labels(pl.topic, str(pl.partition)).set(pl.lag)

    async def stop_worker(rt: Runtime) -> None:
        await stats_app.stop()
        if peers is not None:
            await peers.aclose()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Statistics service",
        description="Monthly and year-to-date statistics of approved applications (faust-streaming).",
        routers=[router, internal],
        on_startup=[start_worker],
        on_shutdown=[stop_worker],
    )
    app.state.deps = deps
    # Readiness: 200 only when the faust worker runs and has recovered its tables.
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/healthz"]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        rt: Runtime = app.state.runtime
        ready = stats_app.ready()
        database: dict[str, Any] = {"ok": True}
        if rt.pool is not None:
            # Reported, not raised: the statistics do not need PostgreSQL (only requests' auth
            # does), and a 500 here would fail liveness during a database outage.
            try:
                await asyncio.wait_for(rt.pool.fetchval("SELECT 1"), 2.0)
            except Exception as exc:  # noqa: BLE001
                database = {"ok": False, "error": repr(exc)}
        s = deps.fold.stats
        body: dict[str, Any] = {
            "status": "ok" if ready else "recovering",
            "service": settings.service_name,
            "database": database,
            "faust_app_id": APP_ID,
            "changelogs": changelog_topics(),
            "fold": {
                "counted": s.counted,
                "already_folded": s.already_folded,
                "duplicates": s.duplicates,
                "ignored": s.ignored,
                "dead_letters": s.dead_letters,
                "last_error": s.last_error,
            },
            "table_keys": len(stats_app.figures) if ready else None,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
