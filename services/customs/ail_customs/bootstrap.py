"""Wires the customs service: typed dependencies (``deps.Deps``), the submission-topic consumer,
the delivery worker, the clearance-feed worker and the HTTP API."""

from __future__ import annotations

from fastapi import FastAPI

from ail_customs.adapters.customs_client import CustomsSystem, HttpCustomsSystem
from ail_customs.adapters.repository import SCHEMA
from ail_customs.config import Settings
from ail_customs.deps import Deps
from ail_customs.domain.delivery import ResendPolicy
from ail_customs.entrypoints.api import router
from ail_customs.entrypoints.consumers import consumers
from ail_customs.entrypoints.fast_availability import AvailabilityFastPath
from ail_customs.entrypoints.ops_api import router as ops_router
from ail_customs.service_layer.workers import (
    Delivery,
    ExpirySweep,
    FeedReader,
    delivery_worker,
    expiry_worker,
    feed_worker,
)
from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime, create_app, wrap_outermost


def bootstrap(settings: Settings | None = None, *, customs: CustomsSystem | None = None) -> FastAPI:
    """The customs service's app; ``customs``: another Customs adapter (tests)."""
    settings = settings or Settings()
    customs = customs or HttpCustomsSystem(
        settings.customs_url,
        timeout=settings.customs_timeout_seconds,
        tries=settings.customs_tries,
        backoff=settings.customs_retry_backoff_seconds,
    )

    def wire(rt: Runtime) -> list[EventConsumer]:
        return consumers(deps)

    async def start_workers(rt: Runtime) -> None:
        deps.delivery.start()
        deps.feed.start()
        deps.expiry.start()

    async def stop_workers(rt: Runtime) -> None:
        await deps.delivery.aclose()
        await deps.feed.aclose()
        await deps.expiry.aclose()
        await deps.customs.aclose()

    app = create_app(
        settings=settings,
        schema=SCHEMA,
        title="Customs service",
        description="Delivers licenses to Customs; customs status, license usage ledger, clearance"
        " data and history.",
        routers=[router, ops_router],
        consumers=wire,
        on_startup=[start_workers],
        on_shutdown=[stop_workers],
    )
    runtime: Runtime = app.state.runtime
    delivery = Delivery(
        lambda: deps.uow(),
        customs,
        lease_seconds=settings.delivery_lease_seconds,
        cancellation_lease_seconds=settings.cancellation_lease_seconds,
        policy=ResendPolicy(settings.resend_backoff_seconds, settings.max_auto_resend_rounds),
    )
    feed = FeedReader(lambda: deps.uow(), customs, page_size=settings.clearance_page_size)
    deps = Deps(
        settings=settings,
        runtime=runtime,
        customs=customs,
        delivery=delivery_worker(delivery, poll_seconds=settings.delivery_poll_seconds),
        feed=feed_worker(feed, poll_seconds=settings.clearance_poll_seconds),
        expiry=expiry_worker(ExpirySweep(lambda: deps.uow()), poll_seconds=settings.expiry_poll_seconds),
    )
    app.state.deps = deps
    if settings.fast_availability:
        wrap_outermost(app, AvailabilityFastPath)
    return app
