"""The stack-level consumer-lag exporter (issue 14, item 1): ``python -m ail_shared.lag``.

A consumer exports its own lag (``ail_consumer_lag``), but a consumer that is down exports
nothing, and that is when its lag matters most. This small process reads every consumer
group's committed offsets from the Kafka admin API and the partitions' last stable offsets,
and exports ``ail_kafka_group_lag{group,topic,partition}`` at ``GET /metrics`` (computed when
scraped; see ``ail_shared.metrics.group_lags``: control records are not counted, so an idle,
caught-up group shows 0, not 1 per partition). ``GET /healthz`` is 200 while the process runs;
its body says whether Kafka answered the last time.

Settings: ``AIL_KAFKA_BOOTSTRAP``, ``AIL_HTTP_HOST``, ``AIL_HTTP_PORT`` (the ``lag`` row of the
local stack's process table; one Deployment in deploy/k8s). No database, no API key: it is not
routed by nginx (see ail_shared.metrics).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ail_shared import metrics
from ail_shared.config import ServiceSettings
from ail_shared.logging import configure_logging, get_logger

log = get_logger("ail.lag")


class LagSettings(ServiceSettings):
    service_name: str = "lag"
    http_port: int = 18107


def build_app(bootstrap: str) -> Starlette:
    state: dict[str, Any] = {"ok": None, "error": None, "at": None}
    lock = asyncio.Lock()

    async def sample() -> None:
        async with lock:  # one Kafka round at a time, however many scrapers
            try:
                lags = await metrics.group_lags(bootstrap)
            except Exception as exc:
                metrics.GROUP_LAG_SCRAPE_ERRORS.inc()
                state.update(ok=False, error=repr(exc), at=time.time())
                raise
            metrics.export_group_lags(lags)
            state.update(ok=True, error=None, at=time.time())

    metrics.add_sampler("kafka_group_lag", sample, timeout=10.0)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok", "service": "lag", "kafka": state})

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/metrics", metrics.metrics_endpoint)],
    )


def main() -> None:
    settings = LagSettings()
    configure_logging(settings.service_name, settings.log_level)
    log.info("lag_exporter_started", port=settings.http_port, kafka=settings.kafka_bootstrap)
    uvicorn.run(
        build_app(settings.kafka_bootstrap),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
    )


if __name__ == "__main__":
    main()
