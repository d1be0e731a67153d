"""Wires the customs service: the submission-topic consumer, the delivery worker, the clearance
feed poller and the HTTP API."""

from __future__ import annotations

import asyncio

from fastapi import FastAPI
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from ail_customs.adapters.customs_client import HttpCustomsSystem
from ail_customs.adapters.repository import SCHEMA
from ail_customs.entrypoints.api import router
from ail_customs.service_layer.clearance import FeedPoller
from ail_customs.service_layer.delivery import DeliveryWorker
from ail_customs.service_layer.intake import EVENT_HANDLERS
from ail_shared import topics
from ail_shared.config import ServiceSettings
from ail_shared.consumer import EventConsumer
from ail_shared.http import Runtime, create_app


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AIL_", extra="ignore")
    service_name: str = "customs"
    http_port: int = 18104
    # The Customs system (the sandbox in development): AIL_CUSTOMS_URL.
    customs_url: str = "http://127.0.0.1:18202"
    customs_timeout_seconds: float = Field(default=3.0, gt=0)
    customs_tries: int = Field(default=3, ge=1, le=10)  # per delivery round
    customs_retry_backoff_seconds: float = Field(default=0.2, ge=0)
    delivery_poll_seconds: float = Field(default=0.5, gt=0)
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    # automatic re-send after a failed round: base, 2*base, 4*base ... at most this many rounds
    resend_backoff_seconds: float = Field(default=5.0, gt=0)
    max_auto_resend_rounds: int = Field(default=5, ge=1)
    clearance_poll_seconds: float = Field(default=0.5, gt=0)
    clearance_page_size: int = Field(default=500, ge=1, le=5000)


def consumers(rt: Runtime) -> list[EventConsumer]:
    return [
        EventConsumer(
            name="customs.intake",
            topics=[topics.SUBMISSION],
            handlers=dict(EVENT_HANDLERS),
            pool=rt.db(),
            schema=SCHEMA,
            bootstrap=rt.settings.kafka_bootstrap,
        )
    ]


def bootstrap(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    async def start_workers(rt: Runtime) -> None:
        customs = HttpCustomsSystem(
            settings.customs_url,
            timeout=settings.customs_timeout_seconds,
            tries=settings.customs_tries,
            backoff=settings.customs_retry_backoff_seconds,
        )
        worker = DeliveryWorker(
            rt.db(),
            customs,
            poll_seconds=settings.delivery_poll_seconds,
            lease_seconds=settings.delivery_lease_seconds,
            resend_base_seconds=settings.resend_backoff_seconds,
            max_auto_rounds=settings.max_auto_resend_rounds,
        )
        poller = FeedPoller(
            rt.db(),
            customs,
            poll_seconds=settings.clearance_poll_seconds,
            page_size=settings.clearance_page_size,
        )
        rt.extra.update(customs=customs, delivery=worker, feed=poller)
        rt.tasks.append(asyncio.create_task(worker.run(), name="customs-delivery"))
        rt.tasks.append(asyncio.create_task(poller.run(), name="customs-clearance-feed"))

    async def stop_workers(rt: Runtime) -> None:
        rt.extra["delivery"].stop()
        rt.extra["feed"].stop()
        await rt.extra["customs"].aclose()

    return create_app(
        settings=settings,
        schema=SCHEMA,
        title="Customs service",
        description="Delivers licenses to Customs; customs status, license usage ledger, clearance"
        " data and history.",
        routers=[router],
        consumers=consumers,
        on_startup=[start_workers],
        on_shutdown=[stop_workers],
    )
