"""Wires the statistics service: one process runs the faust worker and the HTTP API."""

from __future__ import annotations

import asyncio
import os
import tempfile
from typing import Any

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from pydantic_settings import SettingsConfigDict

from ail_shared.config import ServiceSettings
from ail_shared.http import Runtime
from ail_stats.adapters.worker import APP_ID, StatsWorker, changelog_topics
from ail_stats.entrypoints.api import router

SCHEMA = "stats"


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "stats"
    http_port: int = 18106
    # faust keeps its (small) working directory here; the tables live in memory + changelogs.
    stats_datadir: str = ""
    # How long the broker waits before it drops a worker that died without leaving the group.
    # Partitions of ail.submission; the changelog topics must have as many (checked on start).
    stats_partitions: int = 6
    stats_session_timeout: float = 6.0  # the broker's group.min.session.timeout.ms is 6 s
    # The stats service writes nothing to PostgreSQL (auth only): no outbox to relay.
    run_outbox_relay: bool = False


def _datadir(settings: Settings) -> str:
    if settings.stats_datadir:
        return settings.stats_datadir
    base = os.environ.get("AIL_DEVSTACK_DIR") or tempfile.gettempdir()
    return os.path.join(base, "run", f"stats-faust-{settings.http_port}")


def bootstrap(settings: Settings | None = None) -> FastAPI:
    from ail_shared.http import create_app

    settings = settings or Settings()
    worker = StatsWorker(
        bootstrap=settings.kafka_bootstrap,
        datadir=_datadir(settings),
        session_timeout=settings.stats_session_timeout,
        partitions=settings.stats_partitions,
    )

    async def start_worker(rt: Runtime) -> None:
        rt.extra["stats_worker"] = worker
        await worker.start()

    async def stop_worker(rt: Runtime) -> None:
        await worker.stop()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Statistics service",
        description="Monthly and year-to-date statistics of approved applications (faust-streaming).",
        routers=[router],
        on_startup=[start_worker],
        on_shutdown=[stop_worker],
    )
    # Readiness: 200 only when the faust worker runs and has recovered its tables.
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != "/healthz"]

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        rt: Runtime = app.state.runtime
        ready = worker.ready()
        database: dict[str, Any] = {"ok": True}
        if rt.pool is not None:
            # Reported, not raised: the statistics do not need PostgreSQL (only requests' auth
            # does), and a 500 here would fail liveness during a database outage.
            try:
                await asyncio.wait_for(rt.pool.fetchval("SELECT 1"), 2.0)
            except Exception as exc:  # noqa: BLE001
                database = {"ok": False, "error": repr(exc)}
        s = worker.stats
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
            "table_keys": len(worker.figures) if ready else None,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    return app
